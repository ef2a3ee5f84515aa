"""Store behaviour shared by MemoryStore and SQLiteStore, plus SQLite specifics."""

import gc
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tidings.audience import AudienceQuery, EventFilter, MatchRule, PropertyFilter, Segment
from tidings.errors import ProfileError, TidingsError, TriggerDataError
from tidings.models import UserEvent, UserProfile
from tidings.storage import MemoryStore, SQLiteStore, Store
from tidings.storage.jsonl import import_jsonl
from tidings.storage.sqlite import SCHEMA_VERSION

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def profile(identity: str, **properties) -> UserProfile:
    return UserProfile(identity=identity, properties=properties)


def event(identity: str, name: str, when: datetime, **properties) -> UserEvent:
    return UserEvent(identity=identity, name=name, properties=properties, timestamp=when)


def unchecked_profile(identity: str, **properties) -> UserProfile:
    """A profile built without validation (as a trusted bulk load would): the store checks."""
    return UserProfile.model_construct(
        identity=identity,
        name=None,
        email=None,
        push_tokens=(),
        timezone=None,
        properties=properties,
    )


def unchecked_event(identity: str, name: str, when: datetime, **properties) -> UserEvent:
    return UserEvent.model_construct(
        identity=identity, name=name, properties=properties, timestamp=when
    )


def test_implements_the_protocol(store):
    assert isinstance(store, Store)


def test_profiles_round_trip(store):
    ann = UserProfile(
        identity="ann",
        name="Ann",
        email="ann@example.com",
        push_tokens=("tok-1", "tok-2"),
        timezone="Asia/Kolkata",
        properties={"language": "Hindi", "age": 31, "score": 2.5, "tags": ["a", 1, None], "é": {}},
    )
    assert store.upsert_profiles([ann, profile("bob")]) == 2
    assert store.get_profile("ann") == ann
    assert store.get_profile("nobody") is None
    assert store.count_profiles() == 2
    assert store.get_profiles(["bob", "nobody", "ann", "bob"]) == {
        "ann": ann,
        "bob": profile("bob"),
    }


def test_upsert_replaces_by_identity(store):
    store.upsert_profiles([profile("a", v=1), profile("b", v=1)])
    store.upsert_profiles(iter([profile("a", v=2), profile("a", v=3)]))  # last one wins
    assert store.get_profile("a") == profile("a", v=3)
    assert store.count_profiles() == 2


def test_many_identities_are_chunked(store):
    store.upsert_profiles(profile(f"u{i:04}", n=i) for i in range(1_200))
    asked = [f"u{i:04}" for i in range(0, 1_300, 2)]
    found = store.get_profiles(asked)
    assert len(found) == 600
    assert found["u1198"] == profile("u1198", n=1198)
    over = PropertyFilter(property="n", op="gte", value=1000)
    assert store.matching_identities(asked, [over], now=NOW) == {
        f"u{i:04}" for i in range(1000, 1200, 2)
    }


def test_events_for_oldest_first_with_name_and_since(store):
    t0 = NOW - timedelta(days=3)
    other_zone = timezone(timedelta(hours=5, minutes=30))
    events = [
        event("u", "B", t0 + timedelta(hours=2), n=1),
        event("u", "A", t0, n=2),
        event("u", "A", t0 + timedelta(hours=2), n=3),  # same time as n=1: arrival order
        event("v", "A", t0),
        event("u", "A", (t0 + timedelta(hours=1)).astimezone(other_zone), n=4),
    ]
    assert store.append_events(events) == 5
    assert [e.properties["n"] for e in store.events_for("u")] == [2, 4, 1, 3]
    assert [e.properties["n"] for e in store.events_for("u", name="A")] == [2, 4, 3]
    since = t0 + timedelta(hours=1)
    assert [e.properties["n"] for e in store.events_for("u", since=since)] == [4, 1, 3]
    assert [e.properties["n"] for e in store.events_for("u", name="B", since=since)] == [1]
    assert store.events_for("nobody") == []
    # timestamps are kept to the microsecond, as the same instant
    assert store.events_for("u")[1].timestamp == t0 + timedelta(hours=1)


def test_values_json_cannot_hold_are_refused(store):
    with pytest.raises(ProfileError, match="NaN"):  # the model refuses first
        profile("bad", x=float("nan"))
    with pytest.raises(TriggerDataError, match="'bad'"):
        store.upsert_profiles([unchecked_profile("bad", x=float("nan"))])
    with pytest.raises(TriggerDataError, match="not valid JSON"):
        store.append_events([unchecked_event("bad", "E", NOW, x=float("inf"))])
    with pytest.raises(TriggerDataError):
        store.upsert_profiles([unchecked_profile("bad", x=object())])
    with pytest.raises(TriggerDataError, match="NUL"):
        store.upsert_profiles([profile("bad", x=["a\x00b"])])
    store.upsert_profiles([profile("fine", x="\\u0000")])  # a backslash, then "u0000"
    assert store.get_profile("fine") == profile("fine", x="\\u0000")
    assert store.get_profile("bad") is None


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_import_jsonl(store, tmp_path):
    profiles = _write_lines(
        tmp_path / "profiles.jsonl",
        [
            json.dumps({"identity": "a", "name": "Ann", "properties": {"language": "Hindi"}}),
            "",
            json.dumps({"identity": "b"}),
        ],
    )
    events = _write_lines(
        tmp_path / "events.jsonl",
        [
            json.dumps(
                {
                    "identity": "a",
                    "name": "Movie Watched",
                    "properties": {"genre": "Drama"},
                    "timestamp": "2024-05-30T10:00:00+05:30",
                }
            ),
            "   ",
        ],
    )
    assert import_jsonl(store, profiles, "profiles").imported == 2
    assert import_jsonl(store, str(events), "events").imported == 1
    assert store.get_profile("a") == UserProfile(
        identity="a", name="Ann", properties={"language": "Hindi"}
    )
    [watched] = store.events_for("a")
    assert watched.timestamp == datetime(2024, 5, 30, 4, 30, tzinfo=UTC)
    rule = MatchRule(business_property="genre", event="Movie Watched", event_property="genre")
    audience = store.iter_audience(AudienceQuery(matches=((rule, "Drama"),)), now=NOW)
    assert [p.identity for p in audience] == ["a"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"line 2: not valid JSON \(.* at column 2\)"),
        ('{"identity": ""}', r"line 2: invalid profile \(identity: "),
        ('{"identity": "x", "nickname": "y"}', r"line 2: invalid profile \(nickname: "),
        ("[1, 2]", r"line 2: invalid profile"),
    ],
)
def test_import_jsonl_bad_line_names_file_and_line(store, tmp_path, line, message):
    path = _write_lines(tmp_path / "p.jsonl", ['{"identity": "ok"}', line])
    with pytest.raises(TriggerDataError, match=message) as caught:
        import_jsonl(store, path, "profiles")
    assert str(path) in str(caught.value)


def test_import_jsonl_bad_event_and_kind(store, tmp_path):
    path = _write_lines(tmp_path / "e.jsonl", ['{"identity": "a", "name": "E"}'])
    with pytest.raises(TriggerDataError, match=r"line 1: invalid event \(timestamp: "):
        import_jsonl(store, path, "events")
    naive = '{"identity": "a", "name": "E", "timestamp": "2024-05-30T10:00:00"}'
    with pytest.raises(TriggerDataError, match="line 1"):
        import_jsonl(store, _write_lines(tmp_path / "n.jsonl", [naive]), "events")
    with pytest.raises(TriggerDataError, match="unknown import kind"):
        import_jsonl(store, path, "users")


def test_import_jsonl_with_a_bad_line_after_a_full_batch_imports_nothing(store, tmp_path):
    lines = [json.dumps({"identity": f"u{i:05}"}) for i in range(5_001)] + ["oops"]
    path = _write_lines(tmp_path / "big.jsonl", lines)
    with pytest.raises(TriggerDataError, match="line 5002"):
        import_jsonl(store, path, "profiles")
    assert store.count_profiles() == 0  # checked in full before the first batch is written
    result = import_jsonl(store, path, "profiles", skip_bad=True)
    assert (result.imported, [bad.line for bad in result.bad]) == (5_001, [5002])
    assert store.count_profiles() == 5_001


def test_iter_audience_streams_lazily_and_tolerates_writes(store):
    store.upsert_profiles(profile(f"u{i:05}") for i in range(2_500))
    stream = store.iter_audience(AudienceQuery(), now=NOW)
    first = [next(stream).identity for _ in range(3)]
    assert first == ["u00000", "u00001", "u00002"]
    store.upsert_profiles([profile("u00001", seen=True)])  # a write mid-stream
    store.append_events([event("u00001", "E", NOW)])
    rest = [p.identity for p in stream]
    assert rest[0] == "u00003"
    assert len(rest) >= 2_497
    stream.close()
    # An abandoned stream releases its cursor: the store keeps working.
    abandoned = store.iter_audience(AudienceQuery(), now=NOW)
    next(abandoned)
    del abandoned
    assert store.count_profiles() == 2_500


def test_close_is_idempotent(store):
    store.close()
    store.close()


# -- SQLite specifics -----------------------------------------------------------------


def test_sqlite_file_settings_and_schema(tmp_path):
    path = tmp_path / "t.db"
    store = SQLiteStore(path)
    store.upsert_profiles([profile("a")])
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        store.get_profile("a")
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("SELECT version FROM store_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        indexes = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        assert {"events_identity_name_ts", "events_identity_ts", "event_props"} <= indexes
    finally:
        raw.close()
    # Reopening is idempotent and keeps the data.
    again = SQLiteStore(path)
    try:
        assert again.get_profile("a") == profile("a")
        assert again._fetchall("PRAGMA synchronous") == [(1,)]  # NORMAL
    finally:
        again.close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("SELECT COUNT(*) FROM store_schema_version").fetchone() == (1,)
    finally:
        raw.close()


def test_sqlite_refuses_a_newer_schema(tmp_path):
    path = tmp_path / "t.db"
    SQLiteStore(path).close()
    raw = sqlite3.connect(path)
    with raw:
        raw.execute("UPDATE store_schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(TidingsError, match="schema version"):
        SQLiteStore(path)


def test_sqlite_two_stores_on_one_file_see_each_other(tmp_path):
    writer, reader = SQLiteStore(tmp_path / "t.db"), SQLiteStore(tmp_path / "t.db")
    try:
        writer.upsert_profiles([profile("a")])
        writer.append_events([event("a", "E", NOW)])
        assert reader.get_profile("a") == profile("a")
        assert len(reader.events_for("a")) == 1
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("where", ["file", "memory"])
def test_sqlite_threads_read_and_write_concurrently(tmp_path, where):
    store = SQLiteStore(tmp_path / "t.db" if where == "file" else ":memory:")
    store.upsert_profiles(profile(f"u{i:04}", n=i) for i in range(3_000))

    def read():
        return [sum(1 for _ in store.iter_audience(AudienceQuery(), now=NOW)) for _ in range(3)]

    def write():
        for i in range(20):
            store.append_events([event(f"u{i:04}", "E", NOW)] * 10)

    with ThreadPoolExecutor(max_workers=5) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        writer = pool.submit(write)
        counts = [n for reader in readers for n in reader.result()]  # re-raises failures
        writer.result()
    try:
        assert counts == [3_000] * 12
        assert len(store.events_for("u0007")) == 10
        if where == "file":
            # The pool's threads have ended: their connections went with them.
            gc.collect()
            assert store._open_connections() == 1  # this thread's
    finally:
        store.close()
    assert store._open_connections() == 0


def test_sqlite_invalid_unicode_is_a_data_error():
    store = SQLiteStore(":memory:")
    try:
        with pytest.raises(TriggerDataError, match="Unicode"):
            store.upsert_profiles([unchecked_profile("a", x="\ud800")])
        assert store.count_profiles() == 0
    finally:
        store.close()


def test_sqlite_query_plans_use_the_indexes():
    store = SQLiteStore(":memory:")
    try:
        genre = MatchRule(business_property="g", event="Watched", event_property="genre")
        query = AudienceQuery(
            segment=Segment(kind="engaged"),
            matches=((genre, "Drama"),),
            filters=(EventFilter(event="Watched", within_days=7),),
        )
        plan = store.explain_audience(query, now=NOW)
        text = "\n".join(plan)
        assert "SEARCH d USING PRIMARY KEY (event_name=? AND prop=? AND value=?)" in text
        assert "SEARCH p USING PRIMARY KEY (identity=?)" in text
        assert "USING COVERING INDEX events_identity_ts (identity=? AND ts>?)" in text
        assert (
            "USING COVERING INDEX events_identity_name_ts (identity=? AND name=? AND ts>?)" in text
        )
        assert "TEMP B-TREE" not in text  # identity order comes from the index
        everyone = "\n".join(store.explain_audience(AudienceQuery(), now=NOW))
        assert everyone == "SCAN p"
    finally:
        store.close()


def test_memory_store_is_a_plain_default():
    store = MemoryStore()
    store.upsert_profiles([profile("b"), profile("a")])
    assert [p.identity for p in store.iter_audience(AudienceQuery(), now=NOW)] == ["a", "b"]
    store.upsert_profiles([profile("0")])  # a new identity refreshes the order
    assert [p.identity for p in store.iter_audience(AudienceQuery(), now=NOW)] == ["0", "a", "b"]
