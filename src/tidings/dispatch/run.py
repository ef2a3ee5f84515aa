"""Run: the loop over chunks of candidates, in this process or with worker processes.

Per chunk (streaming; a chunk is the only thing in memory)::

    screen (unknown, filters; needs the store)
      -> check + render (per user; in a worker when there are several)
      -> claim (targeting and frequency caps; the ledger) -> commit (ledger, sink)

With ``workers`` above 1, worker processes check and render a chunk at a time
while this process keeps the rest in chunk order: the same records come out for
any number of workers.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import chain
from typing import Any, NamedTuple

from .._batching import CHUNK_SIZE, batched
from ..models.records import Delivery, Record, Sink, Skip, Summary
from ..storage.base import Store
from ..storage.ledger import Ledger
from .audience import audience_profiles, bulletin_candidates, recipient_candidates
from .commit import Committer, Kept
from .eligibility import (
    Eligible,
    Entry,
    admitted_under_cap,
    check,
    claim,
    reopen_held,
    screen,
)
from .plan import Candidate, DispatchPlan, Recipient
from .render import Ready, render

__all__ = ["dispatch_bulletin", "dispatch_recipients", "run_dispatch"]

logger = logging.getLogger(__name__)


def decide(plan: DispatchPlan, entries: list[Entry], *, encode: bool) -> list[Skip | Ready]:
    """Check and render each entry: the per-user work, with no store and no ledger."""
    verdicts: list[Skip | Ready] = []
    for entry in entries:
        verdict = check(plan, entry)
        verdicts.append(
            render(plan, verdict, encode=encode) if isinstance(verdict, Eligible) else verdict
        )
    return verdicts


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
            if verdict.line is not None:
                lines[verdict.delivery.identity] = verdict.line
    records.update(claim(plan, ledger, ready, ranked=ranked))
    return [records[i] for i in chunk.order if i in records], lines


# -- worker processes ---------------------------------------------------------------------

_WORKER_STATE: dict[str, Any] = {}
"""The plan of the dispatch a worker process serves (set by its initializer)."""


def _init_worker(plan: DispatchPlan, encode: bool) -> None:
    _WORKER_STATE["plan"] = plan
    _WORKER_STATE["encode"] = encode
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(parent_sentinel: int) -> None:
    """Exit this worker as soon as the dispatching process is gone (even by kill -9).

    A worker blocked on its task queue never learns otherwise: it would linger
    for minutes holding memory and maybe files.
    """
    multiprocessing.connection.wait([parent_sentinel])
    logger.warning("dispatching process %s is gone; worker %s exits", os.getppid(), os.getpid())
    os._exit(1)


def _worker_ready() -> bool:
    return "plan" in _WORKER_STATE


# Unpickling frozen slotted dataclasses runs Python code per object (their
# ``__setstate__``), about ten times the cost of a tuple, and it happens in the
# dispatching process, the bottleneck. So a worker sends its verdicts back as
# plain tuples (the wire format of this module, never seen outside it) and
# :func:`_unpack` rebuilds the same records.


def _pack(verdicts: list[Skip | Ready]) -> list[tuple[Any, ...]]:
    packed: list[tuple[Any, ...]] = []
    for v in verdicts:
        if isinstance(v, Skip):
            packed.append((v.identity, v.reason, v.detail, v.field))
        else:
            d = v.delivery
            packed.append(
                (d.identity, d.payload, d.send_at, d.idempotency_key, d.to, v.day, v.week, v.line)
            )
    return packed


def _unpack(plan: DispatchPlan, packed: list[tuple[Any, ...]]) -> list[Skip | Ready]:
    source, source_id, channel = plan.source, plan.source_id, plan.message.channel
    verdicts: list[Skip | Ready] = []
    for values in packed:
        if len(values) == 4:
            identity, reason, detail, field_name = values
            verdicts.append(Skip(source_id, identity, reason, detail, field_name))
        else:
            identity, payload, send_at, key, to, day, week, line = values
            delivery = Delivery(source, source_id, identity, channel, payload, send_at, key, to)
            verdicts.append(Ready(delivery, day, week, line))
    return verdicts


def _decide_in_worker(entries: list[Entry]) -> list[tuple[Any, ...]]:
    plan: DispatchPlan = _WORKER_STATE["plan"]
    return _pack(decide(plan, entries, encode=_WORKER_STATE["encode"]))


def _worker_pool(plan: DispatchPlan, encode: bool, workers: int) -> ProcessPoolExecutor:
    # spawn: a fresh interpreter per worker; forking a process that holds SQLite
    # connections (and maybe threads) is not safe. Templates compile again from
    # the message definition when it is unpickled (ChannelMessage.__setstate__).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(plan, encode),
    )


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
            entries = reopen_held(plan, ledger, entries)
        return _Chunk([c.identity for c in todo], records, entries)

    def commit(chunk: _Chunk, verdicts: list[Skip | Ready]) -> None:
        committer.emit(*_settle(plan, ledger, chunk, verdicts, ranked=ranked))

    try:
        if workers == 1 or second is None:
            for chunk in chunks:
                if (work := screened(chunk)) is not None:
                    commit(work, decide(plan, work.entries, encode=encode))
        else:
            in_flight: deque[tuple[_Chunk, Future[list[tuple[Any, ...]]]]] = deque()
            with _worker_pool(plan, encode, workers) as pool:
                # A worker takes a moment to start (a fresh interpreter importing
                # tidings); until one answers, this process decides the chunks itself.
                ready = pool.submit(_worker_ready)
                try:
                    for chunk in chunks:
                        if (work := screened(chunk)) is None:
                            continue
                        if not in_flight and not ready.done():
                            commit(work, decide(plan, work.entries, encode=encode))
                            continue
                        in_flight.append((work, pool.submit(_decide_in_worker, work.entries)))
                        if len(in_flight) >= 2 * workers:
                            work, future = in_flight.popleft()
                            commit(work, _unpack(plan, future.result()))
                    while in_flight:
                        work, future = in_flight.popleft()
                        commit(work, _unpack(plan, future.result()))
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
    except BaseException:
        # The last chunk the sink took in full is still unmarked: mark it if the
        # ledger lets us (a failing ledger is the error already on its way up).
        with contextlib.suppress(Exception):
            committer.finish()
        raise
    committer.finish()
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
