"""The in-memory ledger: claims, outcomes and the outbox in dictionaries, under one lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .claims import ClaimDecider, ClaimRequest, ClaimResult, ClaimState, FrequencyClaim
from .outbox import MemoryOutbox, OutboxForwarding
from .outcomes import OUTCOME_COLUMNS, EmittedOutcome, OutcomeRow, RecordsAsRows

__all__ = ["MemoryLedger"]


class MemoryLedger(RecordsAsRows, OutboxForwarding):
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
    ) -> dict[str, EmittedOutcome]:
        """See :meth:`Ledger.emitted`."""
        rows = self._outcomes.get(source_id, [])
        found: dict[str, EmittedOutcome] = {}
        for identity in identities:
            ident = (source_id, dispatch_key, identity)
            if ident in self._emitted:
                row = rows[self._outcome_index[ident]]
                found[identity] = EmittedOutcome(row["state"], row["reason"])
        return found

    def any_emitted(self, source_id: str, dispatch_key: str) -> bool:
        """See :meth:`Ledger.any_emitted`."""
        with self._lock:
            return any(s == source_id and d == dispatch_key for s, d, _ in self._emitted)

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

    def close(self) -> None:
        """Nothing to release."""
