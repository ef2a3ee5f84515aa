"""Table tests: each operator, in Python and in both stores (profile and event properties)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tidings.audience import (
    AudienceQuery,
    Condition,
    EventFilter,
    MatchRule,
    PropertyFilter,
    Segment,
    audience_matches,
    group_events,
    json_equal,
    match_text,
    profile_matches,
    profile_value,
    value_holds,
)
from tidings.errors import TidingsError
from tidings.models import UserEvent, UserProfile
from tidings.storage import MemoryStore, SQLiteStore

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
MISSING = object()


@dataclass(frozen=True)
class Case:
    name: str
    actual: Any
    op: str
    operand: Any
    expect: bool


CASES = [
    # eq / ne: JSON types, numbers numerically, booleans are not numbers
    Case("eq string", "Drama", "eq", "Drama", True),
    Case("eq is case-sensitive", "Drama", "eq", "drama", False),
    Case("eq int float", 1, "eq", 1.0, True),
    Case("eq float int", 2.0, "eq", 2, True),
    Case("eq number vs string", 1, "eq", "1", False),
    Case("eq string vs number", "1", "eq", 1, False),
    Case("eq true vs 1", True, "eq", 1, False),
    Case("eq 1 vs true", 1, "eq", True, False),
    Case("eq false vs 0", False, "eq", 0, False),
    Case("eq bool", False, "eq", False, True),
    Case("eq big ints", 2**53 + 1, "eq", 2**53, False),
    Case("eq list", [1, "a"], "eq", [1.0, "a"], True),
    Case("eq list order", [1, "a"], "eq", ["a", 1], False),
    Case("eq list bool", [True], "eq", [1], False),
    Case("eq object", {"k": [1]}, "eq", {"k": [1]}, True),
    Case("eq object vs list", {"k": 1}, "eq", ["k"], False),
    Case("eq list vs its text", ["a"], "eq", '["a"]', False),
    Case("eq None on missing", MISSING, "eq", None, True),
    Case("eq None on null", None, "eq", None, True),
    Case("eq None on value", 0, "eq", None, False),
    Case("eq missing", MISSING, "eq", "x", False),
    Case("ne string", "Drama", "ne", "Comedy", True),
    Case("ne same", "Drama", "ne", "Drama", False),
    Case("ne missing", MISSING, "ne", "x", True),
    Case("ne null", None, "ne", "x", True),
    Case("ne None on value", "x", "ne", None, True),
    Case("ne None on missing", MISSING, "ne", None, False),
    Case("ne true vs 1", True, "ne", 1, True),
    Case("eq NaN", 1.0, "eq", float("nan"), False),
    Case("ne NaN", 1.0, "ne", float("nan"), True),
    # in / not_in
    Case("in hit", "Hindi", "in", ["Hindi", "Tamil"], True),
    Case("in miss", "English", "in", ["Hindi", "Tamil"], False),
    Case("in number", 2, "in", ["2", 2.0], True),
    Case("in string number", "2", "in", [2], False),
    Case("in bool", True, "in", [1, 0], False),
    Case("in empty", "x", "in", [], False),
    Case("in None matches missing", MISSING, "in", [None, "x"], True),
    Case("in list value", [1], "in", [[1], 2], True),
    Case("not_in miss", "English", "not_in", ["Hindi"], True),
    Case("not_in hit", "Hindi", "not_in", ["Hindi"], False),
    Case("not_in missing", MISSING, "not_in", ["Hindi"], True),
    Case("not_in empty", "x", "not_in", [], True),
    Case("in NaN", 1.0, "in", [float("nan")], False),
    Case("not_in NaN", 1.0, "not_in", [float("nan")], True),
    # contains: substring of strings, membership of lists
    Case("contains substring", "Drama Queen", "contains", "ma Q", True),
    Case("contains case", "Drama", "contains", "drama", False),
    Case("contains empty substring", "Drama", "contains", "", True),
    Case("contains in empty string", "", "contains", "", True),
    Case("contains list member", ["a", "b"], "contains", "b", True),
    Case("contains list not substring", ["abc"], "contains", "b", False),
    Case("contains list number", [1, 2], "contains", 2.0, True),
    Case("contains list bool vs 1", [True], "contains", 1, False),
    Case("contains list null", [None], "contains", None, True),
    Case("contains list list", [[1, 2], 3], "contains", [1, 2], True),
    Case("contains list object", [{"k": "v"}], "contains", {"k": "v"}, True),
    Case("contains number in string", "a1", "contains", 1, False),
    Case("contains on number", 12, "contains", "1", False),
    Case("contains on object", {"b": 1}, "contains", "b", False),
    Case("contains missing", MISSING, "contains", "b", False),
    Case("contains quote", 'say "hi"', "contains", '"hi"', True),
    # exists / not_exists: null is absent
    Case("exists value", "", "exists", None, True),
    Case("exists false", False, "exists", None, True),
    Case("exists null", None, "exists", None, False),
    Case("exists missing", MISSING, "exists", None, False),
    Case("not_exists null", None, "not_exists", None, True),
    Case("not_exists missing", MISSING, "not_exists", None, True),
    Case("not_exists value", 0, "not_exists", None, False),
    # gt / gte / lt / lte: numbers with numbers, strings with strings, else false
    Case("gt numbers", 3, "gt", 2.5, True),
    Case("gt equal", 3, "gt", 3.0, False),
    Case("gte equal", 3, "gte", 3.0, True),
    Case("lt numbers", -1, "lt", 0, True),
    Case("lte equal", 2.5, "lte", 2.5, True),
    Case("gt big ints", 2**53 + 1, "gt", 2**53, True),
    Case("gt strings", "b", "gt", "a", True),
    Case("gt strings by code point", "a", "gt", "B", True),
    Case("lt non-ASCII", "z", "lt", "é", True),
    Case("gt mixed number string", 10, "gt", "1", False),
    Case("gt mixed string number", "10", "gt", 1, False),
    Case("lt mixed", "1", "lt", 10, False),
    Case("gt bool actual", True, "gt", 0, False),
    Case("gte bool operand", 1, "gte", True, False),
    Case("gt null", None, "gt", 0, False),
    Case("lt missing", MISSING, "lt", 0, False),
    Case("gt list", [5], "gt", 1, False),
    Case("lte NaN", 1.0, "lte", float("nan"), False),
]


def _properties(actual: Any, key: str = "x") -> dict[str, Any]:
    return {} if actual is MISSING else {key: actual}


@pytest.fixture(params=["memory", "sqlite"])
def store(request):
    made = MemoryStore() if request.param == "memory" else SQLiteStore(":memory:")
    yield made
    made.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_value_holds(case: Case):
    actual = None if case.actual is MISSING else case.actual
    assert value_holds(actual, case.op, case.operand) is case.expect  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["x", 'q"k', "é"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_property_filter_in_store(store, case: Case, key: str):
    store.upsert_profiles(
        [
            UserProfile(identity="u", properties=_properties(case.actual, key)),
            UserProfile(identity="v"),
        ]
    )
    rule = PropertyFilter(property=key, op=case.op, value=case.operand)
    assert ("u" in store.matching_identities(["u"], [rule], now=NOW)) is case.expect
    audience = [p.identity for p in store.iter_audience(AudienceQuery(filters=(rule,)), now=NOW)]
    assert ("u" in audience) is case.expect


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_event_condition_in_store(store, case: Case):
    store.upsert_profiles([UserProfile(identity="u")])
    store.append_events(
        [
            UserEvent(
                identity="u", name="Watched", properties=_properties(case.actual), timestamp=NOW
            )
        ]
    )
    rule = EventFilter(
        event="Watched", where=(Condition(property="x", op=case.op, value=case.operand),)
    )
    assert (store.matching_identities(["u"], [rule], now=NOW) == {"u"}) is case.expect


@pytest.mark.parametrize(
    ("field", "column", "properties", "expect"),
    [
        ("name", "Ann", {"name": "Bob"}, "Ann"),  # the field wins when set
        ("name", None, {"name": "Bob"}, "Bob"),  # else the property, as in templates
        ("email", None, {}, None),
        ("timezone", "UTC", {}, "UTC"),
        ("identity", "u", {"identity": "other"}, "u"),
    ],
)
def test_profile_fields_in_filters(store, field, column, properties, expect):
    values = {"identity": "u", field: column} if field != "identity" else {"identity": "u"}
    profile = UserProfile(**values, properties=properties)
    assert profile_value(profile, field) == expect
    store.upsert_profiles([profile])
    for op, operand, holds in [("eq", expect, True), ("exists", None, expect is not None)]:
        rule = PropertyFilter(property=field, op=op, value=operand)
        assert (store.matching_identities(["u"], [rule], now=NOW) == {"u"}) is holds


def _watched(days_ago: float, micros: int = 0, **properties: Any) -> UserEvent:
    stamp = NOW - timedelta(days=days_ago) + timedelta(microseconds=micros)
    return UserEvent(identity="u", name="Watched", properties=properties, timestamp=stamp)


@pytest.mark.parametrize(
    ("micros", "inside"), [(-1, False), (0, True), (1, True)], ids=["before", "on", "after"]
)
def test_window_boundary_is_inclusive(store, micros, inside):
    store.upsert_profiles([UserProfile(identity="u")])
    store.append_events([_watched(7, micros, genre="Drama")])
    did = EventFilter(event="Watched", within_days=7)
    did_not = EventFilter(event="Watched", within_days=7, did=False)
    assert (store.matching_identities(["u"], [did], now=NOW) == {"u"}) is inside
    assert (store.matching_identities(["u"], [did_not], now=NOW) == {"u"}) is not inside
    rule = MatchRule(
        business_property="genre", event="Watched", event_property="genre", within_days=7
    )
    for query in (
        AudienceQuery(matches=((rule, "Drama"),)),
        AudienceQuery(segment=Segment(kind="engaged", engaged_days=7)),
    ):
        assert (len(list(store.iter_audience(query, now=NOW))) == 1) is inside


@pytest.mark.parametrize(
    ("count", "min_count", "did", "expect"),
    [
        (0, 1, True, False),
        (1, 1, True, True),
        (1, 2, True, False),
        (2, 2, True, True),
        (3, 2, True, True),
        (0, 1, False, True),
        (1, 1, False, False),
        (1, 2, False, True),
        (2, 2, False, False),
    ],
)
def test_min_count_and_did(store, count, min_count, did, expect):
    store.upsert_profiles([UserProfile(identity="u")])
    store.append_events([_watched(1, genre="Drama") for _ in range(count)])
    # Events that fail the where condition or the window never count.
    store.append_events([_watched(1, genre="Comedy"), _watched(40, genre="Drama")])
    rule = EventFilter(
        event="Watched",
        did=did,
        min_count=min_count,
        within_days=30,
        where=(Condition(property="genre", value="Drama"),),
    )
    assert (store.matching_identities(["u"], [rule], now=NOW) == {"u"}) is expect


def test_match_compares_text_of_strings_and_integers(store):
    store.upsert_profiles([UserProfile(identity=i) for i in "abcde"])
    store.append_events(
        [
            UserEvent(identity="a", name="Played", properties={"id": "234567"}, timestamp=NOW),
            UserEvent(identity="b", name="Played", properties={"id": 234567}, timestamp=NOW),
            UserEvent(identity="c", name="Played", properties={"id": 234567.0}, timestamp=NOW),
            UserEvent(identity="d", name="Played", properties={"id": ["234567"]}, timestamp=NOW),
            UserEvent(identity="e", name="Other", properties={"id": "234567"}, timestamp=NOW),
        ]
    )
    rule = MatchRule(business_property="program_id", event="Played", event_property="id")
    audience = store.iter_audience(AudienceQuery(matches=((rule, "234567"),)), now=NOW)
    assert [p.identity for p in audience] == ["a", "b"]


def test_match_on_long_values_scans_events(store):
    long_title = "x" * 300  # beyond the match index: found by scanning events instead
    store.upsert_profiles([UserProfile(identity="a"), UserProfile(identity="b")])
    store.append_events(
        [
            UserEvent(identity="a", name="Read", properties={"title": long_title}, timestamp=NOW),
            UserEvent(identity="b", name="Read", properties={"title": "x"}, timestamp=NOW),
        ]
    )
    rule = MatchRule(business_property="title", event="Read", event_property="title")
    audience = store.iter_audience(AudienceQuery(matches=((rule, long_title),)), now=NOW)
    assert [p.identity for p in audience] == ["a"]


def test_helpers():
    assert json_equal({"a": [1, None]}, {"a": [1.0, None]})
    assert not json_equal(True, 1)
    assert match_text(7) == "7"
    assert match_text(True) is None
    assert match_text(7.0) is None
    events = [_watched(1, genre="Drama"), _watched(2, genre="Comedy")]
    assert list(group_events(events)) == ["Watched"]
    profile = UserProfile(identity="u")
    drama = EventFilter(event="Watched", where=(Condition(property="genre", value="Drama"),))
    assert profile_matches(profile, events, [drama], now=NOW)
    assert profile_matches(profile, group_events(events), [drama], now=NOW)
    assert audience_matches(profile, events, AudienceQuery(filters=(drama,)), now=NOW)


def test_naive_now_is_refused(store):
    naive = datetime(2024, 6, 1, 12, 0)
    with pytest.raises(TidingsError, match="timezone-aware"):
        store.matching_identities(["u"], [], now=naive)
    with pytest.raises(TidingsError, match="timezone-aware"):
        list(store.iter_audience(AudienceQuery(), now=naive))
