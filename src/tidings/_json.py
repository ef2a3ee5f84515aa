"""Compact JSON on the hot path: orjson, with the exact bytes of the standard library.

Every JSON text tidings writes where the bytes are part of the contract (delivery
lines, push payloads measured against their limit, webhook bodies) is what
``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` gives. orjson
writes the same text for strings, integers, booleans, ``null``, lists and dicts
with string keys (tested character by character), several times faster; it
differs for floats (``1e-7`` against Python's ``1e-07``; ``NaN`` and infinities
become ``null``) and refuses integers beyond 64 bits and keys that are not
strings. :func:`dumps` therefore hands a value holding a float, or one orjson
refuses, to the standard library.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

__all__ = ["dumps", "dumps_floatless", "has_float", "loads"]

_stdlib_dumps: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_PLAIN: Final = (str, int, bool, type(None))


def has_float(value: Any) -> bool:
    """Whether ``value`` (a JSON-ready value) holds a float anywhere."""
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return isinstance(value, float)
    for item in items:
        if type(item) in _PLAIN:  # the usual case, decided without a call
            continue
        if has_float(item):
            return True
    return False


def dumps_floatless(value: Any) -> str:
    """Compact JSON of a value the caller knows holds no float (strings, ints, None...).

    The same text as :func:`dumps`, without looking for floats first.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an int over 64 bits, a non-string key, a lone surrogate...
        return _stdlib_dumps(value)


def dumps(value: Any) -> str:
    """Compact JSON text of ``value``, byte for byte what the standard library writes."""
    if has_float(value):
        return _stdlib_dumps(value)
    return dumps_floatless(value)


# orjson reads an integer beyond 64 bits as a float (silently): a decoded value
# holding a float whose text has a run of 19 digits or more (maybe such an
# integer) is decoded again by the standard library.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19}")


def loads(text: str) -> Any:
    """Decode JSON text to what :func:`json.loads` gives (orjson first, the stdlib for the rest).

    orjson refuses a few inputs ``json.loads`` takes (lone surrogate escapes,
    ``NaN``) and reads integers over 64 bits as floats: those, and malformed
    text, go to ``json.loads``, which decodes or reports them as it always did.
    The text is searched for long runs of digits only when orjson's value holds
    a float (most profiles hold none, and the search costs more than the look).
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    if has_float(value) and _LONG_DIGITS.search(text) is not None:
        return json.loads(text)
    return value
