"""The PostgreSQL store: profiles and events shared by many processes and machines.

The same :class:`~tidings.storage.base.Store` contract as
:class:`~tidings.storage.sqlite.SQLiteStore`, in a schema of its own created by
:func:`tidings.storage.postgres_schema.migrate` (``tidings migrate --db
postgresql://...``). Tables mirror SQLite's (see :mod:`tidings.storage._pg`):
``profiles`` and ``events`` keep the JSON text they were given (``properties``,
so key order survives a round trip) beside a generated ``jsonb`` copy (``props``)
that filters query; ``event_props`` is the match index, as in SQLite.

Audiences are one SQL statement (:mod:`tidings.storage._pg_filters`) read through
a server-side cursor 1,000 rows at a time. Writes load each batch of 5,000 rows
with ``COPY`` into a temporary table and upsert from it in the same transaction.
"""

# S608 (SQL built with f-strings): only fragments this module or _pg_filters generates
# are spliced; every value from data or filters is bound as a parameter.

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple, TypeVar

import psycopg

from .._batching import batched
from ..errors import ArgumentError, TidingsError, TriggerDataError
from ..models.users import UserEvent, UserProfile
from ._pg import Connections, require_schema
from ._pg_filters import PgFilterCompiler
from ._sql_store import SQLStoreReads, event_rows, profile_row
from .memory import BATCH_SIZE

if TYPE_CHECKING:
    from .postgres_ledger import PostgresLedger
    from .postgres_registry import PostgresRegistry

__all__ = ["PostgresStore", "PostgresWorkspaceParts", "open_postgres"]

_T = TypeVar("_T")

_FETCH_SIZE: Final = 1_000
_cursor_names = itertools.count()


def _q(text: str) -> bytes:
    """A statement built at run time, as psycopg takes it (only our own fragments)."""
    return text.encode()


class PostgresStore(SQLStoreReads):
    """Profiles and events in a PostgreSQL database (schema ``tidings`` by default).

    Args:
        dsn: A libpq connection string or ``postgresql://`` URI.
        schema: The schema holding the tables (default: the DSN's ``tidings.schema``,
            else ``tidings``).
        connections: Connections to share with a ledger and registry (then ``dsn``
            and ``schema`` are theirs).

    Raises:
        TidingsError: the schema is missing or at another version (run ``tidings migrate``).
        psycopg.OperationalError: the server cannot be reached.
    """

    def __init__(
        self,
        dsn: str = "",
        *,
        schema: str | None = None,
        connections: Connections | None = None,
    ) -> None:
        self._connections = connections or Connections(dsn, schema=schema)
        # The connection of this thread's open transaction() block, if any.
        self._pinned = threading.local()
        try:
            require_schema(self._connections)
        except BaseException:
            self._connections.close()
            raise

    _placeholder: ClassVar[str] = "%s"
    _chunk_size: ClassVar[int] = BATCH_SIZE
    _explain: ClassVar[str] = "EXPLAIN"

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self._connections.schema!r})"

    def _compiler(self, now: datetime) -> PgFilterCompiler:
        return PgFilterCompiler(now)

    def _in(self, column: str, values: Sequence[str]) -> tuple[str, list[object]]:
        return f"{column} = ANY(%s)", [list(values)]

    def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._connections.connection() as conn:
            return conn.execute(_q(sql), params).fetchall()

    def _stream(
        self, sql: str, params: Sequence[object], build: Callable[[tuple[Any, ...]], _T]
    ) -> Iterator[_T]:
        """Rows of a query through a server-side cursor, built in batches of 1,000."""
        with (
            self._connections.connection() as conn,
            conn.transaction(),
            conn.cursor(name=f"tidings_audience_{next(_cursor_names)}") as cursor,
        ):
            cursor.itersize = _FETCH_SIZE
            cursor.execute(_q(sql), params)
            while rows := cursor.fetchmany(_FETCH_SIZE):
                yield from map(build, rows)

    # -- writes -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group this thread's writes into one transaction (see ``Transactional``).

        The block holds one connection; the writes inside it are savepoints of its
        transaction. Unlike a single write, the block is not retried when
        PostgreSQL aborts it (serialisation failure, deadlock): it raises, and
        nothing is written.
        """
        conn: psycopg.Connection[Any] | None = getattr(self._pinned, "conn", None)
        if conn is not None:
            with conn.transaction():
                yield
            return
        with self._connections.connection() as conn, conn.transaction():
            self._pinned.conn = conn
            try:
                yield
            finally:
                self._pinned.conn = None

    def _load(self, what: str, work: Callable[[psycopg.Connection[Any]], None]) -> None:
        pinned: psycopg.Connection[Any] | None = getattr(self._pinned, "conn", None)
        try:
            if pinned is None:
                self._connections.transaction(work)
            else:
                with pinned.transaction():
                    work(pinned)
        except (UnicodeEncodeError, psycopg.DataError) as exc:
            raise TriggerDataError(f"{what} hold text PostgreSQL cannot store: {exc}") from exc

    def upsert_profiles(self, profiles: Iterable[UserProfile]) -> int:
        """Insert or replace profiles by identity; return how many were written.

        One transaction per 5,000 profiles: ``COPY`` into a temporary table, then
        one upsert (the last of duplicate identities wins, as in SQLite).

        Raises:
            TriggerDataError: a profile cannot be stored (properties not JSON, NUL characters).
        """
        written = 0
        for batch in batched(profiles, BATCH_SIZE):
            # The last of duplicate identities wins, as in SQLite.
            rows = {p.identity: profile_row(p) for p in batch}

            def work(
                conn: psycopg.Connection[Any], rows: Iterable[tuple[object, ...]] = rows.values()
            ) -> None:
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS profiles_in (identity TEXT, name TEXT, "
                    "email TEXT, push_tokens TEXT, timezone TEXT, properties TEXT) "
                    "ON COMMIT DELETE ROWS"
                )
                with conn.cursor().copy(
                    "COPY profiles_in (identity, name, email, push_tokens, timezone, properties) "
                    "FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.execute(
                    "INSERT INTO profiles "
                    "(identity, name, email, push_tokens, timezone, properties) "
                    "SELECT identity, name, email, push_tokens, timezone, properties "
                    "FROM profiles_in "
                    "ON CONFLICT (identity) DO UPDATE SET name = excluded.name, "
                    "email = excluded.email, push_tokens = excluded.push_tokens, "
                    "timezone = excluded.timezone, properties = excluded.properties"
                )

            self._load("profiles", work)
            written += len(batch)
        return written

    def append_events(self, events: Iterable[UserEvent]) -> int:
        """Append events; return how many were written.

        One transaction per 5,000 events: ``COPY`` into ``events``, and the match
        index (``event_props``) upserted from a temporary table.

        Raises:
            TriggerDataError: an event cannot be stored (properties not JSON, NUL characters).
        """
        written = 0
        for batch in batched(events, BATCH_SIZE):
            rows, indexed = event_rows(batch)
            # One row per key in one upsert: the latest ts of each.
            props: dict[tuple[str, str, str, str], int] = {}
            for event_name, prop, text, identity, ts in indexed:
                index = (event_name, prop, text, identity)
                props[index] = max(ts, props.get(index, ts))

            def work(
                conn: psycopg.Connection[Any],
                rows: list[tuple[object, ...]] = rows,
                props: dict[tuple[str, str, str, str], int] = props,
            ) -> None:
                with conn.cursor().copy(
                    "COPY events (identity, name, ts, properties) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                if not props:
                    return
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS event_props_in (event_name TEXT, prop TEXT, "
                    "value TEXT, identity TEXT, last_ts BIGINT) ON COMMIT DELETE ROWS"
                )
                with conn.cursor().copy(
                    "COPY event_props_in (event_name, prop, value, identity, last_ts) FROM STDIN"
                ) as copy:
                    for key, ts in props.items():
                        copy.write_row((*key, ts))
                conn.execute(
                    "INSERT INTO event_props (event_name, prop, value, identity, last_ts) "
                    "SELECT event_name, prop, value, identity, last_ts FROM event_props_in "
                    "ON CONFLICT (event_name, prop, value, identity) "
                    "DO UPDATE SET last_ts = GREATEST(event_props.last_ts, excluded.last_ts)"
                )

            self._load("events", work)
            written += len(rows)
        return written

    def close(self) -> None:
        """Close the connections (shared ones too). Idempotent."""
        self._connections.close()


class PostgresWorkspaceParts(NamedTuple):
    """What a PostgreSQL workspace runs on: a store, ledger and registry on one pool."""

    store: PostgresStore
    ledger: PostgresLedger
    registry: PostgresRegistry


def open_postgres(dsn: str, *, schema: str | None = None) -> PostgresWorkspaceParts:
    """A store, ledger and registry sharing one set of connections to a migrated schema.

    Raises:
        ArgumentError: the database cannot be reached, or its schema is missing or
            at another version (the message says to run ``tidings migrate``).
    """
    from .postgres_ledger import PostgresLedger
    from .postgres_registry import PostgresRegistry

    try:
        connections = Connections(dsn, schema=schema)
    except psycopg.Error as exc:
        raise ArgumentError(f"cannot connect to PostgreSQL: {exc}", field="dsn") from exc
    try:
        require_schema(connections)
    except (TidingsError, psycopg.Error) as exc:
        connections.close()
        raise ArgumentError(str(exc), field="dsn") from exc
    return PostgresWorkspaceParts(
        PostgresStore(connections=connections),
        PostgresLedger(connections=connections),
        PostgresRegistry(connections=connections),
    )
