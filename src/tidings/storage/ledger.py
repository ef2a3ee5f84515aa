"""The ledger: what was decided for whom, targeting-cap counters, definitions, responses.

Two implementations with identical behaviour: :class:`MemoryLedger` and
:class:`SQLiteLedger`. The SQLite ledger makes every cap claim one
``BEGIN IMMEDIATE`` transaction, so several processes sharing one file never
exceed a cap (SQLite serialises writers; no Python lock is involved).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from ..delivery.rules import FrequencyCap
from ..models.records import Delivery, Record

__all__ = ["ClaimRequest", "ClaimResult", "Ledger", "MemoryLedger", "SQLiteLedger"]


@runtime_checkable
class Ledger(Protocol):
    """Durable state of dispatches: caps, decisions, definitions, replayable responses."""

    def cap_used(self, source_id: str) -> int:
        """How many distinct users the source has admitted so far."""
        ...

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """Which of ``identities`` already hold a targeting-cap slot of the source."""
        ...

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        cap: int | None,
        frequency_caps: Sequence[FrequencyCap],
    ) -> dict[str, ClaimResult]:
        """Atomically admit users under the targeting cap and the frequency caps at once.

        A user is admitted only if both allow it; only then are both counters
        taken. Claims are idempotent: a request whose ``key`` was admitted before
        (a retried or resumed dispatch) is admitted again without counting twice.
        Requests are decided in the given order. Returns a result per identity.
        """
        ...

    def record(
        self,
        records: Iterable[Record],
        *,
        dispatch_key: str,
        at: datetime,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """Store the outcome of each record (delivery or skip) of a dispatch decided at ``at``.

        For a held-out user ``at`` is when they would have been sent (uplift baseline).
        Deliveries are stored as ``pending`` until :meth:`mark_emitted`; recording
        the same (source, dispatch, identity) again replaces a not-yet-emitted row.
        ``emitted``, a (source id, identities) pair of the same dispatch, is marked
        as by :meth:`mark_emitted` first, in the same transaction (one write
        instead of two per chunk).
        """
        ...

    def mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """Mark outcomes as handed to the sink (deliveries become ``sent``)."""
        ...

    def emitted(
        self, source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> dict[str, tuple[str, str | None]]:
        """Outcomes of this dispatch already handed to the sink: identity -> (state, reason)."""
        ...

    def pending_keys(self, source_id: str, dispatch_key: str) -> set[str]:
        """Idempotency keys of deliveries recorded but not confirmed as emitted."""
        ...

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """Every stored outcome of a source, in insertion order."""
        ...

    def sources(self) -> list[str]:
        """Every source id (campaign, bulletin, message via identity) with outcomes, sorted."""
        ...

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """Store (or replace) a definition as JSON."""
        ...

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every stored definition of ``kind``, by key."""
        ...

    def next_sequence(self, name: str) -> int:
        """The next value (1, 2, ...) of a named counter (campaign ids)."""
        ...

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """The response stored for an idempotency key, if any."""
        ...

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """Store a request's response under its idempotency key (first one wins)."""
        ...

    def log_activity(self, entry: dict[str, Any]) -> None:
        """Append one entry to the business activity log."""
        ...

    def activity(self) -> list[dict[str, Any]]:
        """The business activity log, newest first."""
        ...

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...


ClaimResult = Literal["ok", "targeting_cap", "frequency_cap"]


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One user asking for a slot: the delivery key, channel and local period keys.

    ``day``/``week`` are the user's local day and ISO week of the send (see
    :func:`tidings.delivery.rules.period_keys`); ``apply_frequency`` is False for
    campaigns that opt out of the global limits.
    """

    identity: str
    key: str
    channel: str
    day: str
    week: str
    apply_frequency: bool = True


@dataclass(frozen=True, slots=True)
class _FreqRow:
    identity: str
    channel: str
    day: str
    week: str


def _decide_claims(
    requests: Sequence[ClaimRequest],
    *,
    cap: int | None,
    used: int,
    claimed: set[str],
    known_keys: set[str],
    rows: Iterable[_FreqRow],
    frequency_caps: Sequence[FrequencyCap],
) -> tuple[dict[str, ClaimResult], list[str], list[ClaimRequest]]:
    """Decide claims from the current counters (shared by both ledgers).

    Returns the results, the identities that take a new cap slot, and the
    requests that take a new frequency slot.
    """
    counts: dict[tuple[str, str, str | None], int] = {}

    def bump(identity: str, channel: str, day: str, week: str) -> None:
        for rule in frequency_caps:
            if rule.channel is not None and rule.channel != channel:
                continue
            period = day if rule.period == "day" else week
            k = (identity, period, rule.channel)
            counts[k] = counts.get(k, 0) + 1

    for row in rows:
        bump(row.identity, row.channel, row.day, row.week)
    results: dict[str, ClaimResult] = {}
    new_cap: list[str] = []
    new_freq: list[ClaimRequest] = []
    for req in requests:
        repeat = req.key in known_keys
        cap_ok = cap is None or req.identity in claimed or used + len(new_cap) < cap
        freq_ok = repeat or not req.apply_frequency
        if not freq_ok:
            freq_ok = True
            for rule in frequency_caps:
                if rule.channel is not None and rule.channel != req.channel:
                    continue
                period = req.day if rule.period == "day" else req.week
                if counts.get((req.identity, period, rule.channel), 0) >= rule.limit:
                    freq_ok = False
                    break
        if not cap_ok:
            results[req.identity] = "targeting_cap"
            continue
        if not freq_ok:
            results[req.identity] = "frequency_cap"
            continue
        results[req.identity] = "ok"
        if cap is not None and req.identity not in claimed:
            claimed.add(req.identity)
            new_cap.append(req.identity)
        if not repeat:
            known_keys.add(req.key)
            new_freq.append(req)
            if req.apply_frequency:
                bump(req.identity, req.channel, req.day, req.week)
    return results, new_cap, new_freq


def _outcome(record: Record, dispatch_key: str, at: datetime) -> dict[str, Any]:
    if isinstance(record, Delivery):
        return {
            "decided_at": at.isoformat(),
            "source_id": record.source_id,
            "identity": record.identity,
            "dispatch_key": dispatch_key,
            "state": "pending",
            "reason": None,
            "channel": record.channel,
            "send_at": record.send_at.isoformat(),
            "idempotency_key": record.idempotency_key,
        }
    return {
        "decided_at": at.isoformat(),
        "source_id": record.source_id,
        "identity": record.identity,
        "dispatch_key": dispatch_key,
        "state": "skipped",
        "reason": record.reason,
        "channel": None,
        "send_at": None,
        "idempotency_key": None,
    }


def _outcome_row(record: Record, dispatch_key: str, at: str) -> tuple[Any, ...]:
    """One outcome as a row in ``_OUTCOME_COLUMNS`` order (the hot path of SQLite writes)."""
    if isinstance(record, Delivery):
        return (
            at,
            record.source_id,
            record.identity,
            dispatch_key,
            "pending",
            None,
            record.channel,
            record.send_at.isoformat(),
            record.idempotency_key,
        )
    return (
        at,
        record.source_id,
        record.identity,
        dispatch_key,
        "skipped",
        record.reason,
        None,
        None,
        None,
    )


class MemoryLedger:
    """An in-memory ledger (tests, previews, single-process services)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, set[str]] = {}
        self._freq_keys: set[str] = set()
        self._freq_rows: dict[str, list[_FreqRow]] = {}
        self._outcomes: dict[str, list[dict[str, Any]]] = {}
        self._outcome_index: dict[tuple[str, str, str], int] = {}
        self._emitted: set[tuple[str, str, str]] = set()
        self._definitions: dict[str, dict[str, dict[str, Any]]] = {}
        self._sequences: dict[str, int] = {}
        self._responses: dict[str, dict[str, Any]] = {}
        self._activity: list[dict[str, Any]] = []

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        cap: int | None,
        frequency_caps: Sequence[FrequencyCap],
    ) -> dict[str, ClaimResult]:
        """See :meth:`Ledger.claim`."""
        with self._lock:
            claimed = self._claims.setdefault(source_id, set())
            rows = [row for req in requests for row in self._freq_rows.get(req.identity, ())]
            results, _new_cap, new_freq = _decide_claims(
                requests,
                cap=cap,
                used=len(claimed),
                claimed=claimed,
                known_keys=self._freq_keys,
                rows=rows,
                frequency_caps=frequency_caps,
            )
            for req in new_freq:
                if req.apply_frequency:
                    self._freq_rows.setdefault(req.identity, []).append(
                        _FreqRow(req.identity, req.channel, req.day, req.week)
                    )
            return results

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        return len(self._claims.get(source_id, ()))

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """See :meth:`Ledger.claimed`."""
        held = self._claims.get(source_id, set())
        return {i for i in identities if i in held}

    def record(
        self,
        records: Iterable[Record],
        *,
        dispatch_key: str,
        at: datetime,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record`."""
        with self._lock:
            if emitted is not None:
                self._mark_emitted(emitted[0], dispatch_key, emitted[1])
            for record in records:
                ident = (record.source_id, dispatch_key, record.identity)
                if ident in self._emitted:
                    continue
                rows = self._outcomes.setdefault(record.source_id, [])
                row = _outcome(record, dispatch_key, at)
                position = self._outcome_index.get(ident)
                if position is None:
                    self._outcome_index[ident] = len(rows)
                    rows.append(row)
                else:
                    rows[position] = row

    def mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """See :meth:`Ledger.mark_emitted`."""
        with self._lock:
            self._mark_emitted(source_id, dispatch_key, identities)

    def _mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """:meth:`mark_emitted` under the caller's lock."""
        rows = self._outcomes.get(source_id, [])
        for identity in identities:
            ident = (source_id, dispatch_key, identity)
            position = self._outcome_index.get(ident)
            if position is None:
                continue
            self._emitted.add(ident)
            if rows[position]["state"] == "pending":
                rows[position]["state"] = "sent"

    def emitted(
        self, source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> dict[str, tuple[str, str | None]]:
        """See :meth:`Ledger.emitted`."""
        rows = self._outcomes.get(source_id, [])
        found: dict[str, tuple[str, str | None]] = {}
        for identity in identities:
            ident = (source_id, dispatch_key, identity)
            if ident in self._emitted:
                row = rows[self._outcome_index[ident]]
                found[identity] = (row["state"], row["reason"])
        return found

    def pending_keys(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_keys`."""
        return {
            row["idempotency_key"]
            for row in self._outcomes.get(source_id, [])
            if row["dispatch_key"] == dispatch_key and row["state"] == "pending"
        }

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        return list(self._outcomes.get(source_id, ()))

    def sources(self) -> list[str]:
        """See :meth:`Ledger.sources`."""
        return sorted(source for source, rows in self._outcomes.items() if rows)

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_definition`."""
        self._definitions.setdefault(kind, {})[key] = json.loads(json.dumps(definition))

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Ledger.definitions`."""
        return dict(self._definitions.get(kind, {}))

    def next_sequence(self, name: str) -> int:
        """See :meth:`Ledger.next_sequence`."""
        with self._lock:
            value = self._sequences.get(name, 0) + 1
            self._sequences[name] = value
            return value

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Ledger.saved_response`."""
        return self._responses.get(request_key)

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_response`."""
        self._responses.setdefault(request_key, response)

    def log_activity(self, entry: dict[str, Any]) -> None:
        """See :meth:`Ledger.log_activity`."""
        self._activity.append(dict(entry))

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Ledger.activity`."""
        return list(reversed(self._activity))

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cap_claims (
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    PRIMARY KEY (source_id, identity)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cap_counts (
    source_id TEXT PRIMARY KEY,
    used INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at TEXT NOT NULL,
    source_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    dispatch_key TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    channel TEXT,
    send_at TEXT,
    idempotency_key TEXT,
    emitted INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS outcomes_decision ON outcomes (source_id, dispatch_key, identity);
CREATE INDEX IF NOT EXISTS outcomes_source ON outcomes (source_id, identity);
CREATE TABLE IF NOT EXISTS freq_claims (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    channel TEXT NOT NULL,
    day TEXT NOT NULL,
    week TEXT NOT NULL,
    counted INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS freq_claims_user ON freq_claims (identity, week, day);
CREATE TABLE IF NOT EXISTS definitions (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS responses (request_key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS activity (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""

_OUTCOME_COLUMNS = (
    "decided_at",
    "source_id",
    "identity",
    "dispatch_key",
    "state",
    "reason",
    "channel",
    "send_at",
    "idempotency_key",
)


_DECISION_KEY = ("source_id", "dispatch_key", "identity")


class SQLiteLedger:
    """A ledger in an SQLite file (WAL); safe to share between processes.

    One connection per ledger, used under a lock so threads may share it.
    """

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # CREATE ... IF NOT EXISTS: idempotent, safe when several processes open at once.
        self._conn.executescript(_SCHEMA)

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """See :meth:`Ledger.claimed`."""
        with self._lock:
            rows = self._in_chunks(
                "SELECT identity FROM cap_claims WHERE source_id = ? AND identity IN ({marks})",
                (source_id,),
                list(identities),
            )
        return {r[0] for r in rows}

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        row = self._write("SELECT used FROM cap_counts WHERE source_id = ?", (source_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def _in_chunks(self, sql: str, head: Sequence[Any], items: Sequence[str]) -> list[Any]:
        """Run ``sql`` (with one ``{marks}`` placeholder list) over ``items`` in chunks."""
        rows: list[Any] = []
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows.extend(self._conn.execute(sql.format(marks=marks), (*head, *chunk)).fetchall())
        return rows

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        cap: int | None,
        frequency_caps: Sequence[FrequencyCap],
    ) -> dict[str, ClaimResult]:
        """See :meth:`Ledger.claim`: one IMMEDIATE transaction for the whole batch."""
        if not requests:
            return {}
        identities = [r.identity for r in requests]
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT used FROM cap_counts WHERE source_id = ?", (source_id,)
                ).fetchone()
                used = row[0] if row else 0
                claimed = {
                    r[0]
                    for r in self._in_chunks(
                        "SELECT identity FROM cap_claims WHERE source_id = ? "
                        "AND identity IN ({marks})",
                        (source_id,),
                        identities,
                    )
                }
                known = {
                    r[0]
                    for r in self._in_chunks(
                        "SELECT key FROM freq_claims WHERE key IN ({marks})",
                        (),
                        [r.key for r in requests],
                    )
                }
                weeks = sorted({r.week for r in requests})
                rows = (
                    [
                        _FreqRow(*r)
                        for r in self._in_chunks(
                            "SELECT identity, channel, day, week FROM freq_claims "  # noqa: S608 - placeholders only
                            f"WHERE counted = 1 AND week IN ({','.join('?' * len(weeks))}) "
                            "AND identity IN ({marks})",
                            weeks,
                            identities,
                        )
                    ]
                    if frequency_caps
                    else []
                )
                results, new_cap, new_freq = _decide_claims(
                    requests,
                    cap=cap,
                    used=used,
                    claimed=claimed,
                    known_keys=known,
                    rows=rows,
                    frequency_caps=frequency_caps,
                )
                if new_cap:
                    conn.executemany(
                        "INSERT INTO cap_claims (source_id, identity) VALUES (?, ?)",
                        [(source_id, i) for i in new_cap],
                    )
                    conn.execute(
                        "INSERT INTO cap_counts (source_id, used) VALUES (?, ?) "
                        "ON CONFLICT (source_id) DO UPDATE SET used = excluded.used",
                        (source_id, used + len(new_cap)),
                    )
                if new_freq:
                    conn.executemany(
                        "INSERT INTO freq_claims (key, identity, channel, day, week, counted) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (r.key, r.identity, r.channel, r.day, r.week, int(r.apply_frequency))
                            for r in new_freq
                        ],
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return results

    def record(
        self,
        records: Iterable[Record],
        *,
        dispatch_key: str,
        at: datetime,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record`: one IMMEDIATE transaction, with ``emitted`` if given."""
        rows = [_outcome_row(r, dispatch_key, at.isoformat()) for r in records]
        marks = emitted is not None and bool(emitted[1])
        if not rows and not marks:
            return
        updates = ", ".join(
            f"{c} = excluded.{c}" for c in _OUTCOME_COLUMNS if c not in _DECISION_KEY
        )
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if emitted is not None and marks:
                    self._mark_emitted(emitted[0], dispatch_key, emitted[1])
                if rows:
                    self._conn.executemany(
                        f"INSERT INTO outcomes ({', '.join(_OUTCOME_COLUMNS)}) "  # noqa: S608 - fixed column names
                        f"VALUES ({', '.join('?' * len(_OUTCOME_COLUMNS))}) "
                        "ON CONFLICT (source_id, dispatch_key, identity) "
                        f"DO UPDATE SET {updates} WHERE emitted = 0",
                        rows,
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """The UPDATE of :meth:`mark_emitted`, inside the caller's transaction."""
        self._in_chunks(
            "UPDATE outcomes SET emitted = 1, "
            "state = CASE state WHEN 'pending' THEN 'sent' ELSE state END "
            "WHERE source_id = ? AND dispatch_key = ? AND identity IN ({marks})",
            (source_id, dispatch_key),
            list(identities),
        )

    def mark_emitted(self, source_id: str, dispatch_key: str, identities: Sequence[str]) -> None:
        """See :meth:`Ledger.mark_emitted`."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._mark_emitted(source_id, dispatch_key, identities)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def emitted(
        self, source_id: str, dispatch_key: str, identities: Sequence[str]
    ) -> dict[str, tuple[str, str | None]]:
        """See :meth:`Ledger.emitted`."""
        with self._lock:
            rows = self._in_chunks(
                "SELECT identity, state, reason FROM outcomes WHERE source_id = ? "
                "AND dispatch_key = ? AND emitted = 1 AND identity IN ({marks})",
                (source_id, dispatch_key),
                list(identities),
            )
        return {identity: (state, reason) for identity, state, reason in rows}

    def pending_keys(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_keys`."""
        cursor = self._write(
            "SELECT idempotency_key FROM outcomes WHERE source_id = ? AND dispatch_key = ? "
            "AND state = 'pending'",
            (source_id, dispatch_key),
        )
        return {row[0] for row in cursor.fetchall()}

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        cursor = self._write(
            f"SELECT {', '.join(_OUTCOME_COLUMNS)} FROM outcomes "  # noqa: S608 - fixed column names
            "WHERE source_id = ? ORDER BY seq",
            (source_id,),
        )
        return [dict(zip(_OUTCOME_COLUMNS, row, strict=True)) for row in cursor.fetchall()]

    def sources(self) -> list[str]:
        """See :meth:`Ledger.sources`."""
        cursor = self._write("SELECT DISTINCT source_id FROM outcomes ORDER BY source_id")
        return [row[0] for row in cursor.fetchall()]

    def save_definition(self, kind: str, key: str, definition: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_definition`."""
        self._write(
            "INSERT INTO definitions (kind, key, body) VALUES (?, ?, ?) "
            "ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            (kind, key, json.dumps(definition)),
        )

    def definitions(self, kind: str) -> dict[str, dict[str, Any]]:
        """See :meth:`Ledger.definitions`."""
        cursor = self._write("SELECT key, body FROM definitions WHERE kind = ?", (kind,))
        return {key: json.loads(body) for key, body in cursor.fetchall()}

    def next_sequence(self, name: str) -> int:
        """See :meth:`Ledger.next_sequence`."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO sequences (name, value) VALUES (?, 1) "
                "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
                (name,),
            )
            return int(cursor.fetchone()[0])

    def saved_response(self, request_key: str) -> dict[str, Any] | None:
        """See :meth:`Ledger.saved_response`."""
        row = self._write(
            "SELECT body FROM responses WHERE request_key = ?", (request_key,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def save_response(self, request_key: str, response: dict[str, Any]) -> None:
        """See :meth:`Ledger.save_response`."""
        self._write(
            "INSERT OR IGNORE INTO responses (request_key, body) VALUES (?, ?)",
            (request_key, json.dumps(response)),
        )

    def log_activity(self, entry: dict[str, Any]) -> None:
        """See :meth:`Ledger.log_activity`."""
        self._write("INSERT INTO activity (body) VALUES (?)", (json.dumps(entry),))

    def activity(self) -> list[dict[str, Any]]:
        """See :meth:`Ledger.activity`."""
        cursor = self._write("SELECT body FROM activity ORDER BY seq DESC")
        return [json.loads(body) for (body,) in cursor.fetchall()]

    def close(self) -> None:
        """Close the connection. Idempotent."""
        with self._lock:
            self._conn.close()
