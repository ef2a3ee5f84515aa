"""The one checker for untrusted JSON-like data: trigger data, properties, bodies.

Every entry point that takes data from outside (``ExternalTrigger`` objects,
profile and event properties, business event properties) calls
:func:`check_data` before the data goes anywhere else, so one set of rules
holds everywhere and a hostile value is refused with a :class:`DataError`
naming the path of the offending value, instead of surfacing later as a
``RecursionError`` in ``json.dumps``, a ``UnicodeEncodeError`` when the payload is
encoded, or a ``ValueError`` when a 5,000-digit integer is printed.

The walk is iterative (no recursion, so depth itself cannot crash it) and stops
at the first problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..errors import DataError

__all__ = ["DEFAULT_DATA_LIMITS", "DataLimits", "check_data", "check_text"]


@dataclass(frozen=True, slots=True)
class DataLimits:
    """Bounds on untrusted JSON-like data.

    Attributes:
        max_depth: Deepest nesting of objects and arrays (the top object is depth 1).
        max_items: Most values in all (every object member and array element).
        max_string_length: Longest string or key, in characters.
        max_int_bits: Largest integer magnitude, in bits (256 bits is about 77 digits).
        allow_non_finite: Whether NaN and infinity pass (filter operands may be NaN,
            which compares false with everything; data that is sent never may).
    """

    max_depth: int = 64
    max_items: int = 100_000
    max_string_length: int = 1_000_000
    max_int_bits: int = 256
    allow_non_finite: bool = False


DEFAULT_DATA_LIMITS: Final = DataLimits()

_SCALARS: Final = (str, bool, int, float, type(None))


def _describe_path(parts: tuple[str | int, ...], root: str) -> str:
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


def check_text(value: str, field: str) -> None:
    r"""Refuse a string holding a lone surrogate (it cannot be encoded as UTF-8).

    Raises:
        DataError: ``value`` holds a lone surrogate (``"\ud800"``); ``field`` names it.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"holds a lone surrogate (U+{ord(value[exc.start]):04X}) at character {exc.start}, "
            "which is not valid Unicode text",
            field=field,
            rule="surrogate",
        ) from None


def _check_scalar(value: Any, where: str, limits: DataLimits) -> None:
    if isinstance(value, str):
        if len(value) > limits.max_string_length:
            raise DataError(
                f"a string of {len(value)} characters is longer than the limit of "
                f"{limits.max_string_length}",
                field=where,
                rule="string_size",
            )
        if not value.isascii():
            check_text(value, where)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if value.bit_length() > limits.max_int_bits:
            raise DataError(
                f"an integer of {value.bit_length()} bits is larger than the limit of "
                f"{limits.max_int_bits} bits",
                field=where,
                rule="int_size",
            )
    elif isinstance(value, float) and not limits.allow_non_finite and not math.isfinite(value):
        raise DataError(
            f"{value} is not a number JSON can hold (NaN and infinity are not)",
            field=where,
            rule="non_finite",
        )


def check_data(value: Any, field: str = "", limits: DataLimits = DEFAULT_DATA_LIMITS) -> None:
    """Check that ``value`` is plain, bounded JSON-like data; raise on the first problem.

    Allowed: ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` or
    ``tuple`` of allowed values, and mappings with ``str`` keys. A mapping or list
    may appear twice (shared), but never inside itself.

    Args:
        value: The data (usually a mapping: trigger data or properties).
        field: The name of ``value`` in messages (``ExternalTrigger``, ``properties``).
        limits: The bounds to apply.

    Raises:
        DataError: The data breaks a rule; ``field`` is the path of the offending
            value (``ExternalTrigger.items[3].name``) and ``rule`` says which.
    """
    # The stack holds (value, path, depth) to visit and ("exit", id) markers that
    # take a container off the current path, which is how cycles are told from sharing.
    stack: list[tuple[Any, tuple[str | int, ...], int] | int] = [(value, (), 0)]
    on_path: set[int] = set()
    items = 0
    while stack:
        entry = stack.pop()
        if isinstance(entry, int):
            on_path.discard(entry)
            continue
        current, path, depth = entry
        if isinstance(current, _SCALARS):
            if not isinstance(current, bool | type(None)):
                _check_scalar(current, _describe_path(path, field), limits)
            continue
        is_mapping = isinstance(current, Mapping)
        if not is_mapping and not isinstance(current, list | tuple):
            raise DataError(
                f"a value of type {type(current).__name__} is not JSON-like data "
                "(use objects, arrays, strings, numbers, booleans and null)",
                field=_describe_path(path, field) or None,
                rule="type",
            )
        marker = id(current)
        if marker in on_path:
            raise DataError(
                "holds a circular reference (a value that contains itself)",
                field=_describe_path(path, field) or None,
                rule="cycle",
            )
        if depth + 1 > limits.max_depth:
            raise DataError(
                f"is nested deeper than the limit of {limits.max_depth} levels",
                field=_describe_path(path, field) or None,
                rule="depth",
            )
        items += len(current)
        if items > limits.max_items:
            raise DataError(
                f"holds more than the limit of {limits.max_items} values",
                field=field or None,
                rule="size",
            )
        on_path.add(marker)
        stack.append(marker)
        if is_mapping:
            for key, member in current.items():
                if not isinstance(key, str):
                    raise DataError(
                        f"has a key of type {type(key).__name__}; keys must be strings",
                        field=_describe_path(path, field) or None,
                        rule="key_type",
                    )
                _check_scalar(key, _describe_path(path, field) or field, limits)
                stack.append((member, (*path, key), depth + 1))
        else:
            for index, member in enumerate(current):
                stack.append((member, (*path, index), depth + 1))
