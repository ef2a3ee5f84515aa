"""How the SQLite ledger writes outcomes: a chunk's rows in a few statements, marks by range.

:class:`~tidings.storage.sqlite_ledger.SQLiteLedger` calls :func:`insert_outcomes`
and :func:`mark_outcomes` inside its own transactions. The rules are the
ledger's (see :meth:`tidings.storage.Ledger.record`): an outcome already emitted
is never replaced; marking turns a ``pending`` delivery into ``sent``.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from itertools import chain
from operator import itemgetter
from typing import NamedTuple

import orjson

from .outcomes import OUTCOME_COLUMNS, OutcomeRow

__all__ = ["Fresh", "insert_outcomes", "largest_group", "mark_outcomes"]

_DECISION_KEY = ("source_id", "dispatch_key", "identity")
_UPSERT = (
    " ON CONFLICT (source_id, dispatch_key, identity) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in OUTCOME_COLUMNS if c not in _DECISION_KEY)
    + " WHERE emitted = 0"
)
"""Replaces a stored outcome, unless that decision was already emitted (the crash rule)."""
_RECORD = (
    f"INSERT INTO outcomes ({', '.join(OUTCOME_COLUMNS)}) "  # noqa: S608 - fixed column names
    f"VALUES ({', '.join('?' * len(OUTCOME_COLUMNS))})" + _UPSERT
)
"""Stores one outcome row (under :data:`_UPSERT`'s rule)."""

# A chunk of a dispatch shares its decision time, source, dispatch key and version:
# those are bound once per statement, and the six columns that vary are bound per
# row into one multi-row INSERT. A chunk is then a few statements (row groups of
# power-of-two sizes, so a handful of prepared statements serve every chunk size),
# and SQLite does each in C without handing the GIL back and forth per row
# (``executemany`` releases and takes it again for every row, which stalls when
# other threads of the process are busy).
_SHARED = tuple(
    OUTCOME_COLUMNS.index(c) for c in ("decided_at", "source_id", "dispatch_key", "version")
)
_VARYING = tuple(i for i in range(len(OUTCOME_COLUMNS)) if i not in _SHARED)
_shared_of = itemgetter(*_SHARED)
_varying_of = itemgetter(*_VARYING)
_identity_of = itemgetter(OUTCOME_COLUMNS.index("identity"))
_LARGEST_GROUP = 512


@functools.cache
def _record_group(size: int) -> str:
    """The INSERT of ``size`` rows sharing :data:`_SHARED` (the crash rule of :data:`_RECORD`).

    Parameters ``?1``-``?4`` are the shared values; row ``r`` binds its six
    :data:`_VARYING` values as ``?(5 + 6r)`` onwards.
    """

    def row(r: int) -> str:
        first = len(_SHARED) + 1 + len(_VARYING) * r
        slots = (
            f"?{_SHARED.index(i) + 1}" if i in _SHARED else f"?{first + _VARYING.index(i)}"
            for i in range(len(OUTCOME_COLUMNS))
        )
        return f"({', '.join(slots)})"

    return (
        f"INSERT INTO outcomes ({', '.join(OUTCOME_COLUMNS)}) VALUES "  # noqa: S608 - fixed text
        + ", ".join(row(r) for r in range(size))
        + _UPSERT
    )


def _groups(count: int, largest: int) -> list[int]:
    """``count`` as powers of two, none over ``largest`` (a power of two), largest first."""
    sizes = [largest] * (count // largest)
    rest = count % largest
    size = largest
    while rest:
        size //= 2
        if rest >= size:
            sizes.append(size)
            rest -= size
    return sizes


_EMITTED = (
    "UPDATE outcomes SET emitted = 1, state = CASE state WHEN 'pending' THEN 'sent' ELSE state END "
)
_MARK = (
    _EMITTED  # noqa: S608 - fixed text
    + "WHERE source_id = ? AND dispatch_key = ? AND identity IN (SELECT value FROM json_each(?))"
)
# The rowid range, not the (source, dispatch) index: "+" keeps the planner off the index.
_MARK_RANGE = _EMITTED + "WHERE seq BETWEEN ? AND ? AND +source_id = ? AND +dispatch_key = ?"
_LAST_SEQ = "SELECT seq FROM sqlite_sequence WHERE name = 'outcomes'"
_NEW_ROWS = "SELECT min(seq), max(seq), count(*) FROM outcomes WHERE seq > ?"


class Fresh(NamedTuple):
    """The last chunk this ledger stored as new rows only: they hold seq ``first`` to ``last``."""

    source_id: str
    dispatch_key: str
    identities: list[str]
    first: int
    last: int


def largest_group(conn: sqlite3.Connection) -> int:
    """The most rows one INSERT of :func:`insert_outcomes` may hold on ``conn``.

    Bounded by the parameters a statement may bind (999 before SQLite 3.32).
    """
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    largest = _LARGEST_GROUP
    while len(_SHARED) + len(_VARYING) * largest > limit:
        largest //= 2
    return largest


def insert_outcomes(
    conn: sqlite3.Connection, rows: Sequence[OutcomeRow], largest: int
) -> Fresh | None:
    """Store ``rows`` inside the caller's transaction; their seq range if all are new."""
    shared = set(map(_shared_of, rows))
    if len(shared) != 1:
        conn.executemany(_RECORD, rows)
        return None
    found = conn.execute(_LAST_SEQ).fetchone()
    before = found[0] if found else 0
    values = list(chain.from_iterable(map(_varying_of, rows)))
    head, width, start = shared.pop(), len(_VARYING), 0
    _, source_id, dispatch_key, _ = head
    for size in _groups(len(rows), largest):
        end = start + size * width
        conn.execute(_record_group(size), (*head, *values[start:end]))
        start = end
    # Rows past ``before`` are the ones these statements added (a replaced row
    # keeps its seq, though it may use up a number): when there are as many
    # as ``rows``, every row is new, and a later mark can find them by range.
    first, last, added = conn.execute(_NEW_ROWS, (before,)).fetchone()
    if added != len(rows):
        return None
    identities = list(map(_identity_of, rows))
    return Fresh(source_id, dispatch_key, identities, first, last)


def mark_outcomes(
    conn: sqlite3.Connection,
    fresh: Fresh | None,
    source_id: str,
    dispatch_key: str,
    identities: Sequence[str],
) -> None:
    """Mark outcomes emitted inside the caller's transaction: by ``fresh``'s range if it is them."""
    if (
        fresh is not None
        and fresh.source_id == source_id
        and fresh.dispatch_key == dispatch_key
        and fresh.identities == list(identities)
    ):
        conn.execute(_MARK_RANGE, (fresh.first, fresh.last, source_id, dispatch_key))
        return
    conn.execute(_MARK, (source_id, dispatch_key, _identities_json(identities)))


def _identities_json(identities: Sequence[str]) -> str:
    """``identities`` as a JSON array for ``json_each`` (the standard library for odd text)."""
    try:
        return orjson.dumps(list(identities)).decode()
    except TypeError:
        return json.dumps(list(identities))
