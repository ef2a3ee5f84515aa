"""Control groups: deterministic hold-outs for measuring uplift.

Membership is a pure function of (scope, identity): the same user is always in
or out for a campaign (scope ``campaign:<id>``) or a custom group (scope
``group:<name>``), on every run, in every process. The hash is SHA-256 so the
share converges to the percentage for any identity scheme.
"""

from __future__ import annotations

import hashlib

__all__ = ["hash_fraction", "in_control_group"]

_SCALE = float(1 << 64)


def hash_fraction(scope: str, identity: str) -> float:
    """A uniform number in [0, 1) fixed by ``scope`` and ``identity``."""
    digest = hashlib.sha256(f"{scope}\x00{identity}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_control_group(scope: str, identity: str, percent: float) -> bool:
    """Whether ``identity`` is held out of ``scope`` at ``percent`` (0 to 100)."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return hash_fraction(scope, identity) < percent / 100.0
