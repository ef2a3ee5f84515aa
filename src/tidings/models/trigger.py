"""ExternalTrigger data: the one measure of its size.

Shared data (one object for every recipient) and per-recipient data meet the
same limit, measured the same way: the UTF-8 bytes of its compact JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["trigger_size"]


def trigger_size(data: Mapping[str, Any]) -> int:
    """Bytes of ``data`` as compact JSON (``,`` and ``:`` separators, UTF-8, no escapes).

    Values JSON has no type for (a ``datetime`` handed in from Python) count as
    their ``str()``.
    """
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode())
