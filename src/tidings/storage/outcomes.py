"""Outcomes as the ledgers store them: one row per record of a dispatch.

Workers turn records into rows (:func:`outcome_row`); every ledger stores them
through its ``record_rows``, and :class:`RecordsAsRows` gives each ledger its
``record`` on top of that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from ..models.records import Delivery, Record

__all__ = [
    "OUTCOME_COLUMNS",
    "EmittedOutcome",
    "OutcomeRow",
    "RecordsAsRows",
    "outcome_row",
    "pending_row",
]


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
        return pending_row(
            at,
            record.source_id,
            record.identity,
            dispatch_key,
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


def pending_row(
    at: str,
    source_id: str,
    identity: str,
    dispatch_key: str,
    channel: str,
    send_at: str,
    idempotency_key: str,
    version: int | None = None,
) -> OutcomeRow:
    """:func:`outcome_row` of a delivery given as its fields (``send_at`` as ISO text)."""
    return (
        at,
        source_id,
        identity,
        dispatch_key,
        "pending",
        None,
        channel,
        send_at,
        idempotency_key,
        version,
    )


class EmittedOutcome(NamedTuple):
    """An outcome already handed to the sink: its state and, for a skip, the reason."""

    state: str
    reason: str | None


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
