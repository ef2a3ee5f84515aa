"""The registry: definitions, id sequences, saved responses and the activity log.

What a workspace *is* (its campaigns, bulletins, business events, settings) and what
it has answered (idempotent responses, the business activity log), as opposed to the
:class:`~tidings.storage.ledger.Ledger`, which holds what was decided for whom.

Two implementations with identical behaviour: :class:`MemoryRegistry` and
:class:`SQLiteRegistry` (which may share its file with an SQLite store and ledger).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ._connect import connect, immediate

__all__ = ["MemoryRegistry", "Registry", "SQLiteRegistry"]


@runtime_checkable
class Registry(Protocol):
    """Durable definitions and replayable answers of a workspace."""

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

    def log_activity(self, entry: dict[str, Any], *, once: str | None = None) -> bool:
        """Append one entry to the business activity log; whether it was appended.

        With ``once``, a marker key: the entry is appended only if the marker is
        not saved yet, and the marker (a saved response ``{"logged": true}``) and
        the entry are written in one transaction, so a crash never keeps one
        without the other (a resumed dispatch logs its bulletin exactly once).
        """
        ...

    def activity(self) -> list[dict[str, Any]]:
        """The business activity log, newest first."""
        ...

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...


class MemoryRegistry:
    """An in-memory registry (tests, previews, single-process services)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._definitions: dict[str, dict[str, dict[str, Any]]] = {}
        self._sequences: dict[str, int] = {}
        self._responses: dict[str, dict[str, Any]] = {}
        self._activity: list[dict[str, Any]] = []

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Registry.save_definition`."""
        # A JSON round trip, as SQLite stores it: later edits of the caller's dict don't leak in.
        self._definitions.setdefault(kind, {})[key] = json.loads(json.dumps(definition))

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Registry.definitions`."""
        return dict(self._definitions.get(kind, {}))

    def next_sequence(self, name: str) -> int:
        """See :meth:`Registry.next_sequence`."""
        with self._lock:
            value = self._sequences.get(name, 0) + 1
            self._sequences[name] = value
            return value

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Registry.saved_response`."""
        return self._responses.get(request_key)

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Registry.save_response`."""
        self._responses.setdefault(request_key, response)

    def log_activity(self, entry: dict[str, Any], *, once: str | None = None) -> bool:
        """See :meth:`Registry.log_activity`."""
        with self._lock:
            if once is not None:
                if once in self._responses:
                    return False
                self._responses[once] = {"logged": True}
            self._activity.append(dict(entry))
            return True

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Registry.activity`."""
        return list(reversed(self._activity))

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
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


class SQLiteRegistry:
    """A registry in an SQLite file (WAL); safe to share between processes.

    The tables live beside the store's and the ledger's when they are given the
    same path (:meth:`tidings.Workspace.sqlite` does). One connection per
    registry, used under a lock so threads may share it.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = connect(self.path, timeout=timeout, schema=_SCHEMA)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Registry.save_definition`."""
        self._execute(
            "INSERT INTO definitions (kind, key, body) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            (kind, key, json.dumps(definition)),
        )

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Registry.definitions`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, body FROM definitions WHERE kind = ?", (kind,)
            ).fetchall()
        return {key: json.loads(body) for key, body in rows}

    def next_sequence(self, name: str) -> int:
        """See :meth:`Registry.next_sequence`."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO sequences (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            )
            return int(cursor.fetchone()[0])

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Registry.saved_response`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM responses WHERE request_key = ?", (request_key,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Registry.save_response`."""
        self._execute(
            "INSERT OR IGNORE INTO responses (request_key, body) VALUES (?, ?)",
            (request_key, json.dumps(response)),
        )

    def log_activity(self, entry: dict[str, Any], *, once: str | None = None) -> bool:
        """See :meth:`Registry.log_activity`: marker and entry in one IMMEDIATE transaction."""
        with immediate(self._conn, self._lock) as conn:
            fresh = once is None or (
                conn.execute(
                    "INSERT OR IGNORE INTO responses (request_key, body) VALUES (?, ?)",
                    (once, json.dumps({"logged": True})),
                ).rowcount
                == 1
            )
            if fresh:
                conn.execute("INSERT INTO activity (body) VALUES (?)", (json.dumps(entry),))
        return fresh

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Registry.activity`."""
        with self._lock:
            rows = self._conn.execute("SELECT body FROM activity ORDER BY seq DESC").fetchall()
        return [json.loads(body) for (body,) in rows]

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            self._conn.close()
