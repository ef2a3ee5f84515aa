"""Opening the SQLite workspace a command names with ``--db``, with one-line errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ..errors import ArgumentError
from ..workspace import Workspace
from ._command import UsageError

__all__ = ["open_workspace"]


@contextmanager
def open_workspace(db: Path, *, create: bool = False, workers: int = 1) -> Iterator[Workspace]:
    """The SQLite workspace in ``db``, closed on exit.

    Args:
        db: The ``--db`` file.
        create: Create the file when it does not exist (``tidings import``).
        workers: Passed to :meth:`tidings.Workspace.sqlite`.

    Raises:
        UsageError: ``db`` is missing (unless ``create``), a directory, or not an
            SQLite database (or not one tidings can open).
    """
    if db.is_dir():
        raise UsageError(f"--db {db} is a directory, not a workspace file")
    if not create and not db.is_file():
        raise UsageError(f"no workspace at {db} (run `tidings import --db {db}` first)")
    if db.is_file():
        _check_tables(db, create=create)
    try:
        ws = Workspace.sqlite(db, workers=workers)
    except ArgumentError as exc:  # Workspace.sqlite wraps the sqlite3/OS error
        raise UsageError(f"--db {db} is not a tidings workspace ({exc.__cause__ or exc})") from None
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"--db {db} is not a tidings workspace ({exc})") from None
    try:
        yield ws
    finally:
        ws.close()


# Tables only a tidings workspace has (the store's, the ledger's, the registry's).
_TIDINGS_TABLES: Final = frozenset({"store_schema_version", "outcomes", "definitions"})


def _check_tables(db: Path, *, create: bool) -> None:
    """Refuse a file that is not a tidings workspace before anything writes to it.

    Read only: an SQLite database of another application is never given tidings'
    tables. An empty file (or an empty database) is a new workspace for ``import``.
    """
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return  # cannot read it read-only (locked, no -shm file yet): opening it will tell
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"--db {db} is not a tidings workspace ({exc})") from None
    if tables and not tables & _TIDINGS_TABLES:
        shown = ", ".join(sorted(tables)[:5])
        raise UsageError(
            f"--db {db} is an SQLite database of something else, not a tidings workspace "
            f"(tables: {shown})"
        )
    if not tables and not create:
        raise UsageError(f"--db {db} is empty, not a workspace (run `tidings import` first)")
