"""The ledger: what was decided for whom, and the cap counters those decisions took.

Claims (targeting and frequency caps), outcomes (one per candidate of a dispatch),
the marks of outcomes handed to the sink, and the sources that have outcomes.
Definitions, saved responses and the activity log live in the
:class:`~tidings.storage.registry.Registry`.

Two implementations with identical behaviour: :class:`MemoryLedger` here and
:class:`~tidings.storage.sqlite_ledger.SQLiteLedger`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from ..delivery.rules import FrequencyCap
from ..models.records import Delivery, Record

__all__ = ["ClaimRequest", "ClaimResult", "Ledger", "MemoryLedger"]


@runtime_checkable
class Ledger(Protocol):
    """Durable state of dispatches: cap and frequency claims, outcomes, emitted marks."""

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

    def close(self) -> None:
        """Nothing to release."""
