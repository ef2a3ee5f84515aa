"""Differential property tests: MemoryStore (Python) and SQLiteStore (SQL) agree.

Random small sets of profiles and events, random filters and audience queries: both
stores must return the same identities in the same order, and both must agree with
evaluating every profile directly with ``tidings.audience.evaluate``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidings.audience import (
    AudienceQuery,
    Condition,
    EventFilter,
    MatchRule,
    PropertyFilter,
    Segment,
    audience_matches,
    profile_matches,
)
from tidings.models import UserEvent, UserProfile
from tidings.storage import MemoryStore, SQLiteStore

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
IDENTITIES = ["a", "b", "c", "ab", "B", "é", "a b", "z9"]
EVENT_NAMES = ["Movie Watched", "App Launched"]
# Includes profile fields, a non-ASCII key and keys a JSON path cannot spell.
KEYS = ["genre", "age", "tags", "lang", "name", "email", "timezone", "identity", 'q"k', "é", "a.b"]
WORDS = ["Drama", "Comedy", "drama", "Dr", "", "1", "2", "é", "a'b", 'q"', "x" * 300]
DAYS = [1, 2, 3, 7, 30]
OPS = ["eq", "ne", "in", "not_in", "contains", "exists", "not_exists", "gt", "gte", "lt", "lte"]

numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 2.0, 2.5, 1e16, 2**53, 2**53 + 1, 2**63 - 1, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
strings = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet=st.sampled_from("aAbDé\"'\\ .\n"), max_size=4),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["k", "genre"]), inner, max_size=2),
    ),
    max_leaves=4,
)
properties = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)
timestamps = st.builds(
    lambda days, micros, extra: NOW - timedelta(days=days, microseconds=micros) + extra,
    st.sampled_from([0, 1, 2, 3, 7, 30, 40]),
    st.sampled_from([-1, 0, 1]),
    st.sampled_from([timedelta(0), timedelta(hours=5), timedelta(days=-400)]),
)

profiles = st.builds(
    UserProfile,
    identity=st.sampled_from(IDENTITIES),
    name=st.none() | strings,
    email=st.none() | st.sampled_from(["ann@example.com", "Drama", "b@x.org"]),
    timezone=st.none() | st.sampled_from(["UTC", "Europe/Paris"]),
    push_tokens=st.lists(st.sampled_from(["t1", "t2"]), max_size=2).map(tuple),
    properties=properties,
)
events = st.builds(
    UserEvent,
    identity=st.sampled_from(IDENTITIES),
    name=st.sampled_from(EVENT_NAMES),
    properties=properties,
    timestamp=timestamps,
)


@st.composite
def conditions(draw: st.DrawFn, cls: type[Condition] = Condition) -> Condition:
    op = draw(st.sampled_from(OPS))
    value: Any
    if op in ("in", "not_in"):
        value = draw(st.lists(json_values, max_size=3))
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(st.one_of(numbers, strings, st.booleans()))
    else:
        value = draw(json_values)
    return cls(property=draw(st.sampled_from(KEYS)), op=op, value=value)


event_filters = st.builds(
    EventFilter,
    event=st.sampled_from(EVENT_NAMES),
    did=st.booleans(),
    within_days=st.none() | st.sampled_from(DAYS),
    min_count=st.integers(1, 3),
    where=st.lists(conditions(), max_size=2).map(tuple),
)
filters = st.lists(conditions(PropertyFilter) | event_filters, max_size=3).map(tuple)
match_rules = st.builds(
    MatchRule,
    business_property=st.just("genre"),
    event=st.sampled_from(EVENT_NAMES),
    event_property=st.sampled_from(["genre", "age", "lang", 'q"k']),
    within_days=st.none() | st.sampled_from(DAYS),
)
queries = st.builds(
    AudienceQuery,
    segment=st.builds(
        Segment, kind=st.sampled_from(["all", "engaged"]), engaged_days=st.sampled_from(DAYS)
    ),
    matches=st.lists(st.tuples(match_rules, st.sampled_from(WORDS)), max_size=2).map(tuple),
    filters=filters,
)

# TIDINGS_DIFF_EXAMPLES=5000 runs a deeper search (before a release, after SQL changes).
SETTINGS = settings(
    max_examples=int(os.environ.get("TIDINGS_DIFF_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _load(profile_list: list[UserProfile], event_list: list[UserEvent]):
    memory, sqlite = MemoryStore(), SQLiteStore(":memory:")
    for store in (memory, sqlite):
        store.upsert_profiles(profile_list)
        store.append_events(event_list)
    return memory, sqlite


def _latest(profile_list: list[UserProfile]) -> dict[str, UserProfile]:
    return {p.identity: p for p in profile_list}


@SETTINGS
@given(st.lists(profiles, max_size=6), st.lists(events, max_size=10), queries)
def test_audience_identical_in_memory_and_sqlite(profile_list, event_list, query):
    memory, sqlite = _load(profile_list, event_list)
    try:
        from_memory = list(memory.iter_audience(query, now=NOW))
        from_sqlite = list(sqlite.iter_audience(query, now=NOW))
    finally:
        sqlite.close()
    assert [p.identity for p in from_sqlite] == [p.identity for p in from_memory]
    # Profiles read back from SQLite equal the ones stored.
    assert from_sqlite == from_memory
    # And the memory store's index narrowing loses nobody: brute force agrees.
    latest = _latest(profile_list)
    expected = [
        identity
        for identity in sorted(latest)
        if audience_matches(
            latest[identity], [e for e in event_list if e.identity == identity], query, now=NOW
        )
    ]
    assert [p.identity for p in from_memory] == expected


@SETTINGS
@given(
    st.lists(profiles, max_size=6),
    st.lists(events, max_size=10),
    filters,
    st.lists(st.sampled_from([*IDENTITIES, "unknown"]), max_size=8),
)
def test_matching_identities_identical_in_memory_and_sqlite(
    profile_list, event_list, filter_list, asked
):
    memory, sqlite = _load(profile_list, event_list)
    try:
        from_sqlite = sqlite.matching_identities(asked, filter_list, now=NOW)
    finally:
        sqlite.close()
    from_memory = memory.matching_identities(asked, filter_list, now=NOW)
    assert from_sqlite == from_memory
    latest = _latest(profile_list)
    assert from_memory == {
        identity
        for identity in asked
        if identity in latest
        and profile_matches(
            latest[identity],
            [e for e in event_list if e.identity == identity],
            filter_list,
            now=NOW,
        )
    }


@SETTINGS
@given(
    st.lists(events, max_size=12),
    st.sampled_from(IDENTITIES),
    st.none() | st.sampled_from(EVENT_NAMES),
    st.none() | timestamps,
)
def test_events_for_identical_in_memory_and_sqlite(event_list, identity, name, since):
    memory, sqlite = _load([], event_list)
    try:
        from_sqlite = sqlite.events_for(identity, name=name, since=since)
    finally:
        sqlite.close()
    from_memory = memory.events_for(identity, name=name, since=since)
    assert from_sqlite == from_memory
    # Oldest first; equal timestamps keep arrival order.
    expected = sorted(
        (
            e
            for e in event_list
            if e.identity == identity
            and (name is None or e.name == name)
            and (since is None or e.timestamp >= since)
        ),
        key=lambda e: e.timestamp,
    )
    assert from_memory == expected
