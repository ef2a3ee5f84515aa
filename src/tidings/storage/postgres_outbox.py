"""The outbox of a PostgreSQL ledger: rows taken ``FOR UPDATE SKIP LOCKED`` (see :mod:`.outbox`)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import psycopg

from ..models.records import Delivery
from ._pg import Connections
from .outbox import (
    DELIVERY_STATES,
    DeliveryUpdate,
    QueuedDelivery,
    delivery_from_dict,
    outbox_rows,
)

__all__ = ["PostgresOutbox"]


class PostgresOutbox:
    """The outbox table of a PostgreSQL ledger, on the ledger's connections.

    Several senders on several machines never take the same row while its lease holds.
    """

    def __init__(self, connections: Connections) -> None:
        self._connections = connections

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`Outbox.queue`: a delivery key is queued once (unique ``key``)."""
        rows = outbox_rows(deliveries, at)
        if not rows:
            return 0

        def work(conn: psycopg.Connection[Any]) -> int:
            queued = 0
            with conn.cursor() as cursor:
                for row in rows:
                    cursor.execute(
                        "INSERT INTO outbox (key, source_id, identity, channel, delivery, "
                        "state, due) VALUES (%s, %s, %s, %s, %s, 'pending', %s) "
                        "ON CONFLICT (key) DO NOTHING",
                        row,
                    )
                    queued += max(cursor.rowcount, 0)
            return queued

        return self._connections.transaction(work)

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`Outbox.take_due`: rows taken ``FOR UPDATE SKIP LOCKED``."""
        moment = now.timestamp()
        only = sorted(channels) if channels is not None else None

        def work(conn: psycopg.Connection[Any]) -> list[QueuedDelivery]:
            rows = conn.execute(
                "SELECT seq, delivery, attempts FROM outbox "
                "WHERE state IN ('pending', 'sent') AND due <= %s "
                "AND (%s::text[] IS NULL OR channel = ANY(%s::text[])) "
                "ORDER BY due, seq LIMIT %s FOR UPDATE SKIP LOCKED",
                [moment, only, only, limit],
            ).fetchall()
            if rows:
                conn.execute(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, due = %s "
                    "WHERE seq = ANY(%s)",
                    [moment + lease, [seq for seq, _, _ in rows]],
                )
            return [
                QueuedDelivery(delivery_from_dict(json.loads(text)), attempts)
                for _, text, attempts in rows
            ]

        return self._connections.transaction(work)

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`Outbox.settle`."""
        rows = [
            (u.state, max(0, u.attempts - 1), u.error, u.code, (u.due or now).timestamp(), u.key)
            for u in updates
        ]
        if not rows:
            return

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cursor:
                cursor.executemany(
                    "UPDATE outbox SET state = %s, attempts = attempts + %s, last_error = %s, "
                    "code = %s, due = %s WHERE key = %s AND state = 'sent'",
                    rows,
                )

        self._connections.transaction(work)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`Outbox.delivery_counts`."""
        counts: dict[str, int] = dict.fromkeys(DELIVERY_STATES, 0)
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT state, COUNT(*) FROM outbox "
                "WHERE %s::text IS NULL OR source_id = %s GROUP BY state",
                [source_id, source_id],
            ).fetchall()
        for state, count in rows:
            counts[state] = int(count)
        return counts

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Outbox.delivery_states`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT key, source_id, identity, channel, state, attempts, last_error, code "
                "FROM outbox WHERE source_id = %s ORDER BY seq",
                [source_id],
            ).fetchall()
        names = ("key", "source_id", "identity", "channel", "state", "attempts", "last_error")
        return [dict(zip((*names, "code"), row, strict=True)) for row in rows]
