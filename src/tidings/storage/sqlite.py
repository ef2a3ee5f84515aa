"""The SQLite store: profiles and events in one file, audiences computed in SQL.

Schema (version 1; ``store_schema_version`` holds the number, created on open,
idempotently, in a ``BEGIN IMMEDIATE`` transaction so processes may open at once)::

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

Filters compile to SQL with the exact semantics of
:mod:`tidings.audience.evaluate`: values are tested by ``json_type`` (so ``true``
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
batch. Writes are ``BEGIN IMMEDIATE`` transactions of at most 5,000 rows.

Limits (both stores refuse such data, so they keep agreeing): properties must be
JSON (no NaN or infinity), valid Unicode and free of NUL characters. Integers
beyond 64 bits are stored, but SQLite compares them as floating point.
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module generates (table aliases, JSON path literals with quotes doubled); every value
# that comes from data or filters is bound as a ``?`` parameter.

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Final, TypeVar, cast

from ..audience.evaluate import (
    PROFILE_FIELDS,
    json_equal,
    match_text,
    require_aware,
    value_holds,
    window_start,
)
from ..audience.filters import (
    AudienceQuery,
    Condition,
    EventFilter,
    Filter,
    MatchRule,
    Operator,
)
from ..errors import TidingsError, TriggerDataError
from ..models.users import JsonValue, UserEvent, UserProfile
from ._connect import connect
from .memory import BATCH_SIZE, MATCH_VALUE_MAX, encode_json

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

SCHEMA_VERSION: Final = 1
"""The schema this code writes; opening a newer file is refused."""

_FETCH_SIZE: Final = 1_000
_CHUNK_SIZE: Final = 500  # identities per query: far below SQLite's variable limit
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_T = TypeVar("_T")

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
_PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone, p.properties"
_LIGHT_PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone"
"""The profile columns without ``properties`` (``iter_audience(..., properties=False)``)."""


def _micros(moment: datetime) -> int:
    """UTC epoch microseconds of an aware datetime (exact, unlike float seconds)."""
    return (moment - _EPOCH) // _MICROSECOND


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# The C scanner behind json.loads, called directly: the stored JSON is our own
# compact output (no surrounding whitespace), so json.loads' argument handling and
# its two whitespace regex matches per call are pure overhead on the hot path.
# (``scan_once`` is set in JSONDecoder.__init__; the stubs do not declare it.)
_scan: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]

_PROFILE_FIELDS: Final = frozenset(UserProfile.model_fields)
_new_profile: Final = UserProfile.__new__
_set: Final = object.__setattr__


def _decode(text: str) -> Any:
    """Decode a JSON document this store wrote (compact, one value)."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return json.loads(text)  # not our own output: let json report (or accept) it
    return value if end == len(text) else json.loads(text)


def _tokens(text: str) -> tuple[str, ...]:
    """Decode the stored push-token array; one plain token (the usual case) without JSON."""
    if text == "[]":
        return ()
    inner = text[2:-2]
    if text.startswith('["') and text.endswith('"]') and '"' not in inner and "\\" not in inner:
        return (inner,)
    return tuple(_decode(text))


def _profile_from_row(row: tuple[Any, ...]) -> UserProfile:
    """Build a profile from a trusted row without re-validating it (hot path).

    The same object ``UserProfile.model_construct`` would build (every field set),
    made directly: pydantic's generic ``model_construct`` walks aliases and
    defaults field by field, which costs more than the rest of the row.
    """
    identity, name, email, tokens, timezone, properties = row
    profile = _new_profile(UserProfile)
    _set(
        profile,
        "__dict__",
        {
            "identity": identity,
            "name": name,
            "email": email,
            "push_tokens": _tokens(tokens),
            "timezone": timezone,
            "properties": _decode(properties),
        },
    )
    _set(profile, "__pydantic_fields_set__", set(_PROFILE_FIELDS))
    _set(profile, "__pydantic_extra__", None)
    _set(profile, "__pydantic_private__", None)
    return profile


def _light_profile_from_row(row: tuple[Any, ...]) -> UserProfile:
    """Like :func:`_profile_from_row` for a row without ``properties`` (left empty)."""
    identity, name, email, tokens, timezone = row
    profile = _new_profile(UserProfile)
    _set(
        profile,
        "__dict__",
        {
            "identity": identity,
            "name": name,
            "email": email,
            "push_tokens": _tokens(tokens),
            "timezone": timezone,
            "properties": {},
        },
    )
    _set(profile, "__pydantic_fields_set__", set(_PROFILE_FIELDS))
    _set(profile, "__pydantic_extra__", None)
    _set(profile, "__pydantic_private__", None)
    return profile


# -- Python functions registered on each connection ---------------------------------


def _udf_json_eq(actual: str | None, operand: str) -> int:
    """SQL ``tidings_json_eq(json_text, json_text)``: JSON equality of two documents."""
    # SQL does not short-circuit AND: this also runs on rows whose value is not an
    # array or object (the type test beside it then decides), so non-JSON is "no".
    if not isinstance(actual, str):
        return 0
    try:
        document = json.loads(actual)
    except ValueError:
        return 0
    return int(json_equal(document, json.loads(operand)))


def _udf_cond(document: str | None, key: str, op: str, operand: str) -> int:
    """SQL ``tidings_cond(properties, key, op, operand_json)``: one condition, in Python."""
    properties = json.loads(document) if document else {}
    actual = properties.get(key) if isinstance(properties, dict) else None
    return int(value_holds(actual, cast(Operator, op), json.loads(operand)))


# -- Compiling filters to SQL --------------------------------------------------------


def _sql_text(text: str) -> str:
    """A SQL string literal (quotes doubled); used for JSON paths, never for user values."""
    return "'" + text.replace("'", "''") + "'"


def _json_path(key: str) -> str | None:
    """The SQL literal of the JSON path of a top-level key, or None if a path can't spell it.

    SQLite compares quoted path labels with the raw JSON text of keys, so a key is
    spellable when JSON writes it unescaped (no quote, backslash or control character).
    """
    if json.dumps(key, ensure_ascii=False)[1:-1] != key:
        return None
    return _sql_text(f'$."{key}"')


@dataclass(frozen=True)
class _Source:
    """Where a compared value comes from, as SQL.

    Attributes:
        type: SQL giving the value's JSON type name (``'text'``, ``'integer'``, ...),
            NULL when the key is missing.
        value: SQL giving the value (1/0 for booleans, JSON text for arrays/objects).
        array: ``json_each`` arguments reaching the value when it is an array, if it can be.
    """

    type: str
    value: str
    array: str | None = None


def _property_source(document: str, key: str) -> _Source | None:
    path = _json_path(key)
    if path is None:
        return None
    return _Source(
        f"json_type({document}, {path})",
        f"json_extract({document}, {path})",
        f"{document}, {path}",
    )


def _profile_source(key: str) -> _Source | None:
    """A profile value: its own field when set, else ``properties[key]`` (see profile_value)."""
    if key == "identity":
        return _Source("'text'", "p.identity")
    if key in PROFILE_FIELDS:
        path = _json_path(key)
        column = f"p.{key}"
        return _Source(
            f"(CASE WHEN {column} IS NOT NULL THEN 'text' "
            f"ELSE json_type(p.properties, {path}) END)",
            f"COALESCE({column}, json_extract(p.properties, {path}))",
            f"p.properties, {path}",
        )
    return _property_source("p.properties", key)


def _number(value: int | float) -> int | float:
    # sqlite3 cannot bind integers outside 64 bits; such numbers compare approximately.
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    return value


@dataclass
class _Compiler:
    """Builds one SQL statement: fragments with ``?`` placeholders and their parameters."""

    now: datetime
    params: list[object] = field(default_factory=list)
    _aliases: int = 0

    def alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    # Every fragment below is 0/1, never NULL, except comparisons with a NaN operand
    # (bound as NULL); negations wrap IFNULL so NULL counts as false, as in Python.

    def absent(self, src: _Source) -> str:
        return f"({src.type} IS NULL OR {src.type} IS 'null')"

    def equals(self, src: _Source, operand: JsonValue) -> str:
        t, x = src.type, src.value
        if operand is None:
            return self.absent(src)
        if isinstance(operand, bool):
            return f"({t} IS '{'true' if operand else 'false'}')"
        if isinstance(operand, int | float):
            return f"(({t} IS 'integer' OR {t} IS 'real') AND {x} = {self.bind(_number(operand))})"
        if isinstance(operand, str):
            return f"({t} IS 'text' AND {x} = {self.bind(operand)})"
        if isinstance(operand, list | tuple | Mapping):
            kind = "object" if isinstance(operand, Mapping) else "array"
            text = json.dumps(operand)
            return f"({t} IS '{kind}' AND tidings_json_eq({x}, {self.bind(text)}))"
        return "0"  # not a JSON value: equal to nothing

    def contains(self, src: _Source, operand: JsonValue) -> str:
        parts = []
        if isinstance(operand, str):
            parts.append(f"({src.type} IS 'text' AND instr({src.value}, {self.bind(operand)}) > 0)")
        if src.array is not None:
            item = self.alias("j")
            test = self.equals(_Source(f"{item}.type", f"{item}.value"), operand)
            parts.append(
                f"({src.type} IS 'array' AND EXISTS "
                f"(SELECT 1 FROM json_each({src.array}) {item} WHERE {test}))"
            )
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def ordered(self, src: _Source, op: Operator, operand: JsonValue) -> str:
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        if isinstance(operand, bool):
            return "0"
        if isinstance(operand, int | float):
            bound = self.bind(_number(operand))
            numeric = f"({src.type} IS 'integer' OR {src.type} IS 'real')"
            return f"({numeric} AND {src.value} {symbol} {bound})"
        if isinstance(operand, str):
            return f"({src.type} IS 'text' AND {src.value} {symbol} {self.bind(operand)})"
        return "0"

    def condition(self, src: _Source, op: Operator, operand: JsonValue) -> str:
        if op == "eq":
            return self.equals(src, operand)
        if op == "ne":
            return f"(NOT IFNULL({self.equals(src, operand)}, 0))"
        if op in ("in", "not_in"):
            tests = [self.equals(src, item) for item in operand]
            any_sql = "(" + " OR ".join(tests) + ")" if tests else "0"
            return any_sql if op == "in" else f"(NOT IFNULL({any_sql}, 0))"
        if op == "contains":
            return self.contains(src, operand)
        if op == "exists":
            return f"({src.type} IS NOT NULL AND {src.type} IS NOT 'null')"
        if op == "not_exists":
            return self.absent(src)
        return self.ordered(src, op, operand)

    def python_condition(self, document: str, key: str, op: Operator, operand: JsonValue) -> str:
        # A key a JSON path cannot spell: evaluate this one condition in Python, per row.
        key_p, op_p, operand_p = self.bind(key), self.bind(op), self.bind(json.dumps(operand))
        return f"tidings_cond({document}, {key_p}, {op_p}, {operand_p})"

    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        src = _profile_source(key)
        if src is None:
            return self.python_condition("p.properties", key, op, operand)
        return self.condition(src, op, operand)

    def event_condition(self, document: str, key: str, op: Operator, operand: JsonValue) -> str:
        src = _property_source(document, key)
        if src is None:
            return self.python_condition(document, key, op, operand)
        return self.condition(src, op, operand)

    def since(self, column: str, days: int | None) -> list[str]:
        start = window_start(self.now, days)
        return [] if start is None else [f"{column} >= {self.bind(_micros(start))}"]

    def event_filter(self, rule: EventFilter) -> str:
        e = self.alias("e")
        tests = [f"{e}.identity = p.identity", f"{e}.name = {self.bind(rule.event)}"]
        tests += self.since(f"{e}.ts", rule.within_days)
        tests += [
            self.event_condition(f"{e}.properties", c.property, c.op, c.value) for c in rule.where
        ]
        body = f"FROM events {e} WHERE " + " AND ".join(tests)
        if rule.min_count == 1:
            test = f"EXISTS (SELECT 1 {body})"
        else:
            # LIMIT stops counting once min_count events are found.
            n = rule.min_count
            test = f"((SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {n})) >= {n})"
        return test if rule.did else f"(NOT {test})"

    def filters(self, filters: Sequence[Filter]) -> list[str]:
        return [
            self.event_filter(rule)
            if isinstance(rule, EventFilter)
            else self.property_filter(rule.property, rule.op, rule.value)
            for rule in filters
        ]

    def match_lookup(self, alias: str, rule: MatchRule, value: str) -> list[str]:
        """Conditions on an ``event_props`` row for one indexed match."""
        return [
            f"{alias}.event_name = {self.bind(rule.event)}",
            f"{alias}.prop = {self.bind(rule.event_property)}",
            f"{alias}.value = {self.bind(value)}",
            *self.since(f"{alias}.last_ts", rule.within_days),
        ]

    def match(self, rule: MatchRule, value: str) -> str:
        if len(value) <= MATCH_VALUE_MAX:
            m = self.alias("m")
            tests = [*self.match_lookup(m, rule, value), f"{m}.identity = p.identity"]
            return f"EXISTS (SELECT 1 FROM event_props {m} WHERE {' AND '.join(tests)})"
        # Values this long are not in event_props; only strings are this long (an
        # integer of over 256 digits is beyond SQLite's numbers anyway): scan events.
        scan = EventFilter(
            event=rule.event,
            within_days=rule.within_days,
            where=(Condition(property=rule.event_property, op="eq", value=value),),
        )
        return self.event_filter(scan)


def _where(tests: Sequence[str]) -> str:
    return " AND ".join(tests) if tests else "1"


def _audience_sql(
    query: AudienceQuery, now: datetime, columns: str = _PROFILE_COLUMNS
) -> tuple[str, list[object]]:
    """The audience query: one SELECT, ordered by identity, with everything pushed down."""
    sql = _Compiler(now)
    tests: list[str] = []
    source = "profiles p"
    order = "p.identity"
    matches = list(query.matches)
    driver = next(
        (i for i, (_, value) in enumerate(matches) if len(value) <= MATCH_VALUE_MAX), None
    )
    if driver is not None:
        # Start from the users who have the matched value: an index range scan on
        # event_props in identity order, then a primary-key lookup in profiles.
        # CROSS JOIN pins that join order.
        rule, value = matches.pop(driver)
        source = "event_props d CROSS JOIN profiles p"
        order = "d.identity"
        tests += sql.match_lookup("d", rule, value)
        tests.append("p.identity = d.identity")
    if query.segment.kind == "engaged":
        e = sql.alias("e")
        since = sql.since(f"{e}.ts", query.segment.engaged_days)[0]
        tests.append(
            f"EXISTS (SELECT 1 FROM events {e} WHERE {e}.identity = p.identity AND {since})"
        )
    tests += [sql.match(rule, value) for rule, value in matches]
    tests += sql.filters(query.filters)
    statement = f"SELECT {columns} FROM {source} WHERE {_where(tests)} ORDER BY {order}"
    return statement, sql.params


class SQLiteStore:
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

    def __repr__(self) -> str:
        return f"SQLiteStore({self._path!r})"

    # -- connections ------------------------------------------------------------------

    def _open(self) -> _Holder:
        conn = connect(self._path)
        conn.create_function("tidings_json_eq", 2, _udf_json_eq, deterministic=True)
        conn.create_function("tidings_cond", 4, _udf_cond, deterministic=True)
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
        with self._guard:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._connection().execute(sql, params).fetchall()

    def _stream(
        self, sql: str, params: Sequence[object], build: Callable[[tuple[Any, ...]], _T]
    ) -> Iterator[_T]:
        """Rows of a query, built in batches; the lock is held per batch, not across yields.

        A generator, so ``close()`` (or dropping it) releases the cursor at once.
        """
        with self._guard:
            cursor = self._connection().execute(sql, params)
        try:
            while True:
                with self._guard:
                    rows = cursor.fetchmany(_FETCH_SIZE)
                if not rows:
                    return
                yield from map(build, rows)
        finally:
            with self._guard:
                cursor.close()

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
        for batch in _batches(profiles, BATCH_SIZE):
            rows: list[tuple[object, ...]] = [
                (
                    p.identity,
                    p.name,
                    p.email,
                    encode_json(list(p.push_tokens), what=f"profile {p.identity!r}"),
                    p.timezone,
                    encode_json(p.properties, what=f"profile {p.identity!r}"),
                )
                for p in batch
            ]
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
        for batch in _batches(events, BATCH_SIZE):
            rows: list[tuple[object, ...]] = []
            props: list[tuple[object, ...]] = []
            for event in batch:
                ts = _micros(event.timestamp)
                what = f"event {event.name!r} of {event.identity!r}"
                rows.append(
                    (event.identity, event.name, ts, encode_json(event.properties, what=what))
                )
                for key, value in event.properties.items():
                    text = match_text(value)
                    if text is not None and len(text) <= MATCH_VALUE_MAX:
                        props.append((event.name, key, text, event.identity, ts))
            try:
                with self._transaction() as conn:
                    conn.executemany(_INSERT_EVENT, rows)
                    conn.executemany(_UPSERT_EVENT_PROP, props)
            except UnicodeEncodeError as exc:
                raise TriggerDataError("events hold text that is not valid Unicode") from exc
            written += len(rows)
        return written

    # -- reads ------------------------------------------------------------------------

    def get_profile(self, identity: str) -> UserProfile | None:
        """One profile, or None."""
        rows = self._fetchall(
            f"SELECT {_PROFILE_COLUMNS} FROM profiles p WHERE p.identity = ?", (identity,)
        )
        return _profile_from_row(rows[0]) if rows else None

    def get_profiles(self, identities: Sequence[str]) -> dict[str, UserProfile]:
        """The profiles that exist among ``identities`` (missing ones are absent)."""
        found: dict[str, UserProfile] = {}
        for chunk in _batches(dict.fromkeys(identities), _CHUNK_SIZE):
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {_PROFILE_COLUMNS} FROM profiles p WHERE p.identity IN ({marks})"
            for row in self._fetchall(sql, chunk):
                found[row[0]] = _profile_from_row(row)
        return found

    def count_profiles(self) -> int:
        """How many profiles the store holds."""
        count: int = self._fetchall("SELECT COUNT(*) FROM profiles")[0][0]
        return count

    def matching_identities(
        self, identities: Sequence[str], filters: Sequence[Filter], *, now: datetime
    ) -> set[str]:
        """The subset of ``identities`` whose profile satisfies every filter.

        Works in chunks of 500 identities, each one query with the filters in SQL.
        """
        sql = _Compiler(require_aware(now))
        where = _where(sql.filters(filters))
        matched: set[str] = set()
        for chunk in _batches(dict.fromkeys(identities), _CHUNK_SIZE):
            marks = ", ".join("?" * len(chunk))
            statement = (
                f"SELECT p.identity FROM profiles p WHERE p.identity IN ({marks}) AND {where}"
            )
            matched.update(row[0] for row in self._fetchall(statement, [*chunk, *sql.params]))
        return matched

    def iter_audience(
        self, query: AudienceQuery, *, now: datetime, properties: bool = True
    ) -> Iterator[UserProfile]:
        """Stream the profiles in ``query``'s audience, ordered by identity.

        One SQL query (segment, matches and filters pushed down), read with a cursor
        in batches of 1,000 rows. With ``properties=False`` the ``properties`` column
        is neither read nor decoded: every profile comes with empty ``properties``
        (the same users, in the same order, with the same other fields).
        """
        if properties:
            statement, params = _audience_sql(query, require_aware(now))
            return self._stream(statement, params, _profile_from_row)
        statement, params = _audience_sql(query, require_aware(now), _LIGHT_PROFILE_COLUMNS)
        return self._stream(statement, params, _light_profile_from_row)

    def explain_audience(self, query: AudienceQuery, *, now: datetime) -> list[str]:
        """SQLite's query plan for ``query``'s audience (for tuning and tests)."""
        statement, params = _audience_sql(query, require_aware(now))
        return [row[-1] for row in self._fetchall(f"EXPLAIN QUERY PLAN {statement}", params)]

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        tests = ["identity = ?"]
        params: list[object] = [identity]
        if name is not None:
            tests.append("name = ?")
            params.append(name)
        if since is not None:
            tests.append("ts >= ?")
            params.append(_micros(require_aware(since)))
        sql = f"SELECT name, ts, properties FROM events WHERE {' AND '.join(tests)} ORDER BY ts, id"
        return [
            UserEvent.model_construct(
                identity=identity,
                name=event_name,
                properties=json.loads(properties),
                timestamp=_from_micros(ts),
            )
            for event_name, ts, properties in self._fetchall(sql, params)
        ]

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
    if version is None:
        conn.execute("INSERT INTO store_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
