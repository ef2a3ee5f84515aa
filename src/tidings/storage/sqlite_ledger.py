"""The SQLite ledger: claims and outcomes in one file, shared safely between processes.

Every cap claim is one ``BEGIN IMMEDIATE`` transaction, so several processes
sharing one file never exceed a cap (SQLite serialises writers; no Python lock
is involved across processes).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._connect import connect, ensure_column, immediate
from ._sqlite_outcomes import Fresh, insert_outcomes, largest_group, mark_outcomes
from .claims import ClaimDecider, ClaimRequest, ClaimResult, ClaimState, FrequencyClaim
from .outbox import OutboxForwarding
from .outcomes import OUTCOME_COLUMNS, EmittedOutcome, OutcomeRow, RecordsAsRows
from .sqlite_outbox import SQLiteOutbox

__all__ = ["SQLiteLedger"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cap_claims (
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (source_id, identity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cap_counts (
    source_id TEXT PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at TEXT NOT NULL,
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    dispatch_key TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    channel TEXT,
    send_at TEXT,
    idempotency_key TEXT,
    emitted INTEGER NOT NULL DEFAULT 0,
    version INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS outcomes_decision ON outcomes (source_id, dispatch_key, identity);
CREATE TABLE IF NOT EXISTS freq_claims (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    channel TEXT NOT NULL,
    day TEXT NOT NULL,
    week TEXT NOT NULL,
    counted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS freq_claims_user ON freq_claims (identity, week, day);
"""

# No index on outcomes (source_id, identity): no query reads outcomes by those two
# alone, and the index cost a write per outcome. A file made before keeps its
# ``outcomes_source`` index (it is left alone: the file may be read-only).


class SQLiteLedger(RecordsAsRows, OutboxForwarding):
    """A ledger in an SQLite file (WAL); safe to share between processes.

    One connection per ledger, used under a lock so threads may share it.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = connect(self.path, timeout=timeout, schema=_SCHEMA)
        try:
            # A file from before store schema version 2 has no outcomes.version.
            ensure_column(self._conn, "outcomes", "version", "INTEGER")
        except BaseException:
            self._conn.close()
            raise
        self._outbox = SQLiteOutbox(self._conn, self._lock)
        self._fresh: Fresh | None = None
        self._largest_group = largest_group(self._conn)

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """See :meth:`Ledger.claimed`."""
        with self._lock:
            rows = self._in_chunks(
                "SELECT identity FROM cap_claims WHERE source_id = ? AND identity IN ({marks})",
                (source_id,),
                list(identities),
            )
        return {r[0] for r in rows}

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        row = self._write("SELECT used FROM cap_counts WHERE source_id = ?", (source_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def _in_chunks(self, sql: str, head: Sequence[Any], items: Sequence[str]) -> list[Any]:
        """Run ``sql`` (with one ``{marks}`` placeholder list) over ``items`` in chunks."""
        rows: list[Any] = []
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(self._conn.execute(sql.format(marks=marks), (*head, *chunk)).fetchall())
        return rows

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        decide: ClaimDecider,
        history: bool,
    ) -> dict[str, ClaimResult]:
        """See :meth:`Ledger.claim`: one IMMEDIATE transaction for the whole batch."""
        if not requests:
            return {}
        identities = [r.identity for r in requests]
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT used FROM cap_counts WHERE source_id = ?", (source_id,)
                ).fetchone()
                used = row[0] if row else 0
                claimed = {
                    r[0]
                    for r in self._in_chunks(
                        "SELECT identity FROM cap_claims WHERE source_id = ? "
                        "AND identity IN ({marks})",
                        (source_id,),
                        identities,
                    )
                }
                # Keys are kept only under frequency caps (``history``): none to find else.
                known = (
                    {
                        r[0]
                        for r in self._in_chunks(
                            "SELECT key FROM freq_claims WHERE key IN ({marks})",
                            (),
                            [r.key for r in requests],
                        )
                    }
                    if history
                    else set()
                )
                weeks = sorted({r.week for r in requests})
                rows = (
                    [
                        FrequencyClaim(*r)
                        for r in self._in_chunks(
                            "SELECT identity, channel, day, week FROM freq_claims "  # noqa: S608 - placeholders only
                            f"WHERE counted = 1 AND week IN ({','.join('?' * len(weeks))}) "
                            "AND identity IN ({marks})",
                            weeks,
                            identities,
                        )
                    ]
                    if history
                    else []
                )
                decision = decide(
                    requests,
                    ClaimState(used, frozenset(claimed), frozenset(known), tuple(rows)),
                )
                new_cap, new_freq = decision.new_slots, decision.new_keys
                if new_cap:
                    conn.executemany(
                        "INSERT INTO cap_claims (source_id, identity) VALUES (?, ?)",
                        [(source_id, i) for i in new_cap],
                    )
                    conn.execute(
                        "INSERT INTO cap_counts (source_id, used) VALUES (?, ?) "
                        "ON CONFLICT (source_id) DO UPDATE SET used = excluded.used",
                        (source_id, used + len(new_cap)),
                    )
                if new_freq:
                    conn.executemany(
                        "INSERT INTO freq_claims (key, identity, channel, day, week, counted) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (r.key, r.identity, r.channel, r.day, r.week, int(r.apply_frequency))
                            for r in new_freq
                        ],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return decision.results

    def record_rows(
        self,
        rows: Sequence[OutcomeRow],
        *,
        dispatch_key: str,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record_rows`: one IMMEDIATE transaction, a few statements."""
        marks = emitted is not None and bool(emitted[1])
        if not rows and not marks:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if emitted is not None and marks:
                    self._mark_emitted(emitted[0], dispatch_key, emitted[1])
                self._fresh = None
                if rows:
                    # Remembered when all are new: the next mark finds them by range.
                    self._fresh = insert_outcomes(self._conn, rows, self._largest_group)
                self._conn.execute("COMMIT")
            except BaseException:
                self._fresh = None
                self._conn.execute("ROLLBACK")
                raise

    def _mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """The UPDATE of :meth:`mark_emitted`, inside the caller's transaction."""
        fresh, self._fresh = self._fresh, None
        mark_outcomes(self._conn, fresh, source_id, dispatch_key, identities)

    def mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """See :meth:`Ledger.mark_emitted`."""
        with immediate(self._conn, self._lock):
            self._mark_emitted(source_id, dispatch_key, identities)

    def emitted(
        self, source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> dict[str, EmittedOutcome]:
        """See :meth:`Ledger.emitted`."""
        with self._lock:
            rows = self._in_chunks(
                "SELECT identity, state, reason FROM outcomes WHERE source_id = ? "
                "AND dispatch_key = ? AND emitted = 1 AND identity IN ({marks})",
                (source_id, dispatch_key),
                list(identities),
            )
        return {identity: EmittedOutcome(state, reason) for identity, state, reason in rows}

    def any_emitted(self, source_id: str, dispatch_key: str) -> bool:
        """See :meth:`Ledger.any_emitted`."""
        cursor = self._write(
            "SELECT 1 FROM outcomes WHERE source_id = ? AND dispatch_key = ? AND emitted = 1 "
            "LIMIT 1",
            (source_id, dispatch_key),
        )
        return cursor.fetchone() is not None

    def pending_keys(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_keys`."""
        cursor = self._write(
            "SELECT idempotency_key FROM outcomes WHERE source_id = ? AND dispatch_key = ? "
            "AND state = 'pending'",
            (source_id, dispatch_key),
        )
        return {row[0] for row in cursor.fetchall()}

    def pending_skips(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_skips`."""
        cursor = self._write(
            "SELECT identity FROM outcomes WHERE source_id = ? AND dispatch_key = ? "
            "AND state = 'skipped' AND emitted = 0",
            (source_id, dispatch_key),
        )
        return {row[0] for row in cursor.fetchall()}

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        cursor = self._write(
            f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM outcomes "  # noqa: S608 - fixed column names
            "WHERE source_id = ? ORDER BY seq",
            (source_id,),
        )
        return [dict(zip(OUTCOME_COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def sources(self) -> list[str]:
        """See :meth:`Ledger.sources`."""
        cursor = self._write("SELECT DISTINCT source_id FROM outcomes ORDER BY source_id")
        return [row[0] for row in cursor.fetchall()]

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            self._conn.close()
