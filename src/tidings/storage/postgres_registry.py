"""The PostgreSQL registry: definitions, saved responses and the activity log, shared."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from ._pg import PostgresBacked

__all__ = ["PostgresRegistry"]


class PostgresRegistry(PostgresBacked):
    """A registry in PostgreSQL; safe to share between processes and machines.

    Opened as every :class:`~tidings.storage._pg.PostgresBacked` component is (a DSN,
    a schema, or connections shared with a store and ledger).
    """

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Registry.save_definition`."""
        with self._connections.connection() as conn:
            conn.execute(
                "INSERT INTO definitions (kind, key, body) VALUES (%s, %s, %s) "
                "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                [kind, key, json.dumps(definition)],
            )

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Registry.definitions`."""
        with self._connections.connection() as conn:
            rows = conn.execute(
                "SELECT key, body FROM definitions WHERE kind = %s", [kind]
            ).fetchall()
        return {key: json.loads(body) for key, body in rows}

    def next_sequence(self, name: str) -> int:
        """See :meth:`Registry.next_sequence`."""
        with self._connections.connection() as conn:
            row = conn.execute(
                "INSERT INTO sequences (name, value) VALUES (%s, 1) ON CONFLICT (name) "
                "DO UPDATE SET value = sequences.value + 1 RETURNING value",
                [name],
            ).fetchone()
        assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
        return int(row[0])

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Registry.saved_response`."""
        with self._connections.connection() as conn:
            row = conn.execute(
                "SELECT body FROM responses WHERE request_key = %s", [request_key]
            ).fetchone()
        return json.loads(row[0]) if row else None

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Registry.save_response`."""
        with self._connections.connection() as conn:
            conn.execute(
                "INSERT INTO responses (request_key, body) VALUES (%s, %s) "
                "ON CONFLICT (request_key) DO NOTHING",
                [request_key, json.dumps(response)],
            )

    def log_activity(self, entry: dict[str, Any], *, once: str | None = None) -> bool:
        """See :meth:`Registry.log_activity`: marker and entry in one transaction."""

        def work(conn: psycopg.Connection[Any]) -> bool:
            if once is not None:
                inserted = conn.execute(
                    "INSERT INTO responses (request_key, body) VALUES (%s, %s) "
                    "ON CONFLICT (request_key) DO NOTHING",
                    [once, json.dumps({"logged": True})],
                ).rowcount
                if inserted != 1:
                    return False
            conn.execute("INSERT INTO activity (body) VALUES (%s)", [json.dumps(entry)])
            return True

        return self._connections.transaction(work)

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Registry.activity`."""
        with self._connections.connection() as conn:
            rows = conn.execute("SELECT body FROM activity ORDER BY seq DESC").fetchall()
        return [json.loads(body) for (body,) in rows]
