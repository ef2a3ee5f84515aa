"""Opening the workspace a command names with ``--db``, with one-line errors.

``--db`` is an SQLite file, or a PostgreSQL DSN (``postgresql://...``), which
must hold a schema created by ``tidings migrate --db <dsn>``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit, urlunsplit

from ..errors import ArgumentError
from ..storage._dsn import is_postgres_dsn
from ..workspace import Workspace
from ._command import UsageError

if TYPE_CHECKING:
    from ..storage.parquet import ParquetStore

__all__ = ["DB_HELP", "check_parquet", "db_argument", "db_label", "on_parquet", "open_workspace"]

DB_HELP: Final = "the workspace: an SQLite file, or a PostgreSQL DSN (postgresql://...)"


def db_argument(text: str) -> Path | str:
    """The ``--db`` argument type: a DSN stays text, anything else is a file path."""
    return text if is_postgres_dsn(text) else Path(text)


def db_label(db: Path | str) -> str:
    """``db`` for showing (reports, messages): a DSN without its password."""
    if isinstance(db, Path):
        return str(db)
    parts = urlsplit(db)
    if parts.password is None:
        return db
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@contextmanager
def open_workspace(
    db: Path | str, *, create: bool = False, workers: int = 1
) -> Iterator[Workspace]:
    """The workspace in ``db`` (an SQLite file or a PostgreSQL DSN), closed on exit.

    Args:
        db: The ``--db`` file or DSN.
        create: Create the SQLite file when it does not exist (``tidings import``);
            a PostgreSQL schema is only ever created by ``tidings migrate``.
        workers: Passed to :meth:`tidings.Workspace.sqlite` / ``postgres``.

    Raises:
        UsageError: ``db`` is missing (unless ``create``), a directory, or not an
            SQLite database (or not one tidings can open); a DSN whose server
            cannot be reached or whose schema is missing or at another version.
    """
    if isinstance(db, str):
        try:
            ws = Workspace.postgres(db, workers=workers)
        except ArgumentError as exc:
            raise UsageError(f"--db {db_label(db)}: {' '.join(str(exc).split())}") from None
        try:
            yield ws
        finally:
            ws.close()
        return
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


def on_parquet(ws: Workspace, root: Path) -> Workspace:
    """``ws``'s definitions and ledger with the audience read from Parquet under ``root``.

    The returned workspace shares ``ws``'s ledger and registry (closed with ``ws``).

    Raises:
        UsageError: ``root`` is not a directory of Parquet partitions, or pyarrow is
            not installed (the ``dask`` extra).
    """
    return Workspace(
        check_parquet(root), ws.ledger, ws.registry, clock=ws.clock, workers=ws.workers
    )


def check_parquet(root: Path) -> ParquetStore:
    """The Parquet store at ``root``, which must hold partitions.

    Raises:
        UsageError: no partitions there, or pyarrow is not installed (the ``dask`` extra).
    """
    try:
        from ..storage.parquet import ParquetStore
    except ImportError as exc:
        raise UsageError(f"--parquet needs pyarrow: pip install 'tidings[dask]' ({exc})") from None
    store = ParquetStore(root)
    if not root.is_dir() or not store.partition_names():
        raise UsageError(f"--parquet {root}: no partitions (expected {root}/profiles/PART/)")
    return store
