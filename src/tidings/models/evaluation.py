"""Audience filters evaluated in Python: the reference semantics every store follows.

The in-memory store calls these functions directly; the SQLite store compiles the
same rules to SQL, and a differential property test checks both agree. Values are
JSON-like and compared by JSON type:

* ``null`` and a missing key are the same thing ("absent").
* Booleans are not numbers (``true`` never equals ``1``), tuples count as lists.
* Numbers compare numerically (``1 == 1.0``); strings compare by code point and
  case-sensitively; lists and objects compare element by element.
* ``eq None`` holds for an absent value, ``ne None`` for a present one; ``ne`` and
  ``not_in`` are the exact negations of ``eq`` and ``in`` (an absent value is
  ``ne "x"``).
* ``contains`` is substring for a string and membership for a list, false otherwise.
* ``gt``/``gte``/``lt``/``lte`` compare a number with a number or a string with a
  string; anything else (mixed types, absent, booleans) is false.
* Time windows: an event is within the last ``N`` days when
  ``timestamp >= now - N days`` (inclusive; later events, even after ``now``, count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from ..errors import TidingsError
from .filters import (
    AudienceQuery,
    Condition,
    EventFilter,
    Filter,
    MatchRule,
    Operator,
    PropertyFilter,
    Segment,
)
from .users import JsonValue, UserEvent, UserProfile

__all__ = [
    "PROFILE_FIELDS",
    "EventsByName",
    "audience_matches",
    "condition_holds",
    "event_filter_holds",
    "filter_holds",
    "group_events",
    "json_equal",
    "match_rule_holds",
    "match_text",
    "profile_matches",
    "profile_value",
    "property_filter_holds",
    "require_aware",
    "segment_holds",
    "value_holds",
    "window_start",
]

PROFILE_FIELDS: Final = ("identity", "name", "email", "timezone")
"""Profile fields a ``PropertyFilter`` can name besides the keys of ``properties``."""

EventsByName = Mapping[str, Sequence[UserEvent]]
"""One user's events grouped by event name."""

_NUMBER: Final = "number"
_STRING: Final = "string"


def _kind(value: JsonValue) -> str:
    """The JSON type of ``value``: null, bool, number, string, list, object or other."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return _NUMBER
    if isinstance(value, str):
        return _STRING
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def json_equal(left: JsonValue, right: JsonValue) -> bool:
    """Whether two JSON-like values are equal by JSON type (``True != 1``, ``1 == 1.0``)."""
    kind = _kind(left)
    if kind != _kind(right) or kind == "other":
        return False
    if kind == "list":
        return len(left) == len(right) and all(
            json_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    if kind == "object":
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return bool(left == right)


def _equals(actual: JsonValue, operand: JsonValue) -> bool:
    if operand is None:
        return actual is None
    return actual is not None and json_equal(actual, operand)


def _contains(actual: JsonValue, operand: JsonValue) -> bool:
    if isinstance(actual, str):
        return isinstance(operand, str) and operand in actual
    if isinstance(actual, list | tuple):
        return any(json_equal(item, operand) for item in actual)
    return False


def _ordered(actual: JsonValue, op: Operator, operand: JsonValue) -> bool:
    kind = _kind(actual)
    if kind not in (_NUMBER, _STRING) or kind != _kind(operand):
        return False
    if op == "gt":
        return bool(actual > operand)
    if op == "gte":
        return bool(actual >= operand)
    if op == "lt":
        return bool(actual < operand)
    return bool(actual <= operand)


def value_holds(actual: JsonValue, op: Operator, operand: JsonValue) -> bool:
    """Whether ``actual`` (None when absent) satisfies ``op`` against ``operand``."""
    if op == "eq":
        return _equals(actual, operand)
    if op == "ne":
        return not _equals(actual, operand)
    if op == "in":
        return any(_equals(actual, item) for item in operand)
    if op == "not_in":
        return not any(_equals(actual, item) for item in operand)
    if op == "contains":
        return _contains(actual, operand)
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    return _ordered(actual, op, operand)


def condition_holds(condition: Condition, properties: Mapping[str, JsonValue]) -> bool:
    """Whether a property mapping (an event's, for example) satisfies ``condition``."""
    return value_holds(properties.get(condition.property), condition.op, condition.value)


def profile_value(profile: UserProfile, name: str) -> JsonValue:
    """The value a ``PropertyFilter`` on ``name`` sees.

    ``identity``, ``name``, ``email`` and ``timezone`` read the profile's own field
    when it is set and fall back to ``properties[name]`` otherwise, as the
    ``Profile`` template namespace does.
    """
    if name in PROFILE_FIELDS:
        value = getattr(profile, name)
        if value is not None:
            return value
    return profile.properties.get(name)


def property_filter_holds(profile: UserProfile, rule: PropertyFilter) -> bool:
    """Whether ``profile`` satisfies a property filter."""
    return value_holds(profile_value(profile, rule.property), rule.op, rule.value)


def require_aware(now: datetime) -> datetime:
    """Return ``now`` if it is timezone-aware; time windows need an absolute instant.

    Raises:
        TidingsError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise TidingsError("the clock must give a timezone-aware datetime", field="now")
    return now


def window_start(now: datetime, days: int | None) -> datetime | None:
    """The earliest timestamp inside a ``days``-day window ending at ``now`` (None: all time)."""
    if days is None:
        return None
    return now - timedelta(days=days)


def group_events(events: Iterable[UserEvent]) -> dict[str, list[UserEvent]]:
    """Group one user's events by name, keeping their order."""
    grouped: dict[str, list[UserEvent]] = {}
    for event in events:
        grouped.setdefault(event.name, []).append(event)
    return grouped


def _grouped(events: EventsByName | Iterable[UserEvent]) -> EventsByName:
    if isinstance(events, Mapping):
        return events
    return group_events(events)


def event_filter_holds(events: EventsByName, rule: EventFilter, *, now: datetime) -> bool:
    """Whether one user's events (grouped by name) satisfy an event filter."""
    start = window_start(now, rule.within_days)
    count = 0
    for event in events.get(rule.event, ()):
        if start is not None and event.timestamp < start:
            continue
        if all(condition_holds(c, event.properties) for c in rule.where):
            count += 1
            if count >= rule.min_count:
                break
    return (count >= rule.min_count) == rule.did


def filter_holds(
    profile: UserProfile, events: EventsByName, rule: Filter, *, now: datetime
) -> bool:
    """Whether a profile and its events (grouped by name) satisfy one filter."""
    if isinstance(rule, PropertyFilter):
        return property_filter_holds(profile, rule)
    return event_filter_holds(events, rule, now=now)


def profile_matches(
    profile: UserProfile,
    events: EventsByName | Iterable[UserEvent],
    filters: Sequence[Filter],
    *,
    now: datetime,
) -> bool:
    """Whether a profile and its events satisfy every filter (all filters are ANDed).

    ``events`` are this user's events, as a list or grouped by name
    (:func:`group_events`); pass grouped events when evaluating many filters.
    """
    require_aware(now)
    grouped = _grouped(events)
    return all(filter_holds(profile, grouped, rule, now=now) for rule in filters)


def match_text(value: JsonValue) -> str | None:
    """The text a bulletin match compares: strings as they are, integers in decimal.

    Other values (null, booleans, floats, lists, objects) never match.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def match_rule_holds(events: EventsByName, rule: MatchRule, value: str, *, now: datetime) -> bool:
    """Whether the user has a ``rule.event`` whose ``rule.event_property`` text is ``value``.

    ``rule`` is a single-condition row (rows of several conditions are filters, see
    :meth:`~tidings.audience.AudienceQuery.for_rows`).
    """
    event_property = rule.compared.event
    start = window_start(now, rule.within_days)
    for event in events.get(rule.event, ()):
        if start is not None and event.timestamp < start:
            continue
        if match_text(event.properties.get(event_property)) == value:
            return True
    return False


def segment_holds(events: EventsByName, segment: Segment, *, now: datetime) -> bool:
    """Whether the user is in the segment: everyone, or anyone with a recent event."""
    if segment.kind == "all":
        return True
    start = now - timedelta(days=segment.engaged_days)
    return any(event.timestamp >= start for named in events.values() for event in named)


def audience_matches(
    profile: UserProfile,
    events: EventsByName | Iterable[UserEvent],
    query: AudienceQuery,
    *,
    now: datetime,
) -> bool:
    """Whether a profile is in ``query``'s audience: segment, every match, every filter."""
    require_aware(now)
    grouped = _grouped(events)
    return (
        segment_holds(grouped, query.segment, now=now)
        and all(match_rule_holds(grouped, rule, value, now=now) for rule, value in query.matches)
        and all(filter_holds(profile, grouped, rule, now=now) for rule in query.filters)
    )
