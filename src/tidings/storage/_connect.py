"""Opening an SQLite file the way every tidings SQLite component does."""

from __future__ import annotations

import sqlite3

__all__ = ["connect"]


def connect(path: str, *, timeout: float = 30.0, schema: str | None = None) -> sqlite3.Connection:
    """An autocommit connection to ``path`` in WAL mode, usable from any thread.

    The caller serialises use of the connection (a lock) and begins its own
    transactions. ``schema`` (``CREATE ... IF NOT EXISTS`` statements) is run
    once: idempotent, safe when several processes open the file at once. The
    connection is closed again if the file cannot be set up (not a database).

    Raises:
        sqlite3.DatabaseError: ``path`` is not an SQLite database, or cannot be opened.
    """
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if schema is not None:
            conn.executescript(schema)
    except BaseException:
        conn.close()
        raise
    return conn
