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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from ..models.records import Delivery, Record
from .outbox import DeliveryUpdate, MemoryOutbox, QueuedDelivery

__all__ = [
    "OUTCOME_COLUMNS",
    "ClaimDecider",
    "ClaimDecision",
    "ClaimRequest",
    "ClaimResult",
    "ClaimState",
    "FrequencyClaim",
    "Ledger",
    "MemoryLedger",
    "OutcomeRow",
    "outcome_row",
]


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
        decide: ClaimDecider,
        history: bool,
    ) -> dict[str, ClaimResult]:
        """Atomically decide and take targeting-cap and frequency-cap slots.

        In one transaction: read the :class:`ClaimState` of the requesters
        (``history``: with their counted frequency claims in the requests'
        weeks), call ``decide`` (the rule lives with the other eligibility rules,
        :func:`tidings.dispatch.caps.decide_claims`), store the slots and
        keys it takes. Returns the decision's result per identity.
        """
        ...

    def record(
        self,
        records: Iterable[Record],
        *,
        dispatch_key: str,
        at: datetime,
        emitted: tuple[str, Sequence[str]] | None = None,
        version: int | None = None,
    ) -> None:
        """Store the outcome of each record (delivery or skip) of a dispatch decided at ``at``.

        For a held-out user ``at`` is when they would have been sent (uplift baseline).
        Deliveries are stored as ``pending`` until :meth:`mark_emitted`; recording
        the same (source, dispatch, identity) again replaces a not-yet-emitted row.
        ``emitted``, a (source id, identities) pair of the same dispatch, is marked
        as by :meth:`mark_emitted` first, in the same transaction (one write
        instead of two per chunk). ``version``: the version of the campaign or
        bulletin that produced the records, stored on each row (None: unversioned).
        """
        ...

    def record_rows(
        self,
        rows: Sequence[OutcomeRow],
        *,
        dispatch_key: str,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """:meth:`record` for outcomes already made rows (:func:`outcome_row`, by a worker).

        Every row must belong to ``dispatch_key``; the same rules apply as for
        :meth:`record`, in one transaction.
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

    def pending_skips(self, source_id: str, dispatch_key: str) -> set[str]:
        """Identities whose skip is recorded but not confirmed as emitted."""
        ...

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """Every stored outcome of a source, in insertion order."""
        ...

    def sources(self) -> list[str]:
        """Every source id (campaign, bulletin, message via identity) with outcomes, sorted."""
        ...

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """Put deliveries in the outbox as ``pending``, due at ``at``; return how many are new.

        Keyed by idempotency key: a delivery already queued (in any state) is left as is.
        """
        ...

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """Atomically take up to ``limit`` due deliveries for sending (they become ``sent``).

        Due: ``pending`` with ``due <= now``, or ``sent`` whose lease ran out (a sender
        died). A taken row counts one attempt and is leased for ``lease`` seconds.
        ``channels`` limits the take to the sender's channels. Oldest due first.
        """
        ...

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """Store senders' answers for taken (``sent``) deliveries, in one transaction.

        A row that is no longer ``sent`` (already settled) is left alone, so an
        acknowledged delivery is never reopened.
        """
        ...

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """Outbox rows per state (every state present, zeros included), of a source or all."""
        ...

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """Every outbox row of a source: key, identity, channel, state, attempts, last error."""
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
class FrequencyClaim:
    """A counted send of the past: who, on which channel, in which local day and week."""

    identity: str
    channel: str
    day: str
    week: str


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What the ledger holds that a claim decision reads, inside the claim transaction.

    Attributes:
        used: Targeting-cap slots the source has given out so far.
        claimed: Which of the requesters already hold a slot of the source.
        known_keys: Which of the requests' delivery keys were claimed before.
        history: The requesters' counted frequency claims (empty unless asked for).
    """

    used: int
    claimed: frozenset[str]
    known_keys: frozenset[str]
    history: tuple[FrequencyClaim, ...]


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    """A claim decision: a result per identity, the slots and the delivery keys it takes."""

    results: dict[str, ClaimResult]
    new_slots: list[str]
    new_keys: list[ClaimRequest]


ClaimDecider = Callable[[Sequence[ClaimRequest], ClaimState], ClaimDecision]
"""Decides a batch of claims from the ledger's current state (see :meth:`Ledger.claim`)."""


OUTCOME_COLUMNS: tuple[str, ...] = (
    "decided_at",
    "source_id",
    "identity",
    "dispatch_key",
    "state",
    "reason",
    "channel",
    "send_at",
    "idempotency_key",
    "version",
)
"""The fields of a stored outcome, in :data:`OutcomeRow` order (and the SQL column order)."""

OutcomeRow = tuple[
    str, str, str, str, str, str | None, str | None, str | None, str | None, int | None
]
"""One outcome as a row of :data:`OUTCOME_COLUMNS`: what every ledger stores per record."""


def outcome_row(
    record: Record, dispatch_key: str, at: str, version: int | None = None
) -> OutcomeRow:
    """The outcome of ``record`` decided at ``at`` (ISO text): ``pending`` or ``skipped``.

    ``version`` is the version of the campaign or bulletin that produced it.
    """
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
            version,
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
        version,
    )


class RecordsAsRows:
    """:meth:`Ledger.record` for a ledger that stores outcome rows (every ledger here).

    The records become their outcome rows (:func:`outcome_row`) and go through the
    ledger's own :meth:`record_rows`, the one write path of both dispatch routes.
    """

    def record(
        self,
        records: Iterable[Record],
        *,
        dispatch_key: str,
        at: datetime,
        emitted: tuple[str, Sequence[str]] | None = None,
        version: int | None = None,
    ) -> None:
        """See :meth:`Ledger.record`: one transaction, with ``emitted`` if given."""
        at_text = at.isoformat()
        rows = [outcome_row(r, dispatch_key, at_text, version) for r in records]
        self.record_rows(rows, dispatch_key=dispatch_key, emitted=emitted)

    def record_rows(
        self,
        rows: Sequence[OutcomeRow],
        *,
        dispatch_key: str,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record_rows` (each ledger stores the rows its own way)."""
        raise NotImplementedError


class MemoryLedger(RecordsAsRows):
    """An in-memory ledger (tests, previews, single-process services)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: dict[str, set[str]] = {}
        self._freq_keys: set[str] = set()
        self._freq_rows: dict[str, list[FrequencyClaim]] = {}
        self._outcomes: dict[str, list[dict[str, Any]]] = {}
        self._outcome_index: dict[tuple[str, str, str], int] = {}
        self._emitted: set[tuple[str, str, str]] = set()
        self._outbox = MemoryOutbox()

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        decide: ClaimDecider,
        history: bool,
    ) -> dict[str, ClaimResult]:
        """See :meth:`Ledger.claim`."""
        with self._lock:
            slots = self._claims.setdefault(source_id, set())
            state = ClaimState(
                used=len(slots),
                claimed=frozenset(r.identity for r in requests if r.identity in slots),
                known_keys=frozenset(r.key for r in requests if r.key in self._freq_keys)
                if history
                else frozenset(),
                history=tuple(
                    row for req in requests for row in self._freq_rows.get(req.identity, ())
                )
                if history
                else (),
            )
            decision = decide(requests, state)
            slots.update(decision.new_slots)
            for req in decision.new_keys:
                self._freq_keys.add(req.key)
                if req.apply_frequency:
                    self._freq_rows.setdefault(req.identity, []).append(
                        FrequencyClaim(req.identity, req.channel, req.day, req.week)
                    )
            return decision.results

    def cap_used(self, source_id: str) -> int:
        """See :meth:`Ledger.cap_used`."""
        return len(self._claims.get(source_id, ()))

    def claimed(self, source_id: str, identities: Sequence[str]) -> set[str]:
        """See :meth:`Ledger.claimed`."""
        held = self._claims.get(source_id, set())
        return {i for i in identities if i in held}

    def record_rows(
        self,
        rows: Sequence[OutcomeRow],
        *,
        dispatch_key: str,
        emitted: tuple[str, Sequence[str]] | None = None,
    ) -> None:
        """See :meth:`Ledger.record_rows`."""
        with self._lock:
            if emitted is not None:
                self._mark_emitted(emitted[0], dispatch_key, emitted[1])
            for values in rows:
                source_id, identity = values[1], values[2]
                ident = (source_id, dispatch_key, identity)
                if ident in self._emitted:
                    continue
                row: dict[str, Any] = dict(zip(OUTCOME_COLUMNS, values, strict=True))
                stored = self._outcomes.setdefault(source_id, [])
                position = self._outcome_index.get(ident)
                if position is None:
                    self._outcome_index[ident] = len(stored)
                    stored.append(row)
                else:
                    stored[position] = row

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

    def pending_skips(self, source_id: str, dispatch_key: str) -> set[str]:
        """See :meth:`Ledger.pending_skips`."""
        return {
            row["identity"]
            for row in self._outcomes.get(source_id, [])
            if row["dispatch_key"] == dispatch_key
            and row["state"] == "skipped"
            and (source_id, dispatch_key, row["identity"]) not in self._emitted
        }

    def outcomes(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.outcomes`."""
        return list(self._outcomes.get(source_id, ()))

    def sources(self) -> list[str]:
        """See :meth:`Ledger.sources`."""
        return sorted(source for source, rows in self._outcomes.items() if rows)

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`Ledger.queue`."""
        return self._outbox.queue(deliveries, at=at)

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`Ledger.take_due`."""
        return self._outbox.take_due(limit, now=now, lease=lease, channels=channels)

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`Ledger.settle`."""
        self._outbox.settle(updates, now=now)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`Ledger.delivery_counts`."""
        return self._outbox.delivery_counts(source_id)

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Ledger.delivery_states`."""
        return self._outbox.delivery_states(source_id)

    def close(self) -> None:
        """Nothing to release."""
