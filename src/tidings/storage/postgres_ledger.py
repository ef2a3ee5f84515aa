"""The PostgreSQL ledger: claims and outcomes shared by many processes and machines.

Cap claims are exact under concurrency without table locks. One claim transaction
(READ COMMITTED):

1. locks the source's ``cap_counts`` row (``INSERT ... ON CONFLICT DO NOTHING``, then
   ``SELECT ... FOR UPDATE``): claims of one source run one after another;
2. takes a transaction-scoped advisory lock per requester, in hash order (so two
   transactions never wait for each other in a cycle): claims of different sources
   for the same user (frequency caps) run one after another;
3. reads the :class:`~tidings.storage.ledger.ClaimState` (each statement sees what
   committed before it, and everything relevant is locked), calls the decision, and
   writes the slots and delivery keys it took (``freq_claims.key`` is unique, so a
   delivery key is claimed once, ever).

A serialisation failure or deadlock is retried inside (:class:`~tidings.storage._pg.Connections`).
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): only the fixed outcome column names are spliced.

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import psycopg

from ._pg import Connections, PostgresBacked
from .claims import ClaimDecider, ClaimRequest, ClaimResult, ClaimState, FrequencyClaim
from .outbox import OutboxForwarding
from .outcomes import OUTCOME_COLUMNS, EmittedOutcome, OutcomeRow, RecordsAsRows
from .postgres_outbox import PostgresOutbox
from .postgres_registry import PostgresRegistry as PostgresRegistry

__all__ = ["PostgresLedger", "PostgresRegistry"]

_UPDATES: Final = ", ".join(
    f"{c} = excluded.{c}"
    for c in OUTCOME_COLUMNS
    if c not in ("source_id", "dispatch_key", "identity")
)
_RECORD: Final = (
    f"INSERT INTO outcomes ({', '.join(OUTCOME_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(OUTCOME_COLUMNS))}) "
    "ON CONFLICT (source_id, dispatch_key, identity) "
    f"DO UPDATE SET {_UPDATES} WHERE outcomes.emitted = false"
).encode()
_OUTCOMES: Final = (
    f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes WHERE source_id = %s ORDER BY seq"
).encode()


class PostgresLedger(PostgresBacked, RecordsAsRows, OutboxForwarding):
    """A ledger in PostgreSQL; safe to share between processes and machines.

    Opened as every :class:`~tidings.storage._pg.PostgresBacked` component is (a DSN,
    a schema, or connections shared with a store and registry).
    """

    def __init__(
        self, dsn: str = "", *, schema: str | None = None, connections: Connections | None = None
    ) -> None:
        super().__init__(dsn, schema=schema, connections=connections)
        self._outbox = PostgresOutbox(self._connections)

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        with self._connections.connection() as conn:
            row = conn.execute(
                "SELECT used FROM cap_counts WHERE source_id = %s", [source_id]
            ).fetchone()
        return int(row[0]) if row else 0

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """See :meth:`Ledger.claimed`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT identity FROM cap_claims WHERE source_id = %s AND identity = ANY(%s)",
                [source_id, list(identities)],
            ).fetchall()
        return {r[0] for r in rows}

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        decide: ClaimDecider,
        history: bool,
    ) -> dict[str, ClaimResult]:
        """See :meth:`Ledger.claim`: one transaction, row and advisory locks, retried."""
        if not requests:
            return {}
        identities = sorted({r.identity for r in requests})
        keys = [r.key for r in requests]
        weeks = sorted({r.week for r in requests})

        def work(conn: psycopg.Connection[Any]) -> dict[str, ClaimResult]:
            conn.execute(
                "INSERT INTO cap_counts (source_id, used) VALUES (%s, 0) "
                "ON CONFLICT (source_id) DO NOTHING",
                [source_id],
            )
            row = conn.execute(
                "SELECT used FROM cap_counts WHERE source_id = %s FOR UPDATE", [source_id]
            ).fetchone()
            used = int(row[0]) if row else 0
            conn.execute(
                "SELECT count(pg_advisory_xact_lock(h)) FROM "
                "(SELECT DISTINCT hashtextextended(i, 0) AS h FROM unnest(%s::text[]) i "
                "ORDER BY h) s",
                [identities],
            )
            claimed = {
                r[0]
                for r in conn.execute(
                    "SELECT identity FROM cap_claims WHERE source_id = %s AND identity = ANY(%s)",
                    [source_id, identities],
                )
            }
            # Keys are kept only under frequency caps (``history``): none to find else.
            known = (
                {
                    r[0]
                    for r in conn.execute("SELECT key FROM freq_claims WHERE key = ANY(%s)", [keys])
                }
                if history
                else set()
            )
            rows = (
                [
                    FrequencyClaim(*r)
                    for r in conn.execute(
                        "SELECT identity, channel, day, week FROM freq_claims "
                        "WHERE counted AND week = ANY(%s) AND identity = ANY(%s) ORDER BY key",
                        [weeks, identities],
                    )
                ]
                if history
                else []
            )
            decision = decide(
                requests, ClaimState(used, frozenset(claimed), frozenset(known), tuple(rows))
            )
            if decision.new_slots:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO cap_claims (source_id, identity) VALUES (%s, %s)",
                        [(source_id, i) for i in decision.new_slots],
                    )
                conn.execute(
                    "UPDATE cap_counts SET used = used + %s WHERE source_id = %s",
                    [len(decision.new_slots), source_id],
                )
            if decision.new_keys:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO freq_claims (key, identity, channel, day, week, counted) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                        [
                            (r.key, r.identity, r.channel, r.day, r.week, r.apply_frequency)
                            for r in decision.new_keys
                        ],
                    )
            return decision.results

        return self._connections.transaction(work)

    def record_rows(
        self,
        rows: Sequence[OutcomeRow],
        *,
        dispatch_key: str,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record_rows`: one transaction, one ``executemany``."""
        marks = emitted is not None and bool(emitted[1])
        if not rows and not marks:
            return

        def work(conn: psycopg.Connection[Any]) -> None:
            if emitted is not None and marks:
                self._mark_emitted(conn, emitted[0], dispatch_key, emitted[1])
            if rows:
                with conn.cursor() as cursor:
                    cursor.executemany(_RECORD, rows)

        self._connections.transaction(work)

    @staticmethod
    def _mark_emitted(
        conn: psycopg.Connection[Any], source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> None:
        conn.execute(
            "UPDATE outcomes SET emitted = true, "
            "state = CASE state WHEN 'pending' THEN 'sent' ELSE state END "
            "WHERE source_id = %s AND dispatch_key = %s AND identity = ANY(%s)",
            [source_id, dispatch_key, list(identities)],
        )

    def mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """See :meth:`Ledger.mark_emitted`."""
        self._connections.transaction(
            lambda conn: self._mark_emitted(conn, source_id, dispatch_key, identities)
        )

    def emitted(
        self, source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> dict[str, EmittedOutcome]:
        """See :meth:`Ledger.emitted`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT identity, state, reason FROM outcomes WHERE source_id = %s "
                "AND dispatch_key = %s AND emitted AND identity = ANY(%s)",
                [source_id, dispatch_key, list(identities)],
            ).fetchall()
        return {identity: EmittedOutcome(state, reason) for identity, state, reason in rows}

    def any_emitted(self, source_id: str, dispatch_key: str) -> bool:
        """See :meth:`Ledger.any_emitted`."""
        with self._connections.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM outcomes WHERE source_id = %s AND dispatch_key = %s AND emitted "
                "LIMIT 1",
                [source_id, dispatch_key],
            ).fetchone()
        return row is not None

    def pending_keys(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_keys`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT idempotency_key FROM outcomes WHERE source_id = %s "
                "AND dispatch_key = %s AND state = 'pending'",
                [source_id, dispatch_key],
            ).fetchall()
        return {row[0] for row in rows}

    def pending_skips(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_skips`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT identity FROM outcomes WHERE source_id = %s "
                "AND dispatch_key = %s AND state = 'skipped' AND NOT emitted",
                [source_id, dispatch_key],
            ).fetchall()
        return {row[0] for row in rows}

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        with self._connections.connection() as conn:
            rows = conn.execute(_OUTCOMES, [source_id]).fetchall()
        return [dict(zip(OUTCOME_COLUMNS, row, strict=True)) for row in rows]

    def sources(self) -> list[str]:
        """See :meth:`Ledger.sources`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                'SELECT DISTINCT source_id COLLATE "C" FROM outcomes ORDER BY 1'
            ).fetchall()
        return [row[0] for row in rows]
