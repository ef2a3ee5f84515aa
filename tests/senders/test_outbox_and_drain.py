"""The outbox in both ledgers, and draining it through a real webhook sender."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.senders.conftest import webhook_delivery

from tidings.senders import Backoff, OutboxSink, SendResult, WebhookSender, drain
from tidings.storage import MemoryLedger, SQLiteLedger
from tidings.storage.outbox import DeliveryUpdate

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FAST = Backoff(base=0.01, cap=0.02, retries=1, max_wait=5.0)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def ledger(request, tmp_path):
    if request.param == "postgres":
        from tidings.storage.postgres_ledger import PostgresLedger

        made = PostgresLedger(request.getfixturevalue("postgres_dsn"))
    else:
        made = MemoryLedger() if request.param == "memory" else SQLiteLedger(tmp_path / "l.db")
    yield made
    made.close()


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def test_queue_is_idempotent_by_key(ledger):
    ds = [webhook_delivery("http://h/x", n) for n in range(3)]
    assert ledger.queue(ds, at=T0) == 3
    assert ledger.queue([*ds, webhook_delivery("http://h/x", 9)], at=T0) == 1
    assert ledger.delivery_counts("c1") == {"pending": 4, "sent": 0, "delivered": 0, "failed": 0}


def test_take_leases_and_settle_never_reopens_a_delivered_row(ledger):
    ledger.queue([webhook_delivery("http://h/x", n) for n in range(3)], at=T0)
    taken = ledger.take_due(2, now=T0, lease=60, channels={"webhook"})
    assert [q.attempts for q in taken] == [0, 0]
    assert ledger.take_due(10, now=T0, lease=60, channels={"email"}) == []
    # the leased rows are not due again until the lease ends
    assert len(ledger.take_due(10, now=T0, lease=60)) == 1
    assert ledger.take_due(10, now=T0 + timedelta(seconds=30), lease=60) == []
    key = taken[0].delivery.idempotency_key
    ledger.settle([DeliveryUpdate(key, "delivered", code=200)], now=T0)
    ledger.settle([DeliveryUpdate(key, "failed", error="late")], now=T0)
    retaken = ledger.take_due(10, now=T0 + timedelta(seconds=61), lease=60)
    assert key not in {q.delivery.idempotency_key for q in retaken}
    assert len(retaken) == 2
    rows = {r["key"]: r for r in ledger.delivery_states("c1")}
    assert rows[key]["state"] == "delivered"
    assert rows[key]["last_error"] is None


def test_drain_records_delivered_failed_and_retry(ledger, receiver):
    receiver.script = {
        "/flaky": [(503, {}, "busy")],
        "/bad": [(400, {}, "no such hook")],
        "/later": [(429, {"Retry-After": "600"}, "")],
    }
    ds = [
        webhook_delivery(f"{receiver.url}/{path}", n)
        for n, path in enumerate(["ok", "flaky", "bad", "later"])
    ]
    ledger.queue(ds, at=T0)
    clock = Clock(T0)
    with WebhookSender(backoff=FAST) as sender:
        report = drain(ledger, sender, batch=3, clock=clock)
        assert report.to_dict() == {"taken": 4, "delivered": 2, "failed": 1, "retry": 1}
        rows = {r["identity"]: r for r in ledger.delivery_states("c1")}
        assert rows["u0"]["state"] == rows["u1"]["state"] == "delivered"
        assert rows["u1"]["attempts"] == 2
        assert rows["u2"]["state"] == "failed"
        assert "no such hook" in rows["u2"]["last_error"]
        assert rows["u3"]["state"] == "pending"
        # nothing is due before the Retry-After; a resumed run sends only u3
        assert drain(ledger, sender, clock=clock).taken == 0
        clock.at = T0 + timedelta(seconds=601)
        assert drain(ledger, sender, clock=clock).to_dict() == {
            "taken": 1,
            "delivered": 1,
            "failed": 0,
            "retry": 0,
        }
    assert receiver.accepted == {d.idempotency_key: 1 for d in ds if "bad" not in str(d.to)}
    assert ledger.delivery_counts("c1") == {"pending": 0, "sent": 0, "delivered": 3, "failed": 1}


class _Always:
    channels = frozenset({"webhook"})

    def __init__(self, status):
        self.status = status
        self.calls = 0

    def send(self, deliveries):
        self.calls += 1
        return [SendResult(d.idempotency_key, self.status, "503 busy", 503) for d in deliveries]

    def close(self):
        pass


def test_max_attempts_turns_retry_into_failed(ledger):
    ledger.queue([webhook_delivery("http://h/x", 1)], at=T0)
    clock = Clock(T0)
    sender = _Always("retry")
    for _ in range(3):
        drain(ledger, sender, max_attempts=3, clock=clock)
        clock.at += timedelta(hours=2)
    (row,) = ledger.delivery_states("c1")
    assert row["state"] == "failed"
    assert row["attempts"] == 3
    assert row["last_error"].startswith("gave up after 3 attempts")
    assert sender.calls == 3


def test_outbox_sink_queues_on_flush_and_passes_records_on(ledger):
    seen = []
    sink = OutboxSink(ledger, seen.append, clock=lambda: T0)
    sink(webhook_delivery("http://h/x", 1))
    assert ledger.delivery_counts()["pending"] == 0
    sink.flush()
    assert ledger.delivery_counts()["pending"] == 1
    assert len(seen) == 1
