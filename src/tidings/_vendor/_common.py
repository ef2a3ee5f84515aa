"""What every vendor body shares: the refusal, its messages, the idempotency key, ``when``.

A body that breaks a rule becomes a :class:`Refusal` carrying the vendor's documented
message (the workspace answers ``{"status": "fail", ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import DataError
from ..models.data import DataLimits, check_data
from ..models.instants import check_instant

__all__ = ["MALFORMED", "Refusal", "body_problem", "incorrect", "parse_when", "request_key"]

MALFORMED = "Malformed body: expected a JSON object"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the vendor's API would refuse, with its documented message."""

    error: str


def _describe(value: object) -> str:
    return "null" if value is None else str(value)


def incorrect(name: str, value: object) -> Refusal:
    """The vendor's refusal of a field: ``"<name>" has an incorrect value - <value>``."""
    return Refusal(f'"{name}" has an incorrect value - {_describe(value)}')


def request_key(body: object, *, strict: bool) -> str | Refusal | None:
    """The body's ``idempotency_key``: a non-empty string, or None when absent.

    ``strict`` (External Trigger) refuses a key of the wrong type; the Bulletins
    API ignores it.
    """
    key = body.get("idempotency_key") if isinstance(body, Mapping) else None
    if isinstance(key, str) and key:
        return key
    if strict and key is not None:
        return Refusal('"idempotency_key" has an incorrect value - must be a string')
    return None


def parse_when(value: object, now: datetime) -> datetime | None:
    """``"now"``, epoch seconds or an ISO 8601 instant (UTC when naive); None when invalid."""
    if value == "now":
        return now
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return check_instant(datetime.fromtimestamp(float(value), UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            # Too close to the ends of the calendar to compute a send time with.
            return check_instant(
                parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            )
        except ValueError:
            return None
    return None


_BODY_LIMITS = DataLimits(max_items=5_000_000)
"""Request bodies: the default bounds, but room for a million recipients per call."""


def body_problem(body: object) -> DataError | None:
    """Why a body is not plain, bounded JSON-like data (None when it is, or not a mapping).

    Runs before anything reads the body, so a cycle, a lone surrogate or a
    5,000-digit integer never reaches ``json.dumps`` or the encoder. A body that
    is not a mapping is left to each entry point ("Malformed body").
    """
    if not isinstance(body, Mapping):
        return None
    try:
        check_data(body, "", _BODY_LIMITS)
    except DataError as exc:
        return exc
    return None
