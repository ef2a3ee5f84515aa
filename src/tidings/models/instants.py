"""Instants from outside (event timestamps, schedules): usable in every time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = ["check_instant"]

_MARGIN: Final = timedelta(days=3)
"""Room for the widest UTC offsets and a few days of DND or local-time delay."""


def check_instant(value: datetime) -> datetime:
    """Return ``value`` when it is far enough from ``datetime.min``/``max`` to compute with.

    A timestamp in year 9999 at ``-12:00`` cannot even be converted to UTC; one
    at year 1 cannot be moved back by a time zone. Both would raise
    ``OverflowError`` later, while dispatching.

    Raises:
        ValueError: ``value`` is too close to the ends of the calendar.
    """
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{value.isoformat()} is outside the supported range of dates") from exc
    low = datetime.min.replace(tzinfo=UTC) + _MARGIN
    high = datetime.max.replace(tzinfo=UTC) - _MARGIN
    if not low <= utc <= high:
        raise ValueError(f"{value.isoformat()} is outside the supported range of dates")
    return value
