"""The ledger: what was decided for whom, and the cap counters those decisions took.

Claims (targeting and frequency caps), outcomes (one per candidate of a dispatch),
the marks of outcomes handed to the sink, and the sources that have outcomes.
Definitions, saved responses and the activity log live in the
:class:`~tidings.storage.registry.Registry`.

Three implementations with identical behaviour:
:class:`~tidings.storage.memory_ledger.MemoryLedger`,
:class:`~tidings.storage.sqlite_ledger.SQLiteLedger` and
:class:`~tidings.storage.postgres_ledger.PostgresLedger`. The claim records live in
:mod:`.claims`, the outcome rows in :mod:`.outcomes` (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ..models.records import Record
from . import claims, outcomes
from .claims import ClaimDecider as ClaimDecider
from .claims import ClaimDecision as ClaimDecision
from .claims import ClaimRequest as ClaimRequest
from .claims import ClaimResult as ClaimResult
from .claims import ClaimState as ClaimState
from .claims import FrequencyClaim as FrequencyClaim
from .memory_ledger import MemoryLedger as MemoryLedger
from .outbox import Outbox
from .outcomes import OUTCOME_COLUMNS as OUTCOME_COLUMNS
from .outcomes import EmittedOutcome as EmittedOutcome
from .outcomes import OutcomeRow as OutcomeRow
from .outcomes import RecordsAsRows as RecordsAsRows
from .outcomes import outcome_row as outcome_row

__all__ = ["Ledger", "MemoryLedger"]
__all__ += claims.__all__
__all__ += outcomes.__all__


@runtime_checkable
class Ledger(Outbox, Protocol):
    """Durable state of dispatches: cap and frequency claims, outcomes, emitted marks.

    The senders' outbox (:class:`~tidings.storage.outbox.Outbox`: queue, take_due,
    settle, delivery_counts, delivery_states) is part of it.
    """

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
    ) -> dict[str, EmittedOutcome]:
        """Outcomes of this dispatch already handed to the sink, by identity."""
        ...

    def any_emitted(self, source_id: str, dispatch_key: str) -> bool:
        """Whether any outcome of this dispatch was handed to the sink already (a re-run)."""
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

    def close(self) -> None:
        """Release resources. Idempotent."""
        ...
