"""Opening an SQLite file the way every tidings SQLite component does."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["connect", "ensure_column", "immediate"]


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


def ensure_column(conn: sqlite3.Connection, table: str, column: str, declaration: str) -> bool:
    """Add ``column`` to ``table`` unless it is there (or the table is not); whether it was added.

    A schema upgrade of a file written by an older tidings. Idempotent, and safe when
    two processes upgrade the same file at once (the second one finds the column).
    """
    names = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if not names or column in names:
        return False
    try:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    except sqlite3.OperationalError as exc:
        if "duplicate column" not in str(exc):
            raise
        return False
    return True


@contextmanager
def immediate(conn: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction on ``conn``, holding ``lock``.

    Committed when the block ends; rolled back (and the error raised again) when the
    block or the commit raises. Writers in other processes wait for it (SQLite
    serialises writers), so a read-then-write inside is never raced.
    """
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
