"""Opening the SQLite workspace a command names with ``--db``, with one-line errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    try:
        ws = Workspace.sqlite(db, workers=workers)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"--db {db} is not a tidings workspace ({exc})") from None
    try:
        yield ws
    finally:
        ws.close()
