"""Rows of the SQLite store: time as epoch microseconds, and profiles built from rows fast.

The store reads its own compact JSON back; these helpers skip what pydantic and
``json.loads`` would redo for data this store wrote and validated itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..models.users import UserProfile

__all__ = [
    "LIGHT_PROFILE_COLUMNS",
    "PROFILE_COLUMNS",
    "decode",
    "from_micros",
    "light_profile_from_row",
    "micros",
    "profile_from_row",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone, p.properties"
LIGHT_PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone"
"""The profile columns without ``properties`` (``iter_audience(..., properties=False)``)."""


def micros(moment: datetime) -> int:
    """UTC epoch microseconds of an aware datetime (exact, unlike float seconds)."""
    return (moment - _EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


# The C scanner behind json.loads, called directly: the stored JSON is our own
# compact output (no surrounding whitespace), so json.loads' argument handling and
# its two whitespace regex matches per call are pure overhead on the hot path.
# (``scan_once`` is set in JSONDecoder.__init__; the stubs do not declare it.)
_scan: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

_PROFILE_FIELDS: Final = frozenset(UserProfile.model_fields)
_new_profile: Final = UserProfile.__new__
_set: Final = object.__setattr__


def decode(text: str) -> Any:
    """Decode a JSON document this store wrote (compact, one value)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # not our own output: let json report (or accept) it
    return value if end == len(text) else json.loads(text)


def _tokens(text: str) -> tuple[str, ...]:
    """Decode the stored push-token array; one plain token (the usual case) without JSON."""
    if text == "[]":
        return ()
    inner = text[2:-2]
    if text.startswith('["') and text.endswith('"]') and '"' not in inner and "\\" not in inner:
        return (inner,)
    return tuple(decode(text))


def _built(
    identity: str,
    name: str | None,
    email: str | None,
    tokens: str,
    timezone: str | None,
    properties: dict[str, Any],
) -> UserProfile:
    """The profile ``UserProfile.model_construct`` would build (every field set), made directly.

    pydantic's generic ``model_construct`` walks aliases and defaults field by field,
    which costs more than the rest of the row.
    """
    profile = _new_profile(UserProfile)
    _set(
        profile,
        "__dict__",
        {
            "identity": identity,
            "name": name,
            "email": email,
            "push_tokens": _tokens(tokens),
            "timezone": timezone,
            "properties": properties,
        },
    )
    _set(profile, "__pydantic_fields_set__", set(_PROFILE_FIELDS))
    _set(profile, "__pydantic_extra__", None)
    _set(profile, "__pydantic_private__", None)
    return profile


def profile_from_row(row: tuple[Any, ...]) -> UserProfile:
    """Build a profile from a trusted row of :data:`PROFILE_COLUMNS` without re-validating it."""
    identity, name, email, tokens, timezone, properties = row
    return _built(identity, name, email, tokens, timezone, decode(properties))


def light_profile_from_row(row: tuple[Any, ...]) -> UserProfile:
    """Like :func:`profile_from_row` for a row of :data:`LIGHT_PROFILE_COLUMNS` (no properties)."""
    identity, name, email, tokens, timezone = row
    return _built(identity, name, email, tokens, timezone, {})
