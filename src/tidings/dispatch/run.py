"""Run: the loop over chunks of candidates, in this process or with worker processes.

Per chunk (streaming; a chunk is the only thing in memory)::

    screen (unknown, filters; needs the store)
      -> check + render (per user; in a worker when there are several)
      -> claim (targeting and frequency caps; the ledger) -> commit (ledger, sink)

With ``workers`` above 1, worker processes check and render a chunk at a time
while this process keeps the rest in chunk order: the same records come out for
any number of workers.

A bulletin dispatched to a chunk sink (:class:`~tidings.JsonLinesSink`) takes the
encoded path (:func:`run_encoded`): store rows go to the workers undecoded, and
ledger rows and JSON lines come back, so this process only claims, records and
writes. Campaigns, record lists and other sinks take :func:`run_dispatch`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain
from typing import Any, NamedTuple, TypeVar

from .._batching import CHUNK_SIZE, batched
from ..models.records import Record, Sink, Skip, Summary
from ..storage.base import Store
from ..storage.ledger import Ledger
from .audience import audience_profiles, bulletin_candidates, bulletin_rows, recipient_candidates
from .caps import Wanted, admitted_under_cap, claim, reopen_held
from .commit import Committer, Kept
from .eligibility import Entry, screen
from .encoded import Encoded, decide_rows, settle_encoded
from .plan import Candidate, DispatchPlan, Recipient
from .render import Ready, decide
from .workers import decide_in_worker, decide_rows_in_worker, init_worker, unpack, worker_ready

__all__ = ["dispatch_bulletin", "dispatch_recipients", "run_dispatch"]

logger = logging.getLogger(__name__)

# The names tests reach through this module (the workers' entry points).
_init_worker = init_worker
_worker_ready = worker_ready
_decide_in_worker = decide_in_worker
_decide_rows_in_worker = decide_rows_in_worker


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


def _worker_pool(plan: DispatchPlan, encode: bool, workers: int) -> ProcessPoolExecutor:
    # spawn: a fresh interpreter per worker; forking a process that holds SQLite
    # connections (and maybe threads) is not safe. Templates compile again from
    # the message definition when it is unpickled (ChannelMessage.__setstate__).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(plan, encode),
    )


_W = TypeVar("_W")
_R = TypeVar("_R")


def _drive(
    works: Iterable[_W],
    *,
    here: Callable[[_W], _R],
    there: Callable[[_W], tuple[Callable[..., Any], tuple[Any, ...]]],
    back: Callable[[Any], _R],
    commit: Callable[[_W, _R], None],
    pool: Callable[[], ProcessPoolExecutor] | None,
    workers: int,
) -> None:
    """Decide each work item (``here``, or in a worker: ``there`` then ``back``), commit in order.

    Without ``pool`` everything is decided here. With one, at most ``2 * workers``
    items are in flight; until the first worker answers (a fresh interpreter
    importing tidings takes a moment), this process decides items itself.
    """
    if pool is None:
        for work in works:
            commit(work, here(work))
        return
    in_flight: deque[tuple[_W, Future[Any]]] = deque()
    with pool() as executor:
        ready = executor.submit(_worker_ready)
        try:
            for work in works:
                if not in_flight and not ready.done():
                    commit(work, here(work))
                    continue
                fn, args = there(work)
                in_flight.append((work, executor.submit(fn, *args)))
                if len(in_flight) >= 2 * workers:
                    done, future = in_flight.popleft()
                    commit(done, back(future.result()))
            while in_flight:
                done, future = in_flight.popleft()
                commit(done, back(future.result()))
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise


# -- the loop -----------------------------------------------------------------------------


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
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be at least 1, not {size} and {workers}")
    committer = committer or Committer(plan, ledger, sink, keep)
    chunks = batched(candidates, size)
    first = next(chunks, None)
    if first is None:
        return committer.summary
    second = next(chunks, None)
    chunks = chain([first] if second is None else [first, second], chunks)
    encode = committer.lines is not None
    ranked = admitted is not None

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

    def commit(chunk: _Chunk, verdicts: list[Skip | Ready]) -> None:
        committer.emit(*_settle(plan, ledger, chunk, verdicts, ranked=ranked))

    works = (work for chunk in chunks if (work := screened(chunk)) is not None)
    _finishing(
        committer,
        lambda: _drive(
            works,
            here=lambda work: decide(plan, work.entries, encode=encode),
            there=lambda work: (_decide_in_worker, (work.entries,)),
            back=lambda packed: unpack(plan, packed),
            commit=commit,
            pool=None
            if workers == 1 or second is None
            else lambda: _worker_pool(plan, encode, workers),
            workers=workers,
        ),
    )
    return committer.summary


def _finishing(committer: Committer, run: Callable[[], None]) -> None:
    """Run the loop, then mark the last chunk emitted (also when the loop fails)."""
    try:
        run()
    except BaseException:
        # The last chunk the sink took in full is still unmarked: mark it if the
        # ledger lets us (a failing ledger is the error already on its way up).
        with contextlib.suppress(Exception):
            committer.finish()
        raise
    committer.finish()


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
    one transaction and writes its lines in one call.
    """
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be at least 1, not {size} and {workers}")
    sink = committer.chunks
    assert sink is not None  # noqa: S101 - callers check it
    skips = sink.include_skips
    chunks = batched(rows, size)
    first = next(chunks, None)
    if first is None:
        return committer.summary
    second = next(chunks, None)
    chunks = chain([first] if second is None else [first, second], chunks)
    ranked = admitted is not None

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

    def commit(_: _Rows, encoded: Encoded) -> None:
        if encoded.wanted:
            refused = claim(plan, ledger, encoded.wanted, ranked=ranked)
            settle_encoded(plan, encoded, refused, skips=skips)
        committer.emit_encoded(encoded)

    works: Iterator[_Rows] = (work for chunk in chunks if (work := todo(chunk)) is not None)
    _finishing(
        committer,
        lambda: _drive(
            works,
            here=lambda work: decide_rows(plan, work.rows, work.capped, skips=skips),
            there=lambda work: (_decide_rows_in_worker, (work.rows, work.capped, skips)),
            back=lambda encoded: encoded,
            commit=commit,
            pool=None
            if workers == 1 or second is None
            else lambda: _worker_pool(plan, False, workers),
            workers=workers,
        ),
    )
    return committer.summary


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
    summary = run_dispatch(
        plan,
        recipient_candidates(store, unique),
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
