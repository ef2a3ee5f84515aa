"""The outbox: deliveries waiting to leave, and what became of each one.

A delivery's status goes ``pending -> sent -> delivered | failed``:

- ``pending``: queued, due at ``due`` (now, or later after a ``retry`` answer);
- ``sent``: taken by a sender and handed to the provider, not yet answered; the
  take holds a lease, and a ``sent`` row whose lease ran out (its sender died) is
  due again;
- ``delivered``: the provider acknowledged it; final, never taken again;
- ``failed``: refused for good, or out of attempts; final, with the last error.

Rows are keyed by the delivery's idempotency key, so queueing the same delivery
again (a resumed dispatch, a file queued twice) changes nothing. The ledgers
(:class:`~tidings.storage.ledger.MemoryLedger`,
:class:`~tidings.storage.sqlite_ledger.SQLiteLedger`) expose these operations
through the :class:`~tidings.storage.ledger.Ledger` protocol and delegate here.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ..models.records import Delivery

__all__ = [
    "DeliveryState",
    "DeliveryUpdate",
    "MemoryOutbox",
    "QueuedDelivery",
    "SQLiteOutbox",
    "delivery_from_dict",
    "outbox_rows",
]

DeliveryState = Literal["pending", "sent", "delivered", "failed"]
"""Where a queued delivery stands (see the module docstring)."""

DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "sent", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery taken from the outbox, with the attempts made before this take."""

    delivery: Delivery
    attempts: int


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A sender's answer for one taken delivery, as the ledger stores it.

    Attributes:
        key: The delivery's idempotency key.
        state: ``delivered``, ``failed``, or ``pending`` (try again at ``due``).
        attempts: Requests made in this take (the take itself counted one).
        error: The provider's answer or the network error (None when delivered).
        code: The HTTP status or SMTP code, if any.
        due: For ``pending``: when it may be taken again.
    """

    key: str
    state: Literal["delivered", "failed", "pending"]
    attempts: int = 1
    error: str | None = None
    code: int | None = None
    due: datetime | None = None


def outbox_rows(
    deliveries: Sequence[Delivery], at: datetime
) -> list[tuple[str, str, str, str, str, float]]:
    """The outbox's insert parameters for ``deliveries`` queued at ``at``.

    ``(key, source_id, identity, channel, delivery JSON, due)``, in the column order
    of every outbox's ``INSERT`` (SQLite and PostgreSQL share it).
    """
    return [
        (
            d.idempotency_key,
            d.source_id,
            d.identity,
            d.channel,
            json.dumps(d.to_dict(), ensure_ascii=False, separators=(",", ":")),
            at.timestamp(),
        )
        for d in deliveries
    ]


def delivery_from_dict(data: dict[str, Any]) -> Delivery:
    """The :class:`Delivery` of :meth:`Delivery.to_dict` (a queued row, a JSON line).

    Raises:
        ValueError: A field is missing or of the wrong type (the message names it).
    """

    def text(name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
        return value

    source = text("source")
    if source not in ("campaign", "bulletin"):
        raise ValueError("source must be 'campaign' or 'bulletin'")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    to = data.get("to", [])
    if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
        raise ValueError("to must be a list of strings")
    send_at = datetime.fromisoformat(text("send_at"))
    if send_at.tzinfo is None:
        raise ValueError("send_at must have a time zone")
    return Delivery(
        source="campaign" if source == "campaign" else "bulletin",
        source_id=text("source_id"),
        identity=text("identity"),
        channel=text("channel"),
        payload=payload,
        send_at=send_at,
        idempotency_key=text("idempotency_key"),
        to=tuple(to),
    )


def _row(
    delivery: Delivery, state: str, attempts: int, error: str | None, code: int | None
) -> dict[str, Any]:
    return {
        "key": delivery.idempotency_key,
        "source_id": delivery.source_id,
        "identity": delivery.identity,
        "channel": delivery.channel,
        "state": state,
        "attempts": attempts,
        "last_error": error,
        "code": code,
    }


class MemoryOutbox:
    """The outbox of :class:`~tidings.storage.ledger.MemoryLedger`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._open: dict[str, None] = {}  # keys not yet delivered or failed, in queue order

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`tidings.storage.ledger.Ledger.queue`."""
        added = 0
        with self._lock:
            for delivery in deliveries:
                if delivery.idempotency_key in self._rows:
                    continue
                self._rows[delivery.idempotency_key] = {
                    "delivery": delivery,
                    "state": "pending",
                    "attempts": 0,
                    "error": None,
                    "code": None,
                    "due": at.timestamp(),
                }
                self._open[delivery.idempotency_key] = None
                added += 1
        return added

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`tidings.storage.ledger.Ledger.take_due`."""
        moment = now.timestamp()
        taken: list[QueuedDelivery] = []
        with self._lock:
            due = heapq.nsmallest(
                limit,
                (
                    (row["due"], position, key)
                    for position, (key, row) in enumerate(
                        (key, self._rows[key]) for key in self._open
                    )
                    if row["due"] <= moment
                    and (channels is None or row["delivery"].channel in channels)
                ),
            )
            for _, _, key in due:
                row = self._rows[key]
                taken.append(QueuedDelivery(row["delivery"], row["attempts"]))
                row["state"] = "sent"
                row["attempts"] += 1
                row["due"] = moment + lease
        return taken

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`tidings.storage.ledger.Ledger.settle`."""
        with self._lock:
            for update in updates:
                row = self._rows.get(update.key)
                if row is None or row["state"] != "sent":
                    continue
                row["state"] = update.state
                row["attempts"] += max(0, update.attempts - 1)
                row["error"] = update.error
                row["code"] = update.code
                row["due"] = (update.due or now).timestamp()
                if update.state in ("delivered", "failed"):
                    self._open.pop(update.key, None)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`tidings.storage.ledger.Ledger.delivery_counts`."""
        counts: dict[str, int] = dict.fromkeys(DELIVERY_STATES, 0)
        with self._lock:
            for row in self._rows.values():
                if source_id is None or row["delivery"].source_id == source_id:
                    counts[row["state"]] += 1
        return counts

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`tidings.storage.ledger.Ledger.delivery_states`."""
        with self._lock:
            return [
                _row(row["delivery"], row["state"], row["attempts"], row["error"], row["code"])
                for row in self._rows.values()
                if row["delivery"].source_id == source_id
            ]


OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    channel TEXT NOT NULL,
    delivery TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    code INTEGER,
    due REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, due);
CREATE INDEX IF NOT EXISTS outbox_source ON outbox (source_id, state);
"""
"""The outbox table (in the ledger's file); ``due`` is seconds since the epoch."""


class SQLiteOutbox:
    """The outbox of :class:`~tidings.storage.sqlite_ledger.SQLiteLedger`, on its connection.

    Every write is one ``BEGIN IMMEDIATE`` transaction, so two ``tidings send``
    processes on one file never take the same row while its lease holds.
    """

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock) -> None:
        self._conn = conn
        self._lock = lock
        conn.executescript(OUTBOX_SCHEMA)

    def _transaction(self, work: Any) -> Any:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return result

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`tidings.storage.ledger.Ledger.queue`."""
        rows = outbox_rows(deliveries, at)
        if not rows:
            return 0

        def work(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany(
                "INSERT INTO outbox (key, source_id, identity, channel, delivery, state, due) "
                "VALUES (?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (key) DO NOTHING",
                rows,
            )
            return conn.total_changes - before

        return int(self._transaction(work))

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`tidings.storage.ledger.Ledger.take_due`."""
        moment = now.timestamp()
        only = sorted(channels) if channels is not None else None
        where = "state IN ('pending', 'sent') AND due <= ?"
        params: list[Any] = [moment]
        if only is not None:
            where += f" AND channel IN ({','.join('?' * len(only))})"
            params.extend(only)
        params.append(limit)

        def work(conn: sqlite3.Connection) -> list[QueuedDelivery]:
            rows = conn.execute(
                f"SELECT seq, delivery, attempts FROM outbox WHERE {where} "  # noqa: S608 - placeholders only
                "ORDER BY due, seq LIMIT ?",
                params,
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, due = ? WHERE seq = ?",
                [(moment + lease, seq) for seq, _, _ in rows],
            )
            return [
                QueuedDelivery(delivery_from_dict(json.loads(text)), attempts)
                for _, text, attempts in rows
            ]

        result: list[QueuedDelivery] = self._transaction(work)
        return result

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`tidings.storage.ledger.Ledger.settle`."""
        rows = [
            (
                u.state,
                max(0, u.attempts - 1),
                u.error,
                u.code,
                (u.due or now).timestamp(),
                u.key,
            )
            for u in updates
        ]
        if not rows:
            return

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE outbox SET state = ?, attempts = attempts + ?, last_error = ?, "
                "code = ?, due = ? WHERE key = ? AND state = 'sent'",
                rows,
            )

        self._transaction(work)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`tidings.storage.ledger.Ledger.delivery_counts`."""
        counts: dict[str, int] = dict.fromkeys(DELIVERY_STATES, 0)
        with self._lock:
            if source_id is None:
                rows = self._conn.execute(
                    "SELECT state, COUNT(*) FROM outbox GROUP BY state"
                ).fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT state, COUNT(*) FROM outbox WHERE source_id = ? GROUP BY state",
                    (source_id,),
                ).fetchall()
        for state, count in rows:
            counts[state] = int(count)
        return counts

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`tidings.storage.ledger.Ledger.delivery_states`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, source_id, identity, channel, state, attempts, last_error, code "
                "FROM outbox WHERE source_id = ? ORDER BY seq",
                (source_id,),
            ).fetchall()
        names = ("key", "source_id", "identity", "channel", "state", "attempts", "last_error")
        return [dict(zip((*names, "code"), row, strict=True)) for row in rows]
