"""Differential property tests: MemoryStore (Python) and SQLiteStore (SQL) agree.

Random small sets of profiles and events, random filters and audience queries: both
stores must return the same identities in the same order, and both must agree with
evaluating every profile directly with ``tidings.audience.evaluate``.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies import examples

from tidings.audience import (
    AudienceQuery,
    Condition,
    EventFilter,
    MatchCondition,
    MatchRule,
    ProfileMatch,
    PropertyFilter,
    Segment,
    audience_matches,
    match_text,
    profile_matches,
    profile_value,
    value_holds,
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

# A small pool of values that collide often (so filters match and differ), beside
# broad strategies (so unusual values turn up too).
POOL = [None, True, False, 0, 1, 1.0, -0.0, 2, 2.5, -1, 2**53, 2**53 + 1, 2**63 - 1]
POOL += ["Drama", "drama", "Dr", "", "1", "2", "é", 'q"', "a'b", "Drama Drama"]
pool = st.sampled_from(POOL)
numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 1e16, 2**53, -(2**63), 1e-300]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
strings = st.one_of(
    st.sampled_from(WORDS),
    st.text(alphabet=st.sampled_from("aAbDé\"'\\ .\n"), max_size=4),
)
scalars = st.one_of(pool, pool, pool, st.booleans(), numbers, strings)
json_values = st.one_of(
    scalars,
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["k", "genre"]), scalars, max_size=2),
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=2),
            st.dictionaries(st.sampled_from(["k", "genre"]), inner, max_size=2),
        ),
        max_leaves=4,
    ),
)
# NaN is never stored, but may be an operand: it equals nothing, as in Python.
operands = st.one_of(json_values, st.just(float("nan")))
tags = st.lists(st.one_of(pool, scalars), max_size=3)
properties = st.builds(
    lambda common, anything: {**anything, **common},
    st.fixed_dictionaries({}, optional={"tags": tags, "age": pool, "lang": pool}),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=3),
)
event_properties = st.fixed_dictionaries(
    {},
    optional={
        "genre": pool | st.sampled_from(WORDS),
        "age": json_values,
        "tags": tags,
        'q"k': json_values,
    },
)
# Timestamps sit on, just inside and just outside every window boundary.
timestamps = st.builds(
    lambda days, micros: NOW - timedelta(days=days) + timedelta(microseconds=micros),
    st.sampled_from([0, *DAYS, 40, -1]),
    st.sampled_from([0, -1, 1, 0, 3_600_000_000]),
)

profiles = st.builds(
    UserProfile,
    identity=st.sampled_from(IDENTITIES),
    name=st.none() | strings,
    email=st.none() | st.sampled_from(["ann@example.com", "Drama@example.com", "b@x.org"]),
    timezone=st.none() | st.sampled_from(["UTC", "Europe/Paris"]),
    push_tokens=st.lists(st.sampled_from(["t1", "t2"]), max_size=2).map(tuple),
    properties=properties,
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[UserProfile], list[UserEvent]]:
    """Profiles and events that overlap: most events belong to a profile, many repeat."""
    profile_list = draw(st.lists(profiles, max_size=7))
    owners = [p.identity for p in profile_list] + ["z9"]  # z9: events without a profile
    event_list = draw(
        st.lists(
            st.builds(
                UserEvent,
                identity=st.sampled_from(owners),
                name=st.sampled_from(EVENT_NAMES),
                properties=event_properties,
                timestamp=timestamps,
            ),
            max_size=8,
        )
    )
    # Repeat some events (at other times) so min_count and did=False have work to do.
    repeats = (
        draw(st.lists(st.tuples(st.sampled_from(event_list), timestamps), max_size=2))
        if event_list
        else []
    )
    event_list += [e.model_copy(update={"timestamp": ts}) for e, ts in repeats]
    return profile_list, event_list


@st.composite
def conditions(draw: st.DrawFn, cls: type[Condition] = Condition) -> Condition:
    op = draw(st.sampled_from(OPS))
    value: Any
    if op in ("in", "not_in"):
        value = draw(st.lists(operands, max_size=3))
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(st.one_of(pool.filter(lambda v: v is not None), numbers, strings))
    else:
        value = draw(operands)
    keys = KEYS if cls is PropertyFilter else ["genre", "age", "lang", 'q"k', "tags"]
    return cls(property=draw(st.sampled_from(keys)), op=op, value=value)


event_filters = st.builds(
    EventFilter,
    event=st.sampled_from(EVENT_NAMES),
    did=st.booleans(),
    within_days=st.sampled_from([None, *DAYS]),
    min_count=st.sampled_from([1, 1, 2, 3]),
    where=st.one_of(st.just(()), st.lists(conditions(), max_size=2).map(tuple)),
)
filters = st.lists(conditions(PropertyFilter) | event_filters, max_size=3).map(tuple)
match_rules = st.builds(
    MatchRule,
    business_property=st.just("genre"),
    event=st.sampled_from(EVENT_NAMES),
    event_property=st.sampled_from(["genre", "age", "lang", 'q"k']),
    within_days=st.sampled_from([None, *DAYS]),
)
segments = st.builds(
    Segment, kind=st.sampled_from(["all", "engaged"]), engaged_days=st.sampled_from(DAYS)
)
match_values = st.sampled_from([*WORDS, "Drama Drama", "9007199254740993", "-1", "0"])
queries = st.builds(
    AudienceQuery,
    segment=segments,
    matches=st.lists(st.tuples(match_rules, match_values), max_size=2).map(tuple),
    filters=filters,
)

# Match rows (issue 11): conditions on one event against a business value or a literal,
# and profile rows; resolved by AudienceQuery.for_rows into matches and filters.
BUSINESS_KEYS = ["genre", "id", "lang"]
business_values = st.fixed_dictionaries(
    {
        "genre": st.sampled_from(WORDS),
        "id": st.sampled_from(["1", "2", "0", "-1", "2.5", "1e3", "9007199254740993", "Dr"]),
        "lang": st.sampled_from(["é", "Drama", "", "1"]),
    }
)
MATCH_OPS = ["eq", "ne", "in", "contains", "gt", "gte", "lt", "lte"]


@st.composite
def match_conditions(draw: st.DrawFn, cls: type[MatchCondition] = MatchCondition):
    op = draw(st.sampled_from(MATCH_OPS))
    keys = KEYS if cls is ProfileMatch else ["genre", "age", "lang", 'q"k', "tags"]
    prop = draw(st.sampled_from(keys))
    if op != "in" and draw(st.booleans()):
        return cls(property=prop, op=op, business_property=draw(st.sampled_from(BUSINESS_KEYS)))
    if op == "in":
        value = draw(st.lists(operands, max_size=3))
    elif op in ("gt", "gte", "lt", "lte"):
        value = draw(st.one_of(numbers, strings))
    else:
        value = draw(operands)
    return cls(property=prop, op=op, value=value)


event_rows = st.one_of(
    st.builds(
        MatchRule,
        event=st.sampled_from(EVENT_NAMES),
        within_days=st.sampled_from([None, *DAYS]),
        where=st.lists(match_conditions(), min_size=1, max_size=3).map(tuple),
    ),
    st.builds(
        MatchRule,
        business_property=st.sampled_from(BUSINESS_KEYS),
        event=st.sampled_from(EVENT_NAMES),
        event_property=st.sampled_from(["genre", "age", "lang"]),
        within_days=st.sampled_from([None, *DAYS]),
        where=st.lists(match_conditions(), max_size=2).map(tuple),
    ),
)
match_rows = st.lists(event_rows | match_conditions(ProfileMatch), min_size=1, max_size=3)

# TIDINGS_DIFF_EXAMPLES=5000 runs a deeper search (before a release, after SQL changes);
# make test-long runs 400 examples, make test 40.
SETTINGS = settings(
    max_examples=int(os.environ.get("TIDINGS_DIFF_EXAMPLES", examples(40))),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["sqlite", "postgres", "parquet"])
def sql_store(request, tmp_path):
    """Makes the store each example compares with memory: SQLite, PostgreSQL (emptied), Parquet.

    Parquet evaluates with memory's Python rules, so it checks the files' round trip
    (JSON properties, timestamps, event order, partitions) rather than a compiler.
    """
    if request.param == "sqlite":
        yield lambda: SQLiteStore(":memory:")
        return
    if request.param == "parquet":
        from tidings.storage.parquet import ParquetStore

        made = itertools.count()
        yield lambda: ParquetStore(tmp_path / f"p{next(made)}", partitions=3)
        return
    import psycopg

    from tidings.storage.postgres import PostgresStore

    dsn = request.getfixturevalue("postgres_dsn")
    store = PostgresStore(dsn)

    class Emptied:
        """The one PostgreSQL store, emptied; the examples' ``close`` keeps it open."""

        def __getattr__(self, name):
            return getattr(store, name)

        def close(self):
            pass

    with psycopg.connect(dsn, autocommit=True) as conn:

        def fresh():
            for table in ("profiles", "events", "event_props"):
                conn.execute(
                    psycopg.sql.SQL("DELETE FROM {}").format(psycopg.sql.Identifier(table))
                )
            return Emptied()

        conn.execute("SELECT set_config('search_path', current_setting('tidings.schema'), false)")
        yield fresh
    store.close()


def _load(profile_list: list[UserProfile], event_list: list[UserEvent], make_sql):
    memory, sqlite = MemoryStore(), make_sql()
    for store in (memory, sqlite):
        store.upsert_profiles(profile_list)
        store.append_events(event_list)
    return memory, sqlite


def _latest(profile_list: list[UserProfile]) -> dict[str, UserProfile]:
    return {p.identity: p for p in profile_list}


def _both_audiences(memory, sqlite, query):
    try:
        from_sqlite = list(sqlite.iter_audience(query, now=NOW))
    finally:
        sqlite.close()
    return list(memory.iter_audience(query, now=NOW)), from_sqlite


@SETTINGS
@given(worlds(), conditions(PropertyFilter) | event_filters)
def test_each_filter_alone_identical_in_memory_and_sqlite(sql_store, world, rule):
    memory, sqlite = _load(*world, sql_store)
    matched = sqlite.matching_identities(IDENTITIES, [rule], now=NOW)
    from_memory, from_sqlite = _both_audiences(memory, sqlite, AudienceQuery(filters=(rule,)))
    assert [p.identity for p in from_sqlite] == [p.identity for p in from_memory]
    assert matched == memory.matching_identities(IDENTITIES, [rule], now=NOW)
    assert matched == {p.identity for p in from_memory}


@SETTINGS
@given(worlds(), match_rules, match_values, segments)
def test_each_match_alone_identical_in_memory_and_sqlite(sql_store, world, rule, value, segment):
    memory, sqlite = _load(*world, sql_store)
    query = AudienceQuery(segment=segment, matches=((rule, value),))
    from_memory, from_sqlite = _both_audiences(memory, sqlite, query)
    assert [p.identity for p in from_sqlite] == [p.identity for p in from_memory]


@SETTINGS
@given(worlds(), match_rows, business_values, segments, filters)
def test_match_rows_identical_in_memory_and_sqlite(
    sql_store, world, rows, business, segment, extra
):
    profile_list, event_list = world
    query = AudienceQuery.for_rows(rows, business, segment=segment, filters=extra)
    memory, sqlite = _load(profile_list, event_list, sql_store)
    from_memory, from_sqlite = _both_audiences(memory, sqlite, query)
    assert [p.identity for p in from_sqlite] == [p.identity for p in from_memory]
    # The reference: a user matches an event row when ONE of their events in the
    # window satisfies every condition of the row (conditions resolved by hand here).
    latest = _latest(profile_list)
    expected = []
    for identity in sorted(latest):
        events = [e for e in event_list if e.identity == identity]
        if not audience_matches(
            latest[identity], events, AudienceQuery(segment=segment, filters=extra), now=NOW
        ):
            continue
        if all(_row_holds(latest[identity], events, row, business) for row in rows):
            expected.append(identity)
    assert [p.identity for p in from_memory] == expected


def _row_holds(profile, events, row, business) -> bool:
    if isinstance(row, ProfileMatch):
        return _condition_holds(row, {row.property: profile_value(profile, row.property)}, business)
    start = None if row.within_days is None else NOW - timedelta(days=row.within_days)
    for event in events:
        if event.name != row.event or (start is not None and event.timestamp < start):
            continue
        if all(_condition_holds(c, event.properties, business) for c in row.conditions()):
            return True
    return False


def _condition_holds(condition, properties, business) -> bool:
    actual = properties.get(condition.property)
    if condition.business_property is None:
        return value_holds(actual, condition.op, condition.value)
    text = business[condition.business_property]
    if condition.op in ("eq", "ne"):
        equal = match_text(actual) == text and not (isinstance(actual, int) and len(text) > 18)
        # A float equal to an integer spelling counts as that integer.
        equal = equal or (
            isinstance(actual, float)
            and text.lstrip("-").isdigit()
            and len(text) <= 18
            and str(int(text)) == text
            and actual == int(text)
        )
        return equal if condition.op == "eq" else not equal
    return value_holds(actual, condition.op, condition.resolve(business).value)


@SETTINGS
@given(worlds(), queries)
def test_audience_identical_in_memory_and_sqlite(sql_store, world, query):
    profile_list, event_list = world
    memory, sqlite = _load(profile_list, event_list, sql_store)
    from_memory, from_sqlite = _both_audiences(memory, sqlite, query)
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
@given(worlds(), filters, st.lists(st.sampled_from([*IDENTITIES, "unknown"]), max_size=8))
def test_matching_identities_identical_in_memory_and_sqlite(sql_store, world, filter_list, asked):
    profile_list, event_list = world
    memory, sqlite = _load(profile_list, event_list, sql_store)
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
    worlds(),
    st.sampled_from(IDENTITIES),
    st.none() | st.sampled_from(EVENT_NAMES),
    st.none() | timestamps,
)
def test_events_for_identical_in_memory_and_sqlite(sql_store, world, identity, name, since):
    _, event_list = world
    memory, sqlite = _load([], event_list, sql_store)
    try:
        from_sqlite = sqlite.events_for(identity, name=name, since=since)
    finally:
        sqlite.close()
    from_memory = memory.events_for(identity, name=name, since=since)
    assert from_sqlite == from_memory
    # Oldest first; equal timestamps keep arrival order (sorted() is stable).
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
