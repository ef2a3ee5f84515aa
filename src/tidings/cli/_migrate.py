"""``tidings migrate``: create or upgrade a workspace's schema to this tidings' version.

PostgreSQL schemas are only ever created or changed here (every process that
opens the workspace then checks the version); an SQLite file gets the same
command, creating its tables and recording its schema version.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import TextIO

from ..storage._dsn import is_postgres_dsn
from ..storage.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION
from ._command import EXIT_OK, Command, UsageError
from ._workspace import DB_HELP, db_argument, db_label, open_workspace

__all__ = ["MIGRATE"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=db_argument, required=True, help=DB_HELP)


def _sqlite_version(db: Path) -> int:
    """The schema version an SQLite workspace file records (0: new or empty)."""
    if not db.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT max(version) FROM store_schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return 0  # no version table yet: opening the workspace tells whether it is one
    return int(row[0]) if row and row[0] is not None else 0


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    db: Path | str = args.db
    if isinstance(db, str) and is_postgres_dsn(db):
        import psycopg

        from ..storage._pg import migrate

        try:
            before, after = migrate(db)
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())
            raise UsageError(f"--db {db_label(db)}: cannot connect ({reason})") from None
    else:
        path = Path(db)
        before = _sqlite_version(path)
        with open_workspace(path, create=True):
            after = SQLITE_SCHEMA_VERSION
    report = {"db": db_label(db), "from_version": before, "to_version": after}
    out.write(json.dumps(report) + "\n")
    return EXIT_OK


MIGRATE = Command(
    name="migrate",
    help="create or upgrade a workspace's schema (SQLite file or PostgreSQL DSN)",
    description="Create or upgrade the tables of a workspace to this tidings' schema "
    "version. A PostgreSQL workspace must be migrated before any other command uses it.",
    add_arguments=_add_arguments,
    run=_run,
)
