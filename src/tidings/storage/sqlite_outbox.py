"""The outbox of an SQLite ledger: a table in the ledger's file (see :mod:`.outbox`)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ..models.records import Delivery
from ._connect import immediate
from .outbox import (
    DELIVERY_STATES,
    DeliveryUpdate,
    QueuedDelivery,
    delivery_from_dict,
    outbox_rows,
)

__all__ = ["OUTBOX_SCHEMA", "SQLiteOutbox"]


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
        with immediate(self._conn, self._lock) as conn:
            return work(conn)

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`Outbox.queue`."""
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
        """See :meth:`Outbox.take_due`."""
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
        """See :meth:`Outbox.settle`."""
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
        """See :meth:`Outbox.delivery_counts`."""
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
        """See :meth:`Outbox.delivery_states`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, source_id, identity, channel, state, attempts, last_error, code "
                "FROM outbox WHERE source_id = ? ORDER BY seq",
                (source_id,),
            ).fetchall()
        names = ("key", "source_id", "identity", "channel", "state", "attempts", "last_error")
        return [dict(zip((*names, "code"), row, strict=True)) for row in rows]
