"""Commit: the only writer of a dispatch's outcomes, to the ledger and then the sink.

Every record of a dispatch (delivery or skip) goes through :class:`Committer`,
which also counts it into the dispatch's :class:`~tidings.models.records.Summary`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from ..models.records import Delivery, Record, Sink, Skip, Summary
from ..storage.ledger import Ledger, OutcomeRow
from .plan import DispatchPlan

if TYPE_CHECKING:
    from .encoded import Encoded

__all__ = ["ChunkSink", "Committer", "Kept", "LineSink", "dispatch_of", "duplicate_key"]

_DUPLICATE = "#duplicate-"

Kept = tuple[list[Delivery], list[Skip]]
"""Where records go when there is no sink: the result's deliveries and skips lists."""


def duplicate_key(dispatch_key: str, n: int) -> str:
    """The ledger key of the ``n``-th extra listing of recipients in a dispatch."""
    return f"{dispatch_key}{_DUPLICATE}{n}"


def dispatch_of(ledger_key: str) -> str:
    """The dispatch a ledger row belongs to (undoes :func:`duplicate_key`)."""
    head, mark, tail = ledger_key.rpartition(_DUPLICATE)
    return head if mark and tail.isdigit() else ledger_key


@runtime_checkable
class ChunkSink(Protocol):
    """A sink that takes a whole chunk of JSON lines at once (the encoded path).

    :class:`~tidings.JsonLinesSink` is one. ``include_skips`` says whether skip
    lines are wanted at all (the workers then encode none).
    """

    include_skips: bool

    def write_lines(self, lines: Sequence[str], rows: Sequence[OutcomeRow]) -> None:
        """Write ``lines``, the JSON lines of the records whose outcome rows are ``rows``."""


@runtime_checkable
class LineSink(Protocol):
    """A sink that can also take a delivery's JSON line already encoded (by a worker).

    :class:`~tidings.JsonLinesSink` is one; wrappers (the CLI's progress line) forward it.
    """

    def __call__(self, record: Record) -> None:
        """Write one record."""

    def write_encoded(self, record: Record, line: str) -> None:
        """Write one record whose line is ``encode_line(record)``."""


def _chunk_sink(sink: object) -> ChunkSink | None:
    return sink if isinstance(sink, ChunkSink) else None


class Committer:
    """The per-chunk commit: store the decisions, hand them to the sink, mark them emitted.

    A chunk is marked emitted in the same ledger transaction that records the next
    chunk (and the last one on its own, in :meth:`finish`): two transactions per
    chunk instead of three. Until then the chunk's deliveries stay ``pending``, so a
    crash re-processes at most the chunks not yet marked (as before, one chunk may
    reach the sink twice; :class:`~tidings.JsonLinesSink` drops its repeats on
    resume). The sink is flushed (if it can be) before its chunk is marked.

    Args:
        plan: The dispatch.
        ledger: Where outcomes are recorded.
        sink: Where records go, or None to keep them in ``keep``.
        keep: The lists that collect records when there is no sink.
    """

    def __init__(
        self, plan: DispatchPlan, ledger: Ledger, sink: Sink | None, keep: Kept | None
    ) -> None:
        self.plan = plan
        self.ledger = ledger
        self.sink = sink
        self.keep = keep
        self.summary = Summary()
        self.lines: LineSink | None = sink if isinstance(sink, LineSink) else None
        self.chunks = _chunk_sink(sink)
        flush = getattr(sink, "flush", None)
        self._flush: Callable[[], object] | None = flush if callable(flush) else None
        self._unmarked: list[str] = []
        # On the encoded path commits run on a thread of their own while the
        # main thread counts what an earlier run emitted: both add to the summary.
        self._counting = threading.Lock()
        # A dispatch run for the first time has nothing emitted: one question
        # here spares a look-up per chunk.
        self._rerun = ledger.any_emitted(plan.source_id, plan.dispatch_key)
        resume = getattr(sink, "resume", None)
        if callable(resume):
            # Tell a resumable sink which records a crashed run may have written.
            pending = ledger.pending_keys(plan.source_id, plan.dispatch_key)
            skipped = ledger.pending_skips(plan.source_id, plan.dispatch_key)
            if skipped:
                resume(pending, {(plan.source_id, identity) for identity in skipped})
            elif pending:
                resume(pending)

    def todo(self, identities: list[str]) -> set[str]:
        """Which of ``identities`` an earlier run already emitted (they are counted here)."""
        if not self._rerun:
            return set()
        plan = self.plan
        done = self.ledger.emitted(plan.source_id, plan.dispatch_key, identities)
        with self._counting:
            for state, reason in done.values():
                self.summary.add_outcome(state, reason)
        return set(done)

    def emit(self, records: list[Record], lines: Mapping[str, str]) -> None:
        """Record a chunk (marking the previous one emitted), then hand it to the sink.

        ``lines`` holds encoded JSON lines by identity; one is used only for a
        record that is still the delivery it was encoded from.
        """
        plan, summary = self.plan, self.summary
        unmarked = self._unmarked
        self.ledger.record(
            records,
            dispatch_key=plan.dispatch_key,
            at=plan.now,
            emitted=(plan.source_id, unmarked) if unmarked else None,
            version=plan.version,
        )
        self._unmarked = []
        encoded = self.lines
        for record in records:
            summary.add(record)
            if encoded is not None:
                line = lines.get(record.identity) if isinstance(record, Delivery) else None
                if line is not None:
                    encoded.write_encoded(record, line)
                else:
                    encoded(record)
            else:
                self._hand_over(record)
        if self._flush is not None:
            self._flush()
        self._unmarked = [r.identity for r in records]

    def emit_encoded(self, encoded: Encoded) -> None:
        """:meth:`emit` for a chunk decided on the encoded path (needs :attr:`chunks`).

        The same steps: record the chunk's outcome rows (marking the previous
        chunk emitted) in one transaction, count them, hand the lines to the sink,
        flush.
        """
        plan, sink = self.plan, self.chunks
        assert sink is not None  # noqa: S101 - the encoded path runs for chunk sinks only
        unmarked = self._unmarked
        self.ledger.record_rows(
            encoded.rows,
            dispatch_key=plan.dispatch_key,
            emitted=(plan.source_id, unmarked) if unmarked else None,
        )
        self._unmarked = []
        with self._counting:
            self.summary.merge(encoded.summary)
        lines, rows = encoded.lines, encoded.rows
        if None in lines:  # skips the sink does not want
            kept = [i for i, line in enumerate(lines) if line is not None]
            lines, rows = [lines[i] for i in kept], [rows[i] for i in kept]
        sink.write_lines(cast("list[str]", lines), rows)
        if self._flush is not None:
            self._flush()
        self._unmarked = encoded.identities

    def _hand_over(self, record: Record) -> None:
        if self.sink is not None:
            self.sink(record)
        elif self.keep is not None:
            if isinstance(record, Delivery):
                self.keep[0].append(record)
            else:
                self.keep[1].append(record)

    def emit_duplicates(self, listings: Mapping[int, list[Skip]]) -> None:
        """Record and hand over the skips of recipients a request lists more than once.

        ``listings`` maps ``n`` (the n-th extra listing of an identity) to its
        skips. They are outcomes like any other (so the ledger, ``tidings stats``
        and the dispatch summary count them alike), stored under a key derived
        from the dispatch key (:func:`duplicate_key`) since the first listing
        holds (source, dispatch, identity); a resumed dispatch counts those
        already emitted instead of writing them again.
        """
        plan, ledger = self.plan, self.ledger
        self.finish()
        for n, skips in sorted(listings.items()):
            key = duplicate_key(plan.dispatch_key, n)
            done = ledger.emitted(plan.source_id, key, [s.identity for s in skips])
            for state, reason in done.values():
                self.summary.add_outcome(state, reason)
            todo = [s for s in skips if s.identity not in done]
            if not todo:
                continue
            ledger.record(todo, dispatch_key=key, at=plan.now, version=plan.version)
            for skip in todo:
                self.summary.add(skip)
                self._hand_over(skip)
            if self._flush is not None:
                self._flush()
            ledger.mark_emitted(plan.source_id, key, [s.identity for s in todo])

    def finish(self) -> None:
        """Mark the last chunk handed to the sink as emitted."""
        if self._unmarked:
            plan = self.plan
            self.ledger.mark_emitted(plan.source_id, plan.dispatch_key, self._unmarked)
            self._unmarked = []
