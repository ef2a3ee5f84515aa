"""Delivery rules that depend on time: DND windows, local send times, cut-offs, TTL.

All functions are pure: they take the decision time and the user's time zone and
return when to send (or why not). Local wall-clock times are resolved with
``zoneinfo``; daylight-saving transitions have one defined behaviour each:

* a local time that does not exist (the hour skipped when clocks go forward) is
  moved forward by the length of the gap: 02:30 on a spring-forward night where
  02:00 jumps to 03:00 becomes 03:30;
* a local time that exists twice (the hour repeated when clocks go back) means
  its first occurrence (``fold=0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from ..models.preferences import DeliveryPreferences, DoNotDisturb, FrequencyCap

__all__ = [
    "DeliveryPreferences",
    "DoNotDisturb",
    "FrequencyCap",
    "Timing",
    "decide_timing",
    "local_datetime",
    "next_local_time",
    "period_keys",
    "zone",
]


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (cached)."""
    return ZoneInfo(name)


def local_datetime(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant of wall-clock ``wall`` on ``day`` in ``tz``, with the DST rules above."""
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    first = naive.replace(tzinfo=tz, fold=0)
    # zoneinfo reads a skipped wall time with the offset in force before the jump,
    # so the round trip through UTC lands the length of the gap past it: 02:30 -> 03:30.
    # A repeated wall time with fold=0 is its first occurrence.
    return first.astimezone(UTC).astimezone(tz)


def next_local_time(after: datetime, wall: time, tz: ZoneInfo) -> datetime:
    """The first instant at or after ``after`` whose local time in ``tz`` is ``wall``."""
    local_day = after.astimezone(tz).date()
    for offset in range(3):
        candidate = local_datetime(local_day + timedelta(days=offset), wall, tz)
        if candidate >= after:
            return candidate
    raise AssertionError("unreachable: a wall time recurs within three days")  # pragma: no cover


def _dnd_end(instant: datetime, dnd: DoNotDisturb, tz: ZoneInfo) -> datetime:
    """When the DND window containing ``instant`` ends."""
    local = instant.astimezone(tz)
    day = local.date()
    if dnd.start > dnd.end and local.time() >= dnd.start:
        day += timedelta(days=1)  # the window crosses midnight: it ends tomorrow
    end = local_datetime(day, dnd.end, tz)
    if end <= instant:  # pragma: no cover - guards odd DST edges
        end = local_datetime(day + timedelta(days=1), dnd.end, tz)
    return end


@dataclass(frozen=True, slots=True)
class Timing:
    """When to send, or why not: ``send_at`` is None when ``refusal`` says why."""

    send_at: datetime | None
    refusal: Literal["dnd_discard", "past_cutoff", "ttl_expired"] | None = None
    detail: str = ""


def decide_timing(
    now: datetime,
    tz: ZoneInfo,
    prefs: DeliveryPreferences,
    *,
    cutoff: datetime | None = None,
    ttl_seconds: int | None = None,
) -> Timing:
    """Apply local send time, DND, cut-off and time-to-live to a decision made at ``now``."""
    send_at = now
    if prefs.local_send_time is not None:
        send_at = next_local_time(now, prefs.local_send_time, tz)
    if prefs.dnd is not None and prefs.dnd.contains(send_at.astimezone(tz).time()):
        if prefs.dnd.action == "discard":
            return Timing(None, "dnd_discard", "inside the Do Not Disturb window")
        send_at = _dnd_end(send_at, prefs.dnd, tz)
    if cutoff is not None and send_at > cutoff:
        return Timing(None, "past_cutoff", f"would be sent after the cut-off {cutoff.isoformat()}")
    if ttl_seconds is not None and (send_at - now).total_seconds() > ttl_seconds:
        return Timing(
            None,
            "ttl_expired",
            f"a delay of {send_at - now} outlives the {ttl_seconds} s time-to-live",
        )
    return Timing(send_at)


def period_keys(send_at: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """The user's local day (``2026-11-27``) and ISO week (``2026-W48``) of a send."""
    local = send_at.astimezone(tz).date()
    year, week, _ = local.isocalendar()
    return local.isoformat(), f"{year}-W{week:02d}"
