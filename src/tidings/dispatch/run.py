"""Run: the loop over chunks of candidates, in this process or with worker processes.

Per chunk (streaming; a chunk is the only thing in memory)::

    screen (unknown, filters; needs the store)
      -> check + render (per user; in a worker when there are several)
      -> claim (targeting and frequency caps; the ledger) -> commit (ledger, sink)

With ``workers`` above 1, worker processes check and render a chunk at a time
while this process keeps the rest in chunk order: the same records come out for
any number of workers.

A dispatch to a chunk sink (:class:`~tidings.JsonLinesSink`) takes the encoded
path: a bulletin's store rows go to the workers undecoded (:func:`run_encoded`),
a campaign's recipients screened (:func:`run_encoded_recipients`), and ledger
rows and JSON lines come back, so this process only claims, records and writes
(on a commit thread). Record lists and other sinks take :func:`run_dispatch`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .._batching import CHUNK_SIZE
from ..models.records import Record, Sink, Skip, Summary
from ..storage.base import Store
from ..storage.ledger import Ledger
from ._pipeline import run_chunks
from .audience import audience_profiles, bulletin_candidates, bulletin_rows, recipient_candidates
from .caps import Wanted, admitted_under_cap, claim, reopen_held
from .commit import Committer, Kept
from .eligibility import Entry, screen
from .encoded import Encoded, decide_chunk, decide_rows, settle_encoded
from .plan import Candidate, DispatchPlan, Recipient
from .render import Ready, decide
from .workers import (
    decide_chunk_in_worker,
    decide_in_worker,
    decide_rows_in_worker,
    init_worker,
    unpack,
    worker_pool,
    worker_ready,
)

__all__ = ["dispatch_bulletin", "dispatch_recipients", "run_dispatch", "split_repeats"]

logger = logging.getLogger(__name__)

# The names tests reach through this module (the workers' entry points).
_init_worker = init_worker
_worker_ready = worker_ready
_worker_pool = worker_pool
_decide_in_worker = decide_in_worker
_decide_rows_in_worker = decide_rows_in_worker
_decide_chunk_in_worker = decide_chunk_in_worker


class _Chunk(NamedTuple):
    """One chunk between screening and commit: its order and what is decided so far."""

    order: list[str]
    records: dict[str, Record]
    entries: list[Entry]


def _settle(
    plan: DispatchPlan, ledger: Ledger, chunk: _Chunk, verdicts: list[Skip | Ready], *, ranked: bool
) -> tuple[list[Record], dict[str, str]]:
    """Claim the caps for a chunk; its records in order and its deliveries' encoded lines."""
    records = chunk.records
    ready: list[Ready] = []
    lines: dict[str, str] = {}
    for verdict in verdicts:
        if isinstance(verdict, Skip):
            records[verdict.identity] = verdict
        else:
            ready.append(verdict)
            records[verdict.delivery.identity] = verdict.delivery
            if verdict.line is not None:
                lines[verdict.delivery.identity] = verdict.line
    wanted = [Wanted(r.delivery.identity, r.delivery.idempotency_key, r.day, r.week) for r in ready]
    records.update(claim(plan, ledger, wanted, ranked=ranked))
    return [records[i] for i in chunk.order if i in records], lines


# -- the loop -----------------------------------------------------------------------------


def _screener(
    plan: DispatchPlan,
    store: Store,
    ledger: Ledger,
    committer: Committer,
    admitted: set[str] | None,
) -> Callable[[list[Candidate]], _Chunk | None]:
    """Screen a chunk of candidates: what an earlier run emitted, unknown identities, filters."""

    def screened(chunk: list[Candidate]) -> _Chunk | None:
        done = committer.todo([c.identity for c in chunk])
        todo = [c for c in chunk if c.identity not in done] if done else chunk
        if not todo:
            return None
        records, entries = screen(plan, store, todo, admitted)
        if admitted is not None:
            held = reopen_held(plan, ledger, [e.person.identity for e in entries if e.capped])
            if held:
                entries = [
                    e._replace(capped=False) if e.person.identity in held else e for e in entries
                ]
        return _Chunk([c.identity for c in todo], records, entries)

    return screened


def _encoded_commit(
    plan: DispatchPlan, ledger: Ledger, committer: Committer, *, ranked: bool
) -> Callable[[object, Encoded], None]:
    """The commit of an encoded chunk: claims (if any caps), then ledger and sink."""
    assert committer.chunks is not None  # noqa: S101 - callers check it
    skips = committer.chunks.include_skips

    def commit(_: object, encoded: Encoded) -> None:
        if encoded.wanted:
            refused = claim(plan, ledger, encoded.wanted, ranked=ranked)
            settle_encoded(plan, encoded, refused, skips=skips)
        committer.emit_encoded(encoded)

    return commit


# -- the routes ---------------------------------------------------------------------------


def run_dispatch(
    plan: DispatchPlan,
    candidates: Iterable[Candidate],
    *,
    store: Store,
    ledger: Ledger,
    sink: Sink | None,
    keep: Kept | None,
    admitted: set[str] | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
    committer: Committer | None = None,
) -> Summary:
    """Run every candidate through the stages; stream records to ``sink`` or ``keep``.

    Candidates must have distinct identities (the callers deduplicate). Per chunk:
    decide, store the decisions in the ledger, hand them to the sink (flushed),
    then mark them emitted (in the transaction that stores the next chunk's
    decisions; the last chunk on its own). A dispatch re-run with the same
    ``dispatch_key`` after a crash skips what was already emitted (counting it
    from the ledger) and redoes the rest, so nobody is sent twice and nobody is
    lost. ``admitted`` is the targeting-cap pass's choice, if there was one.

    With ``workers`` above 1 and more than one chunk of candidates, worker
    processes do the per-user work (check and render) while this process reads
    candidates, screens them, claims caps, writes the ledger and feeds the sink,
    chunk by chunk in the same order. At most ``2 * workers`` chunks are in
    flight, so memory stays flat.

    Raises:
        ValueError: ``workers`` or ``chunk_size`` is below 1.
    """
    committer = committer or Committer(plan, ledger, sink, keep)
    encode = committer.lines is not None
    ranked = admitted is not None

    def commit(chunk: _Chunk, verdicts: list[Skip | Ready]) -> None:
        committer.emit(*_settle(plan, ledger, chunk, verdicts, ranked=ranked))

    return run_chunks(
        committer,
        candidates,
        size=CHUNK_SIZE if chunk_size is None else chunk_size,
        workers=workers,
        prepare=_screener(plan, store, ledger, committer, admitted),
        here=lambda work: decide(plan, work.entries, encode=encode),
        there=lambda work: (_decide_in_worker, (work.entries,)),
        back=lambda packed: unpack(plan, packed),
        commit=commit,
        pool=lambda: _worker_pool(plan, encode, workers),
        commit_thread=False,
    )


ENCODED_CHUNKS = 2
"""A chunk of a bulletin's store rows on the encoded path is this many times ``CHUNK_SIZE``.

Its lines and rows are plain text and tuples, so 2,000 of them still keep memory
flat, and every chunk costs the same fixed work whatever its size (a task and its
answer through the worker pool, a ledger transaction, a sink write): fewer
chunks, less of it (about 1 µs a delivery in the ledger alone, measured). A
campaign's recipients keep chunks of ``CHUNK_SIZE``: their cap claims are taken a
chunk at a time in request order, as a Dask run takes them.
"""


def _encoded_size(chunk_size: int | None) -> int:
    return CHUNK_SIZE * ENCODED_CHUNKS if chunk_size is None else chunk_size


class _Rows(NamedTuple):
    """A chunk of store rows for the encoded path, and who in it the cap pass left out."""

    rows: list[tuple[Any, ...]]
    capped: frozenset[str]


def run_encoded(
    plan: DispatchPlan,
    rows: Iterable[tuple[Any, ...]],
    *,
    ledger: Ledger,
    committer: Committer,
    admitted: set[str] | None = None,
    workers: int = 1,
    chunk_size: int | None = None,
) -> Summary:
    """:func:`run_dispatch` for a bulletin's store rows and a chunk sink (the encoded path).

    The same records, ledger rows, lines and order as :func:`run_dispatch` gives
    for the same audience; what changes is where the work is done: workers decode
    the rows, decide and encode; this process claims caps, records each chunk in
    one transaction and writes its lines in one call (on a commit thread, while
    the next chunks are handed out).
    """
    assert committer.chunks is not None  # noqa: S101 - callers check it
    skips = committer.chunks.include_skips

    def todo(chunk: list[tuple[Any, ...]]) -> _Rows | None:
        done = committer.todo([row[0] for row in chunk])
        if done:
            chunk = [row for row in chunk if row[0] not in done]
        if not chunk:
            return None
        if admitted is None:
            return _Rows(chunk, frozenset())
        capped = [row[0] for row in chunk if row[0] not in admitted]
        return _Rows(chunk, frozenset(capped).difference(reopen_held(plan, ledger, capped)))

    return run_chunks(
        committer,
        rows,
        size=_encoded_size(chunk_size),
        workers=workers,
        prepare=todo,
        here=lambda work: decide_rows(plan, work.rows, work.capped, skips=skips),
        there=lambda work: (_decide_rows_in_worker, (work.rows, work.capped, skips)),
        back=lambda encoded: encoded,
        commit=_encoded_commit(plan, ledger, committer, ranked=admitted is not None),
        pool=lambda: _worker_pool(plan, False, workers),
        commit_thread=True,
    )


def run_encoded_recipients(
    plan: DispatchPlan,
    candidates: Iterable[Candidate],
    *,
    store: Store,
    ledger: Ledger,
    committer: Committer,
    workers: int = 1,
    chunk_size: int | None = None,
) -> Summary:
    """:func:`run_dispatch` for a campaign's recipients and a chunk sink (the encoded path).

    Screened here as on the record path (unknown identities, filters); decided
    and encoded in the workers, in the candidates' order, with the same records,
    ledger rows and lines as :func:`run_dispatch`.
    """
    assert committer.chunks is not None  # noqa: S101 - callers check it
    skips = committer.chunks.include_skips
    return run_chunks(
        committer,
        candidates,
        size=CHUNK_SIZE if chunk_size is None else chunk_size,
        workers=workers,
        prepare=_screener(plan, store, ledger, committer, None),
        here=lambda w: decide_chunk(plan, w.entries, w.order, w.records, skips=skips),
        there=lambda w: (_decide_chunk_in_worker, (w.entries, w.order, w.records, skips)),
        back=lambda encoded: encoded,
        commit=_encoded_commit(plan, ledger, committer, ranked=False),
        pool=lambda: _worker_pool(plan, False, workers),
        commit_thread=True,
    )


def dispatch_bulletin(
    plan: DispatchPlan,
    *,
    store: Store,
    ledger: Ledger,
    sink: Sink | None,
    keep: Kept | None,
    workers: int = 1,
) -> Summary:
    """Dispatch a bulletin to its audience (after the targeting-cap pass, if capped)."""
    committer = Committer(plan, ledger, sink, keep)
    admitted = (
        admitted_under_cap(plan, ledger, audience_profiles(plan, store))
        if plan.cap is not None
        else None
    )
    if committer.chunks is not None:
        return run_encoded(
            plan,
            bulletin_rows(plan, store),
            ledger=ledger,
            committer=committer,
            admitted=admitted,
            workers=workers,
        )
    return run_dispatch(
        plan,
        bulletin_candidates(plan, store),
        store=store,
        ledger=ledger,
        sink=sink,
        keep=keep,
        admitted=admitted,
        workers=workers,
        committer=committer,
    )


def split_repeats(
    plan: DispatchPlan, recipients: Iterable[Recipient]
) -> tuple[list[Recipient], dict[int, list[Skip]]]:
    """Each identity's first listing, in order, and the skips of its repeats.

    The repeats map ``n`` (the n-th extra listing of an identity) to their skips,
    as :meth:`Committer.emit_duplicates` takes them.
    """
    listed: dict[str, int] = {}
    unique: list[Recipient] = []
    duplicates: dict[int, list[Skip]] = {}
    for recipient in recipients:
        n = listed.get(recipient.identity, 0)
        listed[recipient.identity] = n + 1
        if n == 0:
            unique.append(recipient)
        else:
            duplicates.setdefault(n, []).append(
                Skip(
                    plan.source_id,
                    recipient.identity,
                    "duplicate_recipient",
                    "identity listed more than once",
                )
            )
    return unique, duplicates


def dispatch_recipients(
    plan: DispatchPlan,
    recipients: Iterable[Recipient],
    *,
    store: Store,
    ledger: Ledger,
    sink: Sink | None,
    keep: Kept | None,
    workers: int = 1,
) -> Summary:
    """Dispatch a campaign to the recipients a request names (each identity once)."""
    committer = Committer(plan, ledger, sink, keep)
    unique, duplicates = split_repeats(plan, recipients)
    candidates = recipient_candidates(store, unique)
    if committer.chunks is not None:
        summary = run_encoded_recipients(
            plan, candidates, store=store, ledger=ledger, committer=committer, workers=workers
        )
    else:
        summary = run_dispatch(
            plan,
            candidates,
            store=store,
            ledger=ledger,
            sink=sink,
            keep=keep,
            workers=workers,
            committer=committer,
        )
    if duplicates:
        committer.emit_duplicates(duplicates)
    return summary
