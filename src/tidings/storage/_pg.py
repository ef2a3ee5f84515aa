"""PostgreSQL plumbing shared by the store, ledger and registry: connections, retries, schema.

Every component of a PostgreSQL workspace draws connections from one
:class:`Connections` (a small free list: a connection is taken for one operation or
one transaction and given back, so threads may share the components). Tables live
in a schema of their own (``tidings`` by default), created and upgraded only by the
explicit, versioned :func:`migrate` (``tidings migrate --db postgresql://...``);
opening a workspace whose schema is missing or older is refused with a message
saying so.

Transactions run at READ COMMITTED and take row locks (``SELECT ... FOR UPDATE``)
or transaction-scoped advisory locks where they decide something (cap claims);
no table is ever locked. A transaction that PostgreSQL aborts as a serialisation
failure or a deadlock is retried (up to :data:`RETRIES` times, with jittered
backoff): callers never see those errors.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, NamedTuple, TypeVar

import psycopg
from psycopg import errors as pg_errors

from ..errors import TidingsError

__all__ = [
    "DEFAULT_SCHEMA",
    "RETRIES",
    "SCHEMA_VERSION",
    "Connections",
    "Migration",
    "PostgresBacked",
    "migrate",
    "open_checked",
    "schema_version",
]

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA: Final = "tidings"
RETRIES: Final = 20
"""Attempts of one transaction that PostgreSQL aborts as a serialisation failure or deadlock."""

_RETRYABLE: Final = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
_SCHEMA_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _dsn_schema(conn: psycopg.Connection[Any]) -> str:
    """The schema a connection's DSN names (``-c tidings.schema=NAME``), else the default."""
    row = conn.execute("SELECT current_setting('tidings.schema', true)").fetchone()
    return str(row[0]) if row is not None and row[0] else DEFAULT_SCHEMA


def _check_schema_name(schema: str) -> str:
    if not _SCHEMA_NAME.match(schema):
        raise TidingsError(
            f"schema name {schema!r} must be lowercase letters, digits and underscores",
            field="schema",
        )
    return schema


class Connections:
    """Connections to one PostgreSQL database with ``search_path`` set to one schema.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URI.
        schema: The schema holding tidings' tables; by default the DSN's
            ``tidings.schema`` setting (``options=-c tidings.schema=NAME``), else
            ``tidings``.

    Raises:
        TidingsError: the schema name is not a plain lowercase identifier.
        psycopg.OperationalError: the server cannot be reached.
    """

    def __init__(self, dsn: str, *, schema: str | None = None) -> None:
        self.dsn = dsn
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._closed = False
        # Connect now, not on first use: an unreachable server fails here.
        first = psycopg.connect(dsn, autocommit=True)
        try:
            self.schema = _check_schema_name(schema or _dsn_schema(first))
            self._setup(first)
        except BaseException:
            first.close()
            raise
        self._idle.append(first)

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT set_config('search_path', %s, false), "
            "set_config('standard_conforming_strings', 'on', false)",
            [self.schema],
        )

    def take(self) -> psycopg.Connection[Any]:
        """An idle connection (or a new one); hand it back with :meth:`give`."""
        with self._lock:
            if self._closed:
                raise psycopg.InterfaceError("the workspace's connections are closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
        conn = psycopg.connect(self.dsn, autocommit=True)
        try:
            self._setup(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def give(self, conn: psycopg.Connection[Any]) -> None:
        """Return a connection taken with :meth:`take` (closed if it is broken or we are)."""
        healthy = (
            not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        )
        with self._lock:
            if healthy and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one or more autocommit statements."""
        conn = self.take()
        try:
            yield conn
        finally:
            self.give(conn)

    def transaction(self, work: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """Run ``work(conn)`` in one transaction, retried when PostgreSQL asks for it.

        ``work`` must be safe to run again: everything it did is rolled back
        before a retry.
        """
        for attempt in range(1, RETRIES + 1):
            with self.connection() as conn:
                try:
                    with conn.transaction():
                        return work(conn)
                except _RETRYABLE as exc:
                    if attempt == RETRIES:
                        raise
                    logger.debug("retrying a transaction (%s), attempt %d", exc.sqlstate, attempt)
            time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 8)))  # noqa: S311 - jitter
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every idle connection; connections in use close when given back. Idempotent."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# -- the schema, versioned --------------------------------------------------------------

# Each entry upgrades the schema from the previous version; never edit a released one.
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (  # version 1: store, ledger and registry
        """CREATE TABLE profiles (
            identity TEXT COLLATE "C" PRIMARY KEY,
            name TEXT,
            email TEXT,
            push_tokens TEXT NOT NULL DEFAULT '[]',
            timezone TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            props JSONB GENERATED ALWAYS AS (properties::jsonb) STORED
        )""",
        """CREATE TABLE events (
            id BIGSERIAL PRIMARY KEY,
            identity TEXT COLLATE "C" NOT NULL,
            name TEXT NOT NULL,
            ts BIGINT NOT NULL,
            properties TEXT NOT NULL DEFAULT '{}',
            props JSONB GENERATED ALWAYS AS (properties::jsonb) STORED
        )""",
        "CREATE INDEX events_identity_name_ts ON events (identity, name, ts)",
        "CREATE INDEX events_identity_ts ON events (identity, ts)",
        """CREATE TABLE event_props (
            event_name TEXT NOT NULL,
            prop TEXT NOT NULL,
            value TEXT NOT NULL,
            identity TEXT COLLATE "C" NOT NULL,
            last_ts BIGINT NOT NULL,
            PRIMARY KEY (event_name, prop, value, identity)
        )""",
        """CREATE TABLE cap_claims (
            source_id TEXT NOT NULL,
            identity TEXT NOT NULL,
            PRIMARY KEY (source_id, identity)
        )""",
        "CREATE TABLE cap_counts (source_id TEXT PRIMARY KEY, used BIGINT NOT NULL)",
        """CREATE TABLE outcomes (
            seq BIGSERIAL PRIMARY KEY,
            decided_at TEXT NOT NULL,
            source_id TEXT NOT NULL,
            identity TEXT NOT NULL,
            dispatch_key TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            channel TEXT,
            send_at TEXT,
            idempotency_key TEXT,
            emitted BOOLEAN NOT NULL DEFAULT FALSE,
            UNIQUE (source_id, dispatch_key, identity)
        )""",
        "CREATE INDEX outcomes_source ON outcomes (source_id, identity)",
        """CREATE TABLE freq_claims (
            key TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            channel TEXT NOT NULL,
            day TEXT NOT NULL,
            week TEXT NOT NULL,
            counted BOOLEAN NOT NULL
        )""",
        "CREATE INDEX freq_claims_user ON freq_claims (identity, week, day)",
        """CREATE TABLE definitions (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        )""",
        "CREATE TABLE sequences (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "CREATE TABLE responses (request_key TEXT PRIMARY KEY, body TEXT NOT NULL)",
        "CREATE TABLE activity (seq BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)",
    ),
    (  # version 2: the senders' outbox (``due``: seconds since the epoch)
        """CREATE TABLE outbox (
            seq BIGSERIAL PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            source_id TEXT NOT NULL,
            identity TEXT NOT NULL,
            channel TEXT NOT NULL,
            delivery TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            code INTEGER,
            due DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX outbox_due ON outbox (state, due)",
        "CREATE INDEX outbox_source ON outbox (source_id, state)",
    ),
    (  # version 3: External Trigger recipients named by email (``to.email``)
        "CREATE INDEX profiles_email ON profiles (email)",
    ),
    (  # version 4: the campaign or bulletin version behind each outcome (NULL before)
        "ALTER TABLE outcomes ADD COLUMN version INTEGER",
    ),
)

SCHEMA_VERSION: Final = len(_MIGRATIONS)
"""The schema version this code reads and writes."""

_MIGRATION_LOCK: Final = 0x7469_6469_6E67  # "tiding": one migration at a time per database


def schema_version(conn: psycopg.Connection[Any], schema: str) -> int:
    """The schema version of ``schema`` in the connected database (0: none yet)."""
    found = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
        "AND table_name = 'schema_version'",
        [schema],
    ).fetchone()
    if found is None:
        return 0
    row = conn.execute(
        psycopg.sql.SQL("SELECT max(version) FROM {}.schema_version").format(
            psycopg.sql.Identifier(schema)
        )
    ).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else 0


class Migration(NamedTuple):
    """What :func:`migrate` did: the schema version before and after."""

    before: int
    after: int


def migrate(dsn: str, *, schema: str | None = None) -> Migration:
    """Create or upgrade the tidings schema in a PostgreSQL database.

    Each pending migration runs in its own transaction, under an advisory lock so
    concurrent ``migrate`` calls wait for each other. Idempotent.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URI.
        schema: The schema to create or upgrade (default: as :class:`Connections`).

    Returns:
        The schema version before and after.

    Raises:
        TidingsError: the database holds a newer schema than this tidings knows.
    """
    with psycopg.connect(dsn, autocommit=True) as conn:
        schema = _check_schema_name(schema or _dsn_schema(conn))
        name = psycopg.sql.Identifier(schema)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            before = schema_version(conn, schema)
            if before > SCHEMA_VERSION:
                raise TidingsError(
                    f"schema {schema!r} is at version {before}; this tidings understands up to "
                    f"{SCHEMA_VERSION}: upgrade tidings",
                    field="schema",
                )
            conn.execute(psycopg.sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
            conn.execute("SELECT set_config('search_path', %s, true)", [schema])
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            for version in range(before + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[version - 1]:
                    conn.execute(statement.encode())
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [version])
                logger.info("migrated schema %s to version %d", schema, version)
    return Migration(before, SCHEMA_VERSION)


def require_schema(connections: Connections) -> None:
    """Refuse a database whose tidings schema is missing, older or newer than this code's.

    Raises:
        TidingsError: naming the version found and what to do.
    """
    with connections.connection() as conn:
        found = schema_version(conn, connections.schema)
    if found == SCHEMA_VERSION:
        return
    if found > SCHEMA_VERSION:
        raise TidingsError(
            f"schema {connections.schema!r} is at version {found}; this tidings understands "
            f"up to {SCHEMA_VERSION}: upgrade tidings",
            field="schema",
        )
    raise TidingsError(
        f"schema {connections.schema!r} is at version {found}, this tidings needs "
        f"{SCHEMA_VERSION}: run `tidings migrate --db <dsn>` first",
        field="schema",
    )


def open_checked(dsn: str, schema: str | None, connections: Connections | None) -> Connections:
    """``connections``, or new ones to ``dsn``, checked to hold the current schema.

    Connections opened here are closed again when the check fails.
    """
    opened = connections or Connections(dsn, schema=schema)
    try:
        require_schema(opened)
    except BaseException:
        opened.close()
        raise
    return opened


class PostgresBacked:
    """A component on PostgreSQL connections: the ledger and the registry.

    Args:
        dsn: A libpq connection string or ``postgresql://`` URI.
        schema: The schema holding the tables (default: the DSN's ``tidings.schema``,
            else ``tidings``).
        connections: Connections shared with the store and the other components.
    """

    def __init__(
        self, dsn: str = "", *, schema: str | None = None, connections: Connections | None = None
    ) -> None:
        self._connections = open_checked(dsn, schema, connections)

    def close(self) -> None:
        """Close the connections (shared ones too). Idempotent."""
        self._connections.close()
