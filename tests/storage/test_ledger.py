"""The ledger: atomic targeting-cap claims, in memory and in SQLite, across processes."""

import multiprocessing
import sqlite3
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.dispatch.caps import decide_claims
from tidings.models.preferences import FrequencyCap
from tidings.storage import ClaimRequest, MemoryLedger, SQLiteLedger


def claim_under_cap(ledger, source_id, identities, cap):
    """Targeting-cap-only claims (no frequency caps): the identities admitted."""
    requests = [
        ClaimRequest(identity=i, key=f"{source_id}:{i}", channel="push", day="d", week="w")
        for i in dict.fromkeys(identities)
    ]
    decide = partial(decide_claims, cap=cap, frequency_caps=())
    results = ledger.claim(source_id, requests, decide=decide, history=False)
    return {identity for identity, verdict in results.items() if verdict == "ok"}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger(request, tmp_path):
    if request.param == "postgres":
        from tidings.storage.postgres_ledger import PostgresLedger

        led = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    else:
        led = MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "l.db")
    yield led
    led.close()


def test_claims_admit_new_users_until_the_cap(ledger):
    assert claim_under_cap(ledger, "c1", ["a", "b", "c"], 2) == {"a", "b"}
    assert ledger.cap_used("c1") == 2
    # already-admitted users are admitted again without a new slot
    assert claim_under_cap(ledger, "c1", ["c", "a", "d"], 2) == {"a"}
    assert ledger.cap_used("c1") == 2
    assert claim_under_cap(ledger, "c2", ["c"], 2) == {"c"}


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.sampled_from([f"u{i}" for i in range(30)]), max_size=12), max_size=8
    ),
    cap=st.integers(min_value=1, max_value=20),
)
def test_cap_never_exceeded(batches, cap):
    memory = MemoryLedger()
    sqlite_ledger = SQLiteLedger(":memory:")
    admitted_ever: set[str] = set()
    for batch in batches:
        got = claim_under_cap(memory, "c", batch, cap)
        assert got == claim_under_cap(sqlite_ledger, "c", batch, cap)
        assert got <= set(batch)
        admitted_ever |= got
        assert len(admitted_ever) <= cap
    assert memory.cap_used("c") == sqlite_ledger.cap_used("c") == len(admitted_ever)


def _claim_worker(path: str, worker: int, cap: int, queue) -> None:
    ledger = SQLiteLedger(path)
    admitted: set[str] = set()
    for batch in range(20):
        ids = [f"w{worker}-u{batch}-{i}" for i in range(10)]
        admitted |= claim_under_cap(ledger, "campaign", ids, cap)
    ledger.close()
    queue.put(sorted(admitted))


def test_cap_never_exceeded_by_several_processes_sharing_one_file(tmp_path):
    path = str(tmp_path / "shared.db")
    SQLiteLedger(path).close()
    cap = 137
    # spawn, not fork: a fork while another test's threads hold a lock can hang the child.
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_claim_worker, args=(path, w, cap, queue)) for w in range(4)]
    for proc in workers:
        proc.start()
    results = [queue.get(timeout=60) for _ in workers]
    for proc in workers:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    admitted = [identity for result in results for identity in result]
    assert len(admitted) == len(set(admitted)) == cap
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM cap_claims").fetchone()
    assert count == cap


def test_sqlite_and_memory_ledgers_store_the_same_outcomes(tmp_path):
    from datetime import UTC, datetime

    from tidings.models.records import Delivery, Skip

    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    records = [
        Delivery("campaign", "c", "u1", "push", {"title": "t"}, at, "key-1", ("tok",)),
        Skip("c", "u2", "control_group", "held out"),
    ]
    stored = []
    for led in (MemoryLedger(), SQLiteLedger(tmp_path / "o.db")):
        led.record(records, dispatch_key="d", at=at)
        led.mark_emitted("c", "d", ["u1"])
        stored.append(led.outcomes("c"))
        led.close()
    assert stored[0] == stored[1]
    assert [row["state"] for row in stored[0]] == ["sent", "skipped"]
    assert stored[0][0]["decided_at"] == at.isoformat()


def test_sources_lists_every_source_with_outcomes(ledger):
    from datetime import UTC, datetime

    from tidings.models.records import Skip

    at = datetime(2026, 11, 27, tzinfo=UTC)
    assert ledger.sources() == []
    ledger.record(
        [Skip("b", "u1", "control_group"), Skip("a", "u2", "filtered_out")], dispatch_key="d", at=at
    )
    assert ledger.sources() == ["a", "b"]


def test_outcomes_pending_and_emitted_agree_on_every_ledger(ledger):
    from datetime import UTC, datetime

    from tidings.models.records import Delivery, Skip

    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    records = [
        Delivery("campaign", "c", "u1", "push", {"title": "t"}, at, "key-1", ("tok",)),
        Delivery("campaign", "c", "u3", "push", {"title": "t"}, at, "key-3", ("tok",)),
        Skip("c", "u2", "control_group", "held out"),
        Skip("c", "u4", "filtered_out"),
    ]
    ledger.record(records, dispatch_key="d", at=at)
    assert ledger.pending_keys("c", "d") == {"key-1", "key-3"}
    assert ledger.pending_skips("c", "d") == {"u2", "u4"}
    ledger.record([], dispatch_key="d", at=at, emitted=("c", ["u1", "u2"]))
    assert ledger.pending_keys("c", "d") == {"key-3"}
    assert ledger.pending_skips("c", "d") == {"u4"}
    assert ledger.emitted("c", "d", ["u1", "u2", "u3"]) == {
        "u1": ("sent", None),
        "u2": ("skipped", "control_group"),
    }
    # An emitted outcome is never replaced; a pending one is.
    ledger.record(
        [Skip("c", "u1", "filtered_out"), Skip("c", "u3", "filtered_out")], dispatch_key="d", at=at
    )
    rows = {row["identity"]: row for row in ledger.outcomes("c")}
    assert [rows[i]["state"] for i in ("u1", "u2", "u3", "u4")] == [
        "sent",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert rows["u3"]["reason"] == "filtered_out"
    assert [row["identity"] for row in ledger.outcomes("c")] == ["u1", "u3", "u2", "u4"]


def test_no_frequency_claim_without_a_frequency_cap(ledger):
    """Sends claimed with no frequency cap (a targeting cap only) leave no frequency claim.

    So a frequency cap configured later counts only sends made under it, as for
    sources that never claim (no cap of any kind); and a capped dispatch of a
    million users writes no million ``freq_claims`` rows.
    """
    daily = FrequencyCap(limit=1, period="day")
    assert claim_under_cap(ledger, "c1", ["a", "b"], 5) == {"a", "b"}
    request = ClaimRequest(identity="a", key="later:a", channel="push", day="d", week="w")
    decide = partial(decide_claims, cap=None, frequency_caps=(daily,))
    assert ledger.claim("c2", [request], decide=decide, history=True) == {"a": "ok"}
    again = ClaimRequest(identity="a", key="again:a", channel="push", day="d", week="w")
    assert ledger.claim("c2", [again], decide=decide, history=True) == {"a": "frequency_cap"}
    # A repeat of a counted key is admitted without counting twice.
    assert ledger.claim("c2", [request], decide=decide, history=True) == {"a": "ok"}
    if isinstance(ledger, SQLiteLedger):
        with sqlite3.connect(ledger.path) as conn:
            keys = [row[0] for row in conn.execute("SELECT key FROM freq_claims")]
        assert keys == ["later:a"]


def _delivery_rows(identities, *, dispatch_key="d", at="2026-11-27T12:00:00+00:00"):
    return [
        (at, "c", i, dispatch_key, "pending", None, "push", at, f"key-{i}", 1) for i in identities
    ]


def _states(ledger):
    return {(row["dispatch_key"], row["identity"]): row["state"] for row in ledger.outcomes("c")}


def test_chunk_marks_reach_exactly_the_named_outcomes(ledger):
    """A chunk is marked by the identities named: new rows, replaced rows, other dispatches."""
    first, second = [f"u{i}" for i in range(5)], [f"v{i}" for i in range(5)]
    ledger.record_rows(_delivery_rows(first), dispatch_key="d")
    ledger.record_rows(_delivery_rows(second), dispatch_key="d", emitted=("c", first))
    states = _states(ledger)
    assert {states["d", i] for i in first} == {"sent"}
    assert {states["d", i] for i in second} == {"pending"}
    # Replaced (still pending) rows and new rows in one chunk, then marked together.
    mixed = [*second[:2], "w0", "w1"]
    ledger.record_rows(_delivery_rows(mixed), dispatch_key="d")
    ledger.mark_emitted("c", "d", mixed)
    states = _states(ledger)
    assert {states["d", i] for i in mixed} == {"sent"}
    assert {states["d", i] for i in second[2:]} == {"pending"}
    # A mark names part of the last chunk only: the rest stays pending.
    last = [f"x{i}" for i in range(4)]
    ledger.record_rows(_delivery_rows(last), dispatch_key="d")
    ledger.mark_emitted("c", "d", last[:2])
    states = _states(ledger)
    assert [states["d", i] for i in last] == ["sent", "sent", "pending", "pending"]
    # The same identities in another dispatch are not marked by this one's mark.
    ledger.record_rows(_delivery_rows(last, dispatch_key="e"), dispatch_key="e")
    ledger.mark_emitted("c", "d", last)
    states = _states(ledger)
    assert {states["e", i] for i in last} == {"pending"}
    assert {states["d", i] for i in last} == {"sent"}


def test_a_chunk_of_rows_decided_at_different_times_is_stored_as_given(ledger):
    rows = [
        *_delivery_rows(["u1"], at="2026-11-27T12:00:00+00:00"),
        *_delivery_rows(["u2"], at="2026-11-28T08:30:00+00:00"),
    ]
    ledger.record_rows(rows, dispatch_key="d", emitted=None)
    ledger.mark_emitted("c", "d", ["u1", "u2"])
    stored = {row["identity"]: row for row in ledger.outcomes("c")}
    assert [stored[i]["decided_at"] for i in ("u1", "u2")] == [rows[0][0], rows[1][0]]
    assert {row["state"] for row in stored.values()} == {"sent"}


@pytest.mark.parametrize("count", [1, 7, 512, 777, 1000, 1300])
def test_every_row_of_a_chunk_is_stored_once_whatever_its_size(ledger, count):
    identities = [f"u{i:05d}" for i in range(count)]
    rows = _delivery_rows(identities)
    ledger.record_rows(rows, dispatch_key="d")
    ledger.record_rows([], dispatch_key="d", emitted=("c", identities))
    stored = ledger.outcomes("c")
    assert [row["identity"] for row in stored] == identities
    assert [row["idempotency_key"] for row in stored] == [f"key-{i}" for i in identities]
    assert {row["state"] for row in stored} == {"sent"}


@given(st.integers(0, 5000), st.sampled_from([1, 2, 64, 128, 512]))
def test_sqlite_row_groups_add_up_to_the_chunk(count, largest):
    from tidings.storage._sqlite_outcomes import _groups

    sizes = _groups(count, largest)
    assert sum(sizes) == count
    assert all(size <= largest and size & (size - 1) == 0 for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
