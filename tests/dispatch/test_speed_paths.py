"""Speed paths of the dispatch: a light audience stream for the cap pass, fewer ledger
transactions per chunk, JSON lines encoded by the per-user stage. Same results as before."""

import json
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.dispatch.viewers import NOW, RAISE, drama_bulletin, populate, viewers

import tidings
import tidings.dispatch.run as run_module
from tidings.campaigns import Bulletin
from tidings.dispatch import DispatchPlan, HoldOut, may_take_a_slot, select_under_cap
from tidings.dispatch.caps import admitted_under_cap
from tidings.dispatch.eligibility import Entry, Person
from tidings.dispatch.render import Ready
from tidings.dispatch.workers import pack, unpack
from tidings.models.filters import AudienceQuery
from tidings.models.records import Delivery, Skip, encode_line
from tidings.storage import MemoryLedger, MemoryStore, SQLiteLedger, SQLiteStore

SMALL_CHUNK = 25
CAP = 60

BULLETIN = drama_bulletin(
    filters=[{"kind": "property", "property": "language", "op": "ne", "value": "Tamil"}],
    message={
        "channel": "push",
        "title": "Nouveau {{ BusinessEvent.genre }} ✨",
        "body": "Hi {{ Profile.name | default: 'there' }} ({{ Profile.language }}, {{ Profile.é }})",
    },
    targeting_cap=CAP,
)


def _workspace(store, ledger, workers=1):
    ws = tidings.Workspace(store, ledger, clock=lambda: NOW, workers=workers)
    return populate(ws, 400, BULLETIN, varied=True)


@pytest.fixture(params=["memory", "sqlite"])
def kind(request):
    return request.param


def _make(kind, tmp_path, workers=1, name="ws"):
    if kind == "memory":
        return _workspace(MemoryStore(), MemoryLedger(), workers)
    return _workspace(
        SQLiteStore(tmp_path / f"{name}-store.db"),
        SQLiteLedger(tmp_path / f"{name}-ledger.db"),
        workers,
    )


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(run_module, "CHUNK_SIZE", SMALL_CHUNK)


def _query():
    bulletin = Bulletin.model_validate(BULLETIN)
    query = AudienceQuery(
        segment=bulletin.segment,
        matches=((bulletin.match[0], "Drama"),),
        filters=bulletin.filters,
    )
    return query, bulletin


# -- 1. the light audience stream --------------------------------------------------------


def test_audience_without_properties_has_the_same_users_and_fields(kind, tmp_path):
    ws = _make(kind, tmp_path)
    query, _ = _query()
    full = list(ws.store.iter_audience(query, now=NOW))
    light = list(ws.store.iter_audience(query, now=NOW, properties=False))
    assert len(full) > 100
    assert [p.identity for p in light] == [p.identity for p in full]
    for a, b in zip(full, light, strict=True):
        assert b.properties == {}
        assert b.model_dump(exclude={"properties"}) == a.model_dump(exclude={"properties"})
        assert b == a.model_copy(update={"properties": {}})
    # The filter on a property still applies (the light stream only skips reading them).
    assert all(p.properties["language"] != "Tamil" for p in full)
    ws.close()


def test_both_stores_give_the_same_light_stream(tmp_path):
    memory = _make("memory", tmp_path)
    sqlite = _make("sqlite", tmp_path)
    query, _ = _query()
    from_memory = list(memory.store.iter_audience(query, now=NOW, properties=False))
    from_sqlite = list(sqlite.store.iter_audience(query, now=NOW, properties=False))
    assert [p.model_dump() for p in from_memory] == [p.model_dump() for p in from_sqlite]
    memory.close()
    sqlite.close()


def test_cap_pass_selects_the_same_users_as_from_full_profiles(kind, tmp_path):
    ws = _make(kind, tmp_path)
    query, bulletin = _query()
    plan = DispatchPlan(
        source="bulletin",
        source_id="drama",
        message=bulletin.message,
        dispatch_key="d1",
        now=NOW,
        audience=query,
        hold_out=HoldOut(scope="bulletin:drama", percent=10),
        cap=CAP,
        preferences=bulletin.delivery,
        ttl_seconds=bulletin.ttl_seconds,
    )
    eligible_full = [
        p.identity for p in ws.store.iter_audience(query, now=NOW) if may_take_a_slot(plan, p)
    ]
    expected = select_under_cap(eligible_full, scope=plan.cap_scope, remaining=CAP)
    got = admitted_under_cap(
        plan, ws.ledger, ws.store.iter_audience(query, now=NOW, properties=False)
    )
    assert got == expected
    assert len(got) == CAP
    ws.close()


# -- 2. fewer ledger transactions ----------------------------------------------------------


@pytest.mark.parametrize("ledger_kind", ["memory", "sqlite"])
def test_record_marks_the_previous_chunk_emitted_in_the_same_call(ledger_kind, tmp_path):
    ledger = MemoryLedger() if ledger_kind == "memory" else SQLiteLedger(tmp_path / "l.db")
    first = [_delivery("u1"), Skip("c1", "u2", "control_group", "held out")]
    second = [_delivery("u3")]
    ledger.record(first, dispatch_key="d", at=NOW)
    assert ledger.pending_keys("c1", "d") == {"key-u1"}
    ledger.record(second, dispatch_key="d", at=NOW, emitted=("c1", ["u1", "u2"]))
    assert ledger.emitted("c1", "d", ["u1", "u2", "u3"]) == {
        "u1": ("sent", None),
        "u2": ("skipped", "control_group"),
    }
    assert ledger.pending_keys("c1", "d") == {"key-u3"}
    # Recording an emitted row again changes nothing; marking alone still works.
    ledger.record([_delivery("u1", key="other")], dispatch_key="d", at=NOW, emitted=("c1", []))
    ledger.mark_emitted("c1", "d", ["u3"])
    states = {
        row["identity"]: (row["state"], row["idempotency_key"]) for row in ledger.outcomes("c1")
    }
    assert states["u1"] == ("sent", "key-u1")
    assert states["u3"][0] == "sent"
    assert ledger.pending_keys("c1", "d") == set()
    # Only marks, no records: still applied.
    ledger.record([_delivery("u4")], dispatch_key="d", at=NOW)
    ledger.record([], dispatch_key="d", at=NOW, emitted=("c1", ["u4"]))
    assert ledger.pending_keys("c1", "d") == set()
    ledger.close()


def _delivery(identity, key=None):
    return Delivery(
        source="campaign",
        source_id="c1",
        identity=identity,
        channel="push",
        payload={"title": "t", "body": "b"},
        send_at=NOW,
        idempotency_key=key or f"key-{identity}",
        to=("tok",),
    )


def test_sqlite_ledger_takes_two_transactions_per_chunk(tmp_path, small_chunks, monkeypatch):
    monkeypatch.setattr(run_module, "ENCODED_CHUNKS", 1)  # more, smaller chunks to count
    ws = _make("sqlite", tmp_path)
    statements = []
    ws.ledger._conn.set_trace_callback(statements.append)
    out = tmp_path / "out.jsonl"
    with tidings.JsonLinesSink(out) as sink:
        result = ws.raise_business_event(RAISE, sink=sink)
    ws.ledger._conn.set_trace_callback(None)
    chunks = -(-result.summary.candidates // (SMALL_CHUNK * run_module.ENCODED_CHUNKS))
    begins = sum(1 for s in statements if s.startswith("BEGIN IMMEDIATE"))
    updates = sum(1 for s in statements if s.startswith("UPDATE outcomes SET emitted"))
    assert chunks > 4
    # A claim and a record (with the previous chunk's marks) per chunk, plus the last mark.
    # Chunks without deliveries to claim take one fewer.
    assert chunks + 1 <= begins <= 2 * chunks + 1
    assert updates == chunks  # every chunk marked once
    rows = ws.ledger.outcomes("drama")
    assert len(rows) == result.summary.candidates
    assert "pending" not in {row["state"] for row in rows}
    assert sum(row["state"] == "sent" for row in rows) == result.summary.sent == CAP
    ws.close()


class _WatchingLedger(SQLiteLedger):
    """Checks, whenever a chunk is marked emitted, that its deliveries are in the file."""

    out = None
    checked = 0

    def _check(self, identities):
        on_disk = {json.loads(line)["identity"] for line in self.out.read_text().splitlines()}
        for row in self.outcomes("drama"):
            if row["identity"] in identities and row["state"] == "pending":
                assert row["identity"] in on_disk
                self.checked += 1

    def record_rows(self, rows, *, dispatch_key, emitted=None):
        if emitted is not None:
            self._check(set(emitted[1]))
        super().record_rows(rows, dispatch_key=dispatch_key, emitted=emitted)

    def mark_emitted(self, source_id, dispatch_key, identities):
        self._check(set(identities))
        super().mark_emitted(source_id, dispatch_key, identities)


@pytest.mark.parametrize("workers", [1, 2])
def test_sink_is_flushed_before_a_chunk_is_marked_emitted(tmp_path, small_chunks, workers):
    ledger = _WatchingLedger(tmp_path / "ledger.db")
    ledger.out = tmp_path / "out.jsonl"
    ws = _workspace(SQLiteStore(tmp_path / "store.db"), ledger, workers)
    with tidings.JsonLinesSink(ledger.out) as sink:
        result = ws.raise_business_event(RAISE, sink=sink)
    assert result.summary.sent == CAP
    assert ledger.checked == CAP
    ws.close()


@pytest.mark.parametrize("kind_", ["memory", "sqlite"])
def test_a_failing_sink_leaves_only_its_own_chunk_to_redo(kind_, tmp_path, small_chunks):
    """The chunk before the failure was handed over in full: it is marked emitted."""
    reference = _make(kind_, tmp_path, name="ref")
    expected = reference.raise_business_event(RAISE)
    expected_lines = [encode_line(d) for d in expected.deliveries]
    assert len(expected_lines) == CAP
    reference.close()

    ws = _make(kind_, tmp_path, name="crash")
    seen = []

    class SinkError(Exception):
        pass

    def failing(record):
        if len(seen) == 3 * SMALL_CHUNK + 5:  # in the fourth chunk
            raise SinkError
        seen.append(record)

    with pytest.raises(SinkError):
        ws.raise_business_event(RAISE, sink=failing)
    again = []
    ws.raise_business_event(RAISE, sink=again.append)
    assert {r.identity for r in seen[: 3 * SMALL_CHUNK]}.isdisjoint({r.identity for r in again})
    # Exactly the fourth chunk onwards is redone: the three chunks before were marked.
    assert len(again) == expected.summary.candidates - 3 * SMALL_CHUNK
    first = {r.identity: r for r in seen}
    first.update({r.identity: r for r in again})
    deliveries = sorted(
        (encode_line(r) for r in first.values() if isinstance(r, Delivery)), key=str
    )
    assert deliveries == sorted(expected_lines)
    assert "pending" not in {row["state"] for row in ws.ledger.outcomes("drama")}
    ws.close()


# -- 3. JSON lines encoded by the per-user stage ------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150)
@given(
    payload=st.dictionaries(text, json_value, max_size=4),
    identity=text.filter(str.strip),
    to=st.lists(text, max_size=3),
)
def test_encode_line_is_the_sinks_json(payload, identity, to):
    delivery = Delivery(
        source="bulletin",
        source_id="b",
        identity=identity,
        channel="push",
        payload=payload,
        send_at=NOW + timedelta(minutes=7),
        idempotency_key="k",
        to=tuple(to),
    )
    expected = json.dumps(delivery.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert encode_line(delivery) == expected
    skip = Skip("b", identity, "render_error", "détail ✨", "body")
    assert encode_line(skip) == json.dumps(
        skip.to_dict(), ensure_ascii=False, separators=(",", ":")
    )


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("include_skips", [True, False])
def test_json_lines_file_is_byte_identical_to_encoding_in_the_sink(
    tmp_path, small_chunks, workers, include_skips
):
    plain = tmp_path / "plain.jsonl"
    ws = _make("sqlite", tmp_path, name="plain")
    with plain.open("w", encoding="utf-8") as handle:

        def encode_here(record):  # a callable sink: nothing is pre-encoded for it
            if include_skips or isinstance(record, Delivery):
                handle.write(
                    json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"))
                )
                handle.write("\n")

        ws.raise_business_event(RAISE, sink=encode_here)
    ws.close()

    fast = tmp_path / "fast.jsonl"
    ws = _make("sqlite", tmp_path, workers=workers, name=f"fast-{workers}")
    with tidings.JsonLinesSink(fast, include_skips=include_skips) as sink:
        result = ws.raise_business_event(RAISE, sink=sink)
    ws.close()
    assert result.summary.sent == CAP
    assert fast.read_bytes() == plain.read_bytes()
    assert "✨" in fast.read_text(encoding="utf-8")  # not escaped: ensure_ascii=False


def test_pre_encoded_lines_respect_resume(tmp_path):
    out = tmp_path / "out.jsonl"
    delivery = _delivery("u1")
    with tidings.JsonLinesSink(out) as sink:
        sink.write_encoded(delivery, encode_line(delivery))
    with tidings.JsonLinesSink(out, include_skips=False) as sink:
        sink.resume({"key-u1"})
        sink.write_encoded(delivery, encode_line(delivery))  # already there: not again
        skip = Skip("c1", "u2", "control_group")
        sink.write_encoded(skip, encode_line(skip))  # skips not wanted
        assert sink.written == 0
    assert out.read_text(encoding="utf-8") == encode_line(delivery) + "\n"


@pytest.mark.parametrize("include_skips", [True, False])
def test_a_chunk_of_lines_keeps_skips_only_for_a_sink_that_wants_them(tmp_path, include_skips):
    from tidings.storage.ledger import outcome_row

    records = [_delivery("u1"), Skip("c1", "u2", "control_group"), _delivery("u3")]
    at = NOW.isoformat()
    rows = [outcome_row(record, "d", at) for record in records]
    lines = [encode_line(record) for record in records]
    out = tmp_path / "out.jsonl"
    with tidings.JsonLinesSink(out, include_skips=include_skips) as sink:
        sink.write_lines(lines, rows)
        sink.write_lines(lines[:1], rows[:1])  # a chunk without skips
    wanted = [*lines, lines[0]] if include_skips else [lines[0], lines[2], lines[0]]
    assert out.read_text(encoding="utf-8").splitlines() == wanted


def test_verdicts_packed_by_a_worker_unpack_to_equal_records(tmp_path):
    """Workers send plain tuples back; the dispatching process rebuilds the same records."""
    _, bulletin = _query()
    plan = DispatchPlan(
        source="bulletin",
        source_id="drama",
        message=bulletin.message,
        dispatch_key="d1",
        now=NOW,
        hold_out=HoldOut(scope="bulletin:drama", percent=30),
        cap=CAP,
        preferences=bulletin.delivery,
        ttl_seconds=bulletin.ttl_seconds,
        namespaces={"BusinessEvent": {"genre": "Drama"}},
    )
    profiles, _ = viewers(120, varied=True)
    store = MemoryStore()
    store.upsert_profiles(tidings.UserProfile.model_validate(p) for p in profiles)
    items = [
        Entry(Person.of(p), None, i % 7 == 0)
        for i, p in enumerate(store.get_profiles([p["identity"] for p in profiles]).values())
    ]
    decided = run_module.decide(plan, items, encode=True)
    decided.append(Skip("drama", "odd", "render_error", "boom", "body"))
    assert {type(v) for v in decided} == {Skip, Ready}
    assert {v.reason for v in decided if isinstance(v, Skip)} >= {
        "control_group",
        "no_push_token",
        "targeting_cap",
        "render_error",
    }
    unpacked = unpack(plan, pack(decided))
    assert unpacked == decided
    for before, after in zip(decided, unpacked, strict=True):
        if isinstance(before, Ready):
            assert after.line == encode_line(after.delivery)  # the line still matches its record
