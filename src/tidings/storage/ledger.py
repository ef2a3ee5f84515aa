"""The ledger: what was decided for whom, targeting-cap counters, definitions, responses.

Two implementations with identical behaviour: :class:`MemoryLedger` and
:class:`SQLiteLedger`. The SQLite ledger makes every cap claim one
``BEGIN IMMEDIATE`` transaction, so several processes sharing one file never
exceed a cap (SQLite serialises writers; no Python lock is involved).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..models.records import Delivery, Record

__all__ = ["Ledger", "MemoryLedger", "SQLiteLedger"]


@runtime_checkable
class Ledger(Protocol):
    """Durable state of dispatches: caps, decisions, definitions, replayable responses."""

    def claim_targets(self, source_id: str, identities: Sequence[str], cap: int) -> set[str]:
        """Atomically admit users under a targeting cap of ``cap`` distinct users.

        A user admitted before (any earlier trigger) is admitted again without using
        a new slot. New users are admitted in the given order while slots remain.
        Returns the admitted identities.
        """
        ...

    def cap_used(self, source_id: str) -> int:
        """How many distinct users the source has admitted so far."""
        ...

    def record(self, records: Iterable[Record], *, dispatch_key: str) -> None:
        """Store the outcome of each record (delivery or skip) of a dispatch."""
        ...

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """Every stored outcome of a source, in insertion order."""
        ...

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """Store (or replace) a definition as JSON."""
        ...

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every stored definition of ``kind``, by key."""
        ...

    def next_sequence(self, name: str) -> int:
        """The next value (1, 2, ...) of a named counter (campaign ids)."""
        ...

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """The response stored for an idempotency key, if any."""
        ...

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """Store a request's response under its idempotency key (first one wins)."""
        ...

    def log_activity(self, entry: dict[str, Any]) -> None:
        """Append one entry to the business activity log."""
        ...

    def activity(self) -> list[dict[str, Any]]:
        """The business activity log, newest first."""
        ...

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...


def _outcome(record: Record, dispatch_key: str) -> dict[str, Any]:
    if isinstance(record, Delivery):
        return {
            "source_id": record.source_id,
            "identity": record.identity,
            "dispatch_key": dispatch_key,
            "state": "sent",
            "reason": None,
            "channel": record.channel,
            "send_at": record.send_at.isoformat(),
            "idempotency_key": record.idempotency_key,
        }
    return {
        "source_id": record.source_id,
        "identity": record.identity,
        "dispatch_key": dispatch_key,
        "state": "skipped",
        "reason": record.reason,
        "channel": None,
        "send_at": None,
        "idempotency_key": None,
    }


class MemoryLedger:
    """An in-memory ledger (tests, previews, single-process services)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, set[str]] = {}
        self._outcomes: dict[str, list[dict[str, Any]]] = {}
        self._definitions: dict[str, dict[str, dict[str, Any]]] = {}
        self._sequences: dict[str, int] = {}
        self._responses: dict[str, dict[str, Any]] = {}
        self._activity: list[dict[str, Any]] = []

    def claim_targets(self, source_id: str, identities: Sequence[str], cap: int) -> set[str]:
        """See :meth:`Ledger.claim_targets`."""
        with self._lock:
            claimed = self._claims.setdefault(source_id, set())
            admitted: set[str] = set()
            for identity in identities:
                if identity in claimed:
                    admitted.add(identity)
                elif len(claimed) < cap:
                    claimed.add(identity)
                    admitted.add(identity)
            return admitted

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        return len(self._claims.get(source_id, ()))

    def record(self, records: Iterable[Record], *, dispatch_key: str) -> None:
        """See :meth:`Ledger.record`."""
        with self._lock:
            for record in records:
                self._outcomes.setdefault(record.source_id, []).append(
                    _outcome(record, dispatch_key)
                )

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        return list(self._outcomes.get(source_id, ()))

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_definition`."""
        self._definitions.setdefault(kind, {})[key] = json.loads(json.dumps(definition))

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Ledger.definitions`."""
        return dict(self._definitions.get(kind, {}))

    def next_sequence(self, name: str) -> int:
        """See :meth:`Ledger.next_sequence`."""
        with self._lock:
            value = self._sequences.get(name, 0) + 1
            self._sequences[name] = value
            return value

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Ledger.saved_response`."""
        return self._responses.get(request_key)

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_response`."""
        self._responses.setdefault(request_key, response)

    def log_activity(self, entry: dict[str, Any]) -> None:
        """See :meth:`Ledger.log_activity`."""
        self._activity.append(dict(entry))

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Ledger.activity`."""
        return list(reversed(self._activity))

    def close(self) -> None:
        """Nothing to release."""


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
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    dispatch_key TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    channel TEXT,
    send_at TEXT,
    idempotency_key TEXT
);
CREATE INDEX IF NOT EXISTS outcomes_source ON outcomes (source_id, identity);
CREATE TABLE IF NOT EXISTS definitions (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS responses (request_key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""

_OUTCOME_COLUMNS = (
    "source_id",
    "identity",
    "dispatch_key",
    "state",
    "reason",
    "channel",
    "send_at",
    "idempotency_key",
)


class SQLiteLedger:
    """A ledger in an SQLite file (WAL); safe to share between processes.

    One connection per ledger, used under a lock so threads may share it.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # CREATE ... IF NOT EXISTS: idempotent, safe when several processes open at once.
        self._conn.executescript(_SCHEMA)

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def claim_targets(self, source_id: str, identities: Sequence[str], cap: int) -> set[str]:
        """See :meth:`Ledger.claim_targets`: one IMMEDIATE transaction per call."""
        if not identities:
            return set()
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT used FROM cap_counts WHERE source_id = ?", (source_id,)
                ).fetchone()
                used = row[0] if row else 0
                admitted: set[str] = set()
                new: list[str] = []
                unique = list(dict.fromkeys(identities))
                for start in range(0, len(unique), 500):
                    chunk = unique[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    admitted.update(
                        r[0]
                        for r in conn.execute(
                            f"SELECT identity FROM cap_claims WHERE source_id = ? "  # noqa: S608 - placeholders only
                            f"AND identity IN ({marks})",
                            (source_id, *chunk),
                        )
                    )
                for identity in unique:
                    if identity not in admitted and used + len(new) < cap:
                        new.append(identity)
                conn.executemany(
                    "INSERT INTO cap_claims (source_id, identity) VALUES (?, ?)",
                    [(source_id, i) for i in new],
                )
                conn.execute(
                    "INSERT INTO cap_counts (source_id, used) VALUES (?, ?) "
                    "ON CONFLICT (source_id) DO UPDATE SET used = excluded.used",
                    (source_id, used + len(new)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            admitted.update(new)
            return admitted

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        row = self._write("SELECT used FROM cap_counts WHERE source_id = ?", (source_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def record(self, records: Iterable[Record], *, dispatch_key: str) -> None:
        """See :meth:`Ledger.record`."""
        rows = [tuple(_outcome(r, dispatch_key)[c] for c in _OUTCOME_COLUMNS) for r in records]
        if not rows:
            return
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    f"INSERT INTO outcomes ({', '.join(_OUTCOME_COLUMNS)}) "  # noqa: S608 - fixed column names
                    f"VALUES ({', '.join('?' * len(_OUTCOME_COLUMNS))})",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        cursor = self._write(
            f"SELECT {', '.join(_OUTCOME_COLUMNS)} FROM outcomes "  # noqa: S608 - fixed column names
            "WHERE source_id = ? ORDER BY seq",
            (source_id,),
        )
        return [dict(zip(_OUTCOME_COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_definition`."""
        self._write(
            "INSERT INTO definitions (kind, key, body) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            (kind, key, json.dumps(definition)),
        )

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Ledger.definitions`."""
        cursor = self._write("SELECT key, body FROM definitions WHERE kind = ?", (kind,))
        return {key: json.loads(body) for key, body in cursor.fetchall()}

    def next_sequence(self, name: str) -> int:
        """See :meth:`Ledger.next_sequence`."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO sequences (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            )
            return int(cursor.fetchone()[0])

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Ledger.saved_response`."""
        row = self._write(
            "SELECT body FROM responses WHERE request_key = ?", (request_key,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_response`."""
        self._write(
            "INSERT OR IGNORE INTO responses (request_key, body) VALUES (?, ?)",
            (request_key, json.dumps(response)),
        )

    def log_activity(self, entry: dict[str, Any]) -> None:
        """See :meth:`Ledger.log_activity`."""
        self._write("INSERT INTO activity (body) VALUES (?)", (json.dumps(entry),))

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Ledger.activity`."""
        cursor = self._write("SELECT body FROM activity ORDER BY seq DESC")
        return [json.loads(body) for (body,) in cursor.fetchall()]

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            self._conn.close()
