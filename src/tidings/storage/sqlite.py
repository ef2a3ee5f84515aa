"""The SQLite store: profiles and events in one file, audiences computed in SQL.

Schema (version 2, see :data:`SCHEMA_VERSION`; ``store_schema_version`` holds the
number, created on open, idempotently, in a ``BEGIN IMMEDIATE`` transaction so
processes may open at once)::

    profiles     (identity TEXT PRIMARY KEY, name, email, timezone,
                  push_tokens TEXT  -- JSON array
                  properties  TEXT  -- JSON object
                 ) WITHOUT ROWID
    events       (id INTEGER PRIMARY KEY, identity, name,
                  ts INTEGER        -- UTC epoch microseconds (exact, range-queryable)
                  properties TEXT   -- JSON object
                 )
      INDEX events_identity_name_ts (identity, name, ts)   event filters, events_for(name)
      INDEX events_identity_ts      (identity, ts)         "engaged" segment, events_for()
    event_props  (event_name, prop, value TEXT, identity, last_ts INTEGER,
                  PRIMARY KEY (event_name, prop, value, identity)) WITHOUT ROWID

``profiles`` is clustered by identity (``WITHOUT ROWID``), so streaming an
audience in identity order is a sequential read of the table, not an index walk
plus a lookup per row.

``event_props`` serves bulletin matches (``Movie Watched.genre == "Drama"``).
A match names an event property chosen when the bulletin is published, so an
expression index (``json_extract(properties, '$.genre')``) would have to be
created per bulletin and would still need a per-user probe. Instead, every event
property whose value is a string (of at most 256 characters) or an integer is
written to ``event_props`` as text, keeping only the latest timestamp per
(event, property, value, user). A match is then an index range scan that yields
the matching users already in identity order: the audience query starts from
it and joins ``profiles`` by primary key. Further matches are primary-key probes.
The cost is one upserted row per indexable event property on append.

Filters compile to SQL (:mod:`tidings.storage._sql_filters`, the SQLite dialect in
:mod:`tidings.storage._sqlite_filters`; rows decode in
:mod:`tidings.storage._sqlite_rows`) with the exact semantics of
:mod:`tidings.models.evaluation`: values are tested by ``json_type`` (so ``true``
is never ``1`` and a JSON array is never its text), numbers bind as numbers and
strings as strings. Two cases are finished by small Python functions registered
on the connection (still inside SQL, so event filters stay pushed down):
comparing with a list or object operand (``tidings_json_eq``) and property names
that a JSON path cannot spell, such as names holding a double quote
(``tidings_cond``).

Threads and processes: a file store opens one connection per thread, on first
use, and frees it when the thread ends (WAL lets readers in several threads and
processes run alongside one writer, each reading a consistent snapshot; writers
wait up to 30 seconds for each other). ``SQLiteStore(":memory:")`` is private to one
connection, so it shares a single connection between threads
(``check_same_thread=False``) behind a lock taken per statement and per fetched
batch. Writes are ``BEGIN IMMEDIATE`` transactions of at most 5,000 rows, or savepoints
inside one :meth:`SQLiteStore.transaction` (an import is one transaction).

Limits (both stores refuse such data, so they keep agreeing): properties must be
JSON (no NaN or infinity), valid Unicode and free of NUL characters. Integers
beyond 64 bits are stored, but SQLite compares them as floating point.
"""

# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module generates (table aliases, JSON path literals with quotes doubled); every value
# that comes from data or filters is bound as a ``?`` parameter.

from __future__ import annotations

import contextlib
import itertools
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from .._batching import batched
from ..errors import TidingsError, TriggerDataError
from ..models.filters import AudienceQuery
from ..models.users import UserEvent, UserProfile
from ._connect import connect, ensure_column
from ._sql_store import SQLStoreReads, event_rows, profile_row
from ._sqlite_filters import SQLiteFilterCompiler, udf_cond, udf_json_eq
from ._sqlite_rows import PROFILE_COLUMNS
from .memory import BATCH_SIZE

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_T = TypeVar("_T")

SCHEMA_VERSION: Final = 2
"""The schema this code writes; opening a newer file is refused, an older one upgraded.

Version 2: the ledger's ``outcomes`` rows record the version of the campaign or
bulletin that produced them (``version INTEGER``, NULL for older rows).
"""

_FETCH_SIZE: Final = 1_000
_savepoints = itertools.count()
_CHUNK_SIZE: Final = 500  # identities per query: far below SQLite's variable limit

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS profiles (
        identity TEXT PRIMARY KEY NOT NULL,
        name TEXT,
        email TEXT,
        push_tokens TEXT NOT NULL DEFAULT '[]',
        timezone TEXT,
        properties TEXT NOT NULL DEFAULT '{}'
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        identity TEXT NOT NULL,
        name TEXT NOT NULL,
        ts INTEGER NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS events_identity_name_ts ON events (identity, name, ts)",
    "CREATE INDEX IF NOT EXISTS events_identity_ts ON events (identity, ts)",
    # External Trigger calls may name recipients by email (``to.email``).
    "CREATE INDEX IF NOT EXISTS profiles_email ON profiles (email)",
    """CREATE TABLE IF NOT EXISTS event_props (
        event_name TEXT NOT NULL,
        prop TEXT NOT NULL,
        value TEXT NOT NULL,
        identity TEXT NOT NULL,
        last_ts INTEGER NOT NULL,
        PRIMARY KEY (event_name, prop, value, identity)
    ) WITHOUT ROWID""",
)

_UPSERT_PROFILE: Final = """
    INSERT INTO profiles (identity, name, email, push_tokens, timezone, properties)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (identity) DO UPDATE SET
        name = excluded.name, email = excluded.email, push_tokens = excluded.push_tokens,
        timezone = excluded.timezone, properties = excluded.properties
"""
_INSERT_EVENT: Final = "INSERT INTO events (identity, name, ts, properties) VALUES (?, ?, ?, ?)"
_UPSERT_EVENT_PROP: Final = """
    INSERT INTO event_props (event_name, prop, value, identity, last_ts) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (event_name, prop, value, identity)
    DO UPDATE SET last_ts = max(last_ts, excluded.last_ts)
"""


class SQLiteStore(SQLStoreReads):
    """Profiles and events in an embedded SQLite database (a file, or ``":memory:"``).

    Audiences are computed by SQL and streamed with a cursor; see the module
    docstring for the schema, the indexes and how threads are handled.

    Args:
        path: The database file (created if missing), or ``":memory:"``.

    Raises:
        TidingsError: the file was written by a newer tidings (schema version).
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._path = str(path)
        self._in_memory = self._path in (":memory:", "")
        self._local = threading.local()
        # Weak: a thread's connection is freed (and closed) when the thread ends.
        self._holders: weakref.WeakSet[_Holder] = weakref.WeakSet()
        self._registry = threading.Lock()
        self._closed = False
        # One shared connection needs a lock; per-thread connections need none.
        self._guard: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self._in_memory else contextlib.nullcontext()
        )
        self._shared = self._open() if self._in_memory else None
        try:
            with self._transaction() as conn:
                _ensure_schema(conn)
        except BaseException:
            self.close()
            raise

    _placeholder: ClassVar[str] = "?"
    _chunk_size: ClassVar[int] = _CHUNK_SIZE
    _explain: ClassVar[str] = "EXPLAIN QUERY PLAN"

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    def _compiler(self, now: datetime) -> SQLiteFilterCompiler:
        return SQLiteFilterCompiler(now)

    def _in(self, column: str, values: Sequence[str]) -> tuple[str, list[object]]:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    # -- connections ------------------------------------------------------------------

    def _open(self) -> _Holder:
        conn = connect(self._path)
        conn.create_function("tidings_json_eq", 2, udf_json_eq, deterministic=True)
        conn.create_function("tidings_cond", 4, udf_cond, deterministic=True)
        holder = _Holder(conn)
        with self._registry:
            self._holders.add(holder)
        return holder

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise sqlite3.ProgrammingError(f"{self!r} is closed")
        if self._shared is not None:
            return self._shared.conn
        holder: _Holder | None = getattr(self._local, "holder", None)
        if holder is None:
            holder = self._local.holder = self._open()
        return holder.conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction, or a savepoint inside an open one."""
        with self._guard:
            conn = self._connection()
            if conn.in_transaction:
                savepoint = f"tidings_{next(_savepoints)}"
                conn.execute(f"SAVEPOINT {savepoint}")
                try:
                    yield conn
                except BaseException:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                    raise
                conn.execute(f"RELEASE {savepoint}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's writes into one transaction (see ``Transactional``).

        One ``BEGIN IMMEDIATE`` for the whole block: other writers, in this process
        or another, wait until it ends.
        """
        with self._transaction():
            yield

    def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._connection().execute(sql, params).fetchall()

    def _stream(
        self, sql: str, params: Sequence[object], build: Callable[[tuple[Any, ...]], _T]
    ) -> Iterator[_T]:
        """Rows of a query, built in batches; the lock is held per batch, not across yields.

        A generator, so ``close()`` (or dropping it) releases the cursor at once.
        """
        for rows in self._batches(sql, params):
            yield from map(build, rows)

    def _batches(self, sql: str, params: Sequence[object]) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query in batches of up to 1,000, the lock held per batch."""
        with self._guard:
            cursor = self._connection().execute(sql, params)
        try:
            while True:
                with self._guard:
                    rows = cursor.fetchmany(_FETCH_SIZE)
                if not rows:
                    return
                yield rows
        finally:
            with self._guard:
                cursor.close()

    def iter_audience_rows(
        self, query: AudienceQuery, *, now: datetime
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of :meth:`iter_audience` undecoded, in batches of up to 1,000.

        Each row holds ``identity, name, email, push_tokens, timezone, properties``
        with the push tokens and properties as this store's JSON text: a dispatch
        hands them to worker processes as they are (see ``tidings.dispatch.audience``).
        """
        statement, params = self._audience(query, now, PROFILE_COLUMNS)
        return self._batches(statement, params)

    # -- writes -----------------------------------------------------------------------

    def _write(self, statement: str, rows: list[tuple[object, ...]], what: str) -> None:
        try:
            with self._transaction() as conn:
                conn.executemany(statement, rows)
        except UnicodeEncodeError as exc:
            raise TriggerDataError(f"{what} hold text that is not valid Unicode") from exc

    def upsert_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Insert or replace profiles by identity; return how many were written.

        One transaction per 5,000 profiles.

        Raises:
            TriggerDataError: a profile's properties cannot be stored as JSON.
        """
        written = 0
        for batch in batched(profiles, BATCH_SIZE):
            rows = [profile_row(p) for p in batch]
            self._write(_UPSERT_PROFILE, rows, "profiles")
            written += len(rows)
        return written

    def append_events(self, events: Iterable[UserEvent]) -> int:
        """Append events; return how many were written.

        One transaction per 5,000 events; each also updates ``event_props``.

        Raises:
            TriggerDataError: an event's properties cannot be stored as JSON.
        """
        written = 0
        for batch in batched(events, BATCH_SIZE):
            rows, props = event_rows(batch)
            try:
                with self._transaction() as conn:
                    conn.executemany(_INSERT_EVENT, rows)
                    conn.executemany(_UPSERT_EVENT_PROP, props)
            except UnicodeEncodeError as exc:
                raise TriggerDataError("events hold text that is not valid Unicode") from exc
            written += len(rows)
        return written

    def close(self) -> None:
        """Close every connection this store opened. Idempotent."""
        with self._registry:
            self._closed = True
            holders = list(self._holders)
            self._holders.clear()
        for holder in holders:
            holder.conn.close()

    def _open_connections(self) -> int:
        """How many connections are open (threads that ended have released theirs)."""
        with self._registry:
            return len(self._holders)


class _Holder:
    """A connection, weakly referable (``sqlite3.Connection`` itself is not)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def _ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS store_schema_version (version INTEGER NOT NULL)")
    version = conn.execute("SELECT max(version) FROM store_schema_version").fetchone()[0]
    if version is not None and version > SCHEMA_VERSION:
        raise TidingsError(
            f"this database uses store schema version {version}; this tidings "
            f"understands up to {SCHEMA_VERSION}: upgrade tidings"
        )
    for ddl in _SCHEMA:
        conn.execute(ddl)
    if version is not None and version < 2:
        ensure_column(conn, "outcomes", "version", "INTEGER")
    if version is None or version < SCHEMA_VERSION:
        conn.execute("INSERT INTO store_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
