"""What the SQLite and PostgreSQL stores share: their reads, and the rows their writes build.

Both stores hold the same tables (``profiles``, ``events``, ``event_props``) with the
same columns, so every read is one query written once here; a store supplies how it
runs a statement (:meth:`SQLStoreReads._fetchall`, :meth:`SQLStoreReads._stream`), its
filter compiler, its parameter marker and how it passes a list of identities. The
writes differ (``executemany`` against ``COPY``), but the rows they write are built
by :func:`profile_row` and :func:`event_rows`.
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module or a filter compiler generates (column lists, placeholders, WHERE clauses);
# every value is bound as a parameter.

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from .._batching import batched
from ..models.evaluation import match_text, require_aware
from ..models.filters import AudienceQuery, Filter
from ..models.users import UserEvent, UserProfile
from ._sql_filters import FilterCompiler, audience_sql
from ._sqlite_rows import (
    LIGHT_PROFILE_COLUMNS,
    PROFILE_COLUMNS,
    from_micros,
    light_profile_from_row,
    micros,
    profile_from_row,
)
from .memory import MATCH_VALUE_MAX, encode_json

__all__ = ["SQLStoreReads", "event_rows", "profile_row"]

_T = TypeVar("_T")


def profile_row(profile: UserProfile) -> tuple[object, ...]:
    """The ``profiles`` row of a profile: identity, name, email, push_tokens, timezone, properties.

    Raises:
        TriggerDataError: the properties cannot be stored as JSON.
    """
    what = f"profile {profile.identity!r}"
    return (
        profile.identity,
        profile.name,
        profile.email,
        encode_json(list(profile.push_tokens), what=what),
        profile.timezone,
        encode_json(profile.properties, what=what),
    )


def event_rows(
    events: Iterable[UserEvent],
) -> tuple[list[tuple[object, ...]], list[tuple[str, str, str, str, int]]]:
    """The ``events`` rows of some events, and their ``event_props`` (match index) rows.

    An events row is identity, name, ts (epoch microseconds), properties. A match
    index row is event name, property, value text, identity, ts: one per property
    whose value is a string (of at most :data:`MATCH_VALUE_MAX` characters) or an
    integer, in event order (the stores keep the latest ts per key).

    Raises:
        TriggerDataError: an event's properties cannot be stored as JSON.
    """
    rows: list[tuple[object, ...]] = []
    props: list[tuple[str, str, str, str, int]] = []
    for event in events:
        ts = micros(event.timestamp)
        what = f"event {event.name!r} of {event.identity!r}"
        rows.append((event.identity, event.name, ts, encode_json(event.properties, what=what)))
        for key, value in event.properties.items():
            text = match_text(value)
            if text is not None and len(text) <= MATCH_VALUE_MAX:
                props.append((event.name, key, text, event.identity, ts))
    return rows, props


class SQLStoreReads(ABC):
    """The reads of a store over tidings' SQL tables, written once for SQLite and PostgreSQL."""

    _placeholder: ClassVar[str]
    """The parameter marker: ``?`` or ``%s``."""
    _chunk_size: ClassVar[int]
    """Identities per query where a list of them is passed."""
    _explain: ClassVar[str]
    """The statement prefix that asks for a query plan."""

    @abstractmethod
    def _fetchall(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Every row of one statement."""

    @abstractmethod
    def _stream(
        self, sql: str, params: Sequence[object], build: Callable[[tuple[Any, ...]], _T]
    ) -> Iterator[_T]:
        """The rows of one statement, built one by one, read in batches."""

    @abstractmethod
    def _compiler(self, now: datetime) -> FilterCompiler[Any]:
        """A fresh filter compiler of this store's dialect."""

    @abstractmethod
    def _in(self, column: str, values: Sequence[str]) -> tuple[str, list[object]]:
        """A test that ``column`` is one of ``values``, and its parameters."""

    def _audience(
        self, query: AudienceQuery, now: datetime, columns: str
    ) -> tuple[str, list[object]]:
        return audience_sql(self._compiler(require_aware(now)), query, columns)

    def get_profile(self, identity: str) -> UserProfile | None:
        """One profile, or None."""
        rows = self._fetchall(
            f"SELECT {PROFILE_COLUMNS} FROM profiles p WHERE p.identity = {self._placeholder}",
            (identity,),
        )
        return profile_from_row(rows[0]) if rows else None

    def get_profiles(self, identities: Sequence[str]) -> dict[str, UserProfile]:
        """The profiles that exist among ``identities`` (missing ones are absent)."""
        found: dict[str, UserProfile] = {}
        for chunk in batched(dict.fromkeys(identities), self._chunk_size):
            test, params = self._in("p.identity", chunk)
            for row in self._fetchall(
                f"SELECT {PROFILE_COLUMNS} FROM profiles p WHERE {test}", params
            ):
                found[row[0]] = profile_from_row(row)
        return found

    def identities_for_emails(self, emails: Sequence[str]) -> dict[str, list[str]]:
        """The identities of the profiles holding each of ``emails``, sorted (indexed)."""
        found: dict[str, list[str]] = {}
        for chunk in batched(dict.fromkeys(emails), self._chunk_size):
            test, params = self._in("email", chunk)
            sql = f"SELECT email, identity FROM profiles WHERE {test} ORDER BY identity"
            for email, identity in self._fetchall(sql, params):
                found.setdefault(email, []).append(identity)
        return found

    def count_profiles(self) -> int:
        """How many profiles the store holds."""
        return int(self._fetchall("SELECT COUNT(*) FROM profiles")[0][0])

    def matching_identities(
        self, identities: Sequence[str], filters: Sequence[Filter], *, now: datetime
    ) -> set[str]:
        """The subset of ``identities`` whose profile satisfies every filter (one query a chunk)."""
        require_aware(now)
        matched: set[str] = set()
        for chunk in batched(dict.fromkeys(identities), self._chunk_size):
            test, params = self._in("p.identity", chunk)
            sql = self._compiler(now)
            sql.params.extend(params)  # the IN test comes first in the statement
            where = sql.where(sql.filters(filters))
            statement = f"SELECT p.identity FROM profiles p WHERE {test} AND {where}"
            matched.update(row[0] for row in self._fetchall(statement, sql.params))
        return matched

    def iter_audience(
        self, query: AudienceQuery, *, now: datetime, properties: bool = True
    ) -> Iterator[UserProfile]:
        """Stream the profiles in ``query``'s audience, ordered by identity.

        One SQL query (segment, matches and filters pushed down), read in batches of
        1,000 rows. With ``properties=False`` the ``properties`` column is neither
        read nor decoded: every profile comes with empty ``properties`` (the same
        users, in the same order, with the same other fields).
        """
        if properties:
            statement, params = self._audience(query, now, PROFILE_COLUMNS)
            return self._stream(statement, params, profile_from_row)
        statement, params = self._audience(query, now, LIGHT_PROFILE_COLUMNS)
        return self._stream(statement, params, light_profile_from_row)

    def explain_audience(self, query: AudienceQuery, *, now: datetime) -> list[str]:
        """The database's query plan for ``query``'s audience (for tuning and tests)."""
        statement, params = self._audience(query, now, PROFILE_COLUMNS)
        return [row[-1] for row in self._fetchall(f"{self._explain} {statement}", params)]

    def events_for(
        self, identity: str, *, name: str | None = None, since: datetime | None = None
    ) -> list[UserEvent]:
        """One user's events (optionally of one name, since a time), oldest first."""
        mark = self._placeholder
        tests = [f"identity = {mark}"]
        params: list[object] = [identity]
        if name is not None:
            tests.append(f"name = {mark}")
            params.append(name)
        if since is not None:
            tests.append(f"ts >= {mark}")
            params.append(micros(require_aware(since)))
        sql = f"SELECT name, ts, properties FROM events WHERE {' AND '.join(tests)} ORDER BY ts, id"
        return [
            UserEvent.model_construct(
                identity=identity,
                name=event_name,
                properties=json.loads(properties),
                timestamp=from_micros(ts),
            )
            for event_name, ts, properties in self._fetchall(sql, params)
        ]
