"""The business activity log: dispatched bulletins, filtered by business event and time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["activity_log", "parse_time"]


def _bound(value: datetime | date | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = datetime.combine(value, time.min, tzinfo=UTC)
    # A date as an upper bound means "until the end of that day".
    return moment + timedelta(days=1) if end else moment


def activity_log(
    ws: Workspace,
    *,
    business_event: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> list[dict[str, Any]]:
    """Dispatched bulletins, newest first, optionally of one business event and time range.

    Each entry has ``business_event``, ``bulletin_id``, ``bulletin``, ``name`` (the
    raised event's name), ``event_time``, ``dispatched_at``, ``sent``, ``qualified``
    and ``creator``. ``since`` and ``until`` bound the event time: ``since``
    inclusive, ``until`` exclusive for a datetime and inclusive of the whole day
    for a date. Naive datetimes are taken as UTC.
    """
    start, stop = _bound(since, end=False), _bound(until, end=True)
    rows = []
    for entry in ws.registry.activity():
        if business_event is not None and entry.get("business_event") != business_event:
            continue
        if start is not None or stop is not None:
            moment = parse_time(entry.get("event_time"))
            if moment is None:
                continue
            if (start is not None and moment < start) or (stop is not None and moment >= stop):
                continue
        rows.append(dict(entry))
    return rows


def parse_time(value: object) -> datetime | None:
    """An ISO time from a stored row or log entry (naive taken as UTC); None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
