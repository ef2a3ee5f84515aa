"""Worker processes of a dispatch: their start, their exit, and the work they take.

A worker is forked from a fork server that imported this module once (a fresh
``spawn`` interpreter where there is no fork server), holding the dispatch's plan. It takes a
chunk at a time: entries to check and render (the record path, verdicts sent back
as plain tuples), or store rows to decide and encode (the encoded path,
:mod:`~tidings.dispatch.encoded`). Nothing it sends back needs Python code to
unpickle, since unpickling runs in the dispatching process, the bottleneck.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any

from ..models.records import Delivery, Record, Skip
from .eligibility import Entry
from .encoded import Encoded, decide_chunk, decide_rows
from .plan import DispatchPlan
from .render import Ready, decide

__all__ = [
    "decide_chunk_in_worker",
    "decide_in_worker",
    "decide_rows_in_worker",
    "init_worker",
    "pack",
    "unpack",
    "worker_pool",
    "worker_ready",
]

logger = logging.getLogger(__name__)

_WORKER_STATE: dict[str, Any] = {}
"""The plan of the dispatch a worker process serves (set by its initializer)."""


def init_worker(plan: DispatchPlan, encode: bool) -> None:
    """The initializer of a worker: keep the plan; exit with the dispatching process."""
    _WORKER_STATE["plan"] = plan
    _WORKER_STATE["encode"] = encode
    # Everything imported and compiled so far lives as long as the worker: keep
    # it out of the collector's full passes, which a worker's churn of small
    # per-user objects would otherwise trigger over and over.
    gc.freeze()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _worker_context() -> BaseContext:
    """How worker processes start: forked from a server that imported tidings once.

    Forking this process is not safe (it holds SQLite connections and threads).
    A fork server is a clean process that imports the workers' modules once
    (about a second of CPU) and then forks a worker per request, so a dispatch's
    workers, and those of every later dispatch of this process, start without
    importing anything. Where there is no fork server, each worker is a fresh
    interpreter (``spawn``). Templates compile again from the message
    definition when the plan is unpickled (ChannelMessage.__setstate__).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def worker_pool(plan: DispatchPlan, encode: bool, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes holding ``plan`` (``encode``: they encode JSON lines)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=_worker_context(),
        initializer=init_worker,
        initargs=(plan, encode),
    )


def _exit_with(parent_sentinel: int) -> None:
    """Exit this worker as soon as the dispatching process is gone (even by kill -9).

    A worker blocked on its task queue never learns otherwise: it would linger
    for minutes holding memory and maybe files.
    """
    multiprocessing.connection.wait([parent_sentinel])
    logger.warning("dispatching process %s is gone; worker %s exits", os.getppid(), os.getpid())
    os._exit(1)


def worker_ready() -> bool:
    """True once the worker holds its plan (the first task answers when it has started)."""
    return "plan" in _WORKER_STATE


# Unpickling frozen slotted dataclasses runs Python code per object (their
# ``__setstate__``), about ten times the cost of a tuple, and it happens in the
# dispatching process. So a worker sends its verdicts back as plain tuples (the
# wire format of this module, never seen outside it) and :func:`unpack` rebuilds
# the same records.


def pack(verdicts: list[Skip | Ready]) -> list[tuple[Any, ...]]:
    """Verdicts as plain tuples (undone by :func:`unpack`)."""
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


def unpack(plan: DispatchPlan, packed: list[tuple[Any, ...]]) -> list[Skip | Ready]:
    """The verdicts :func:`pack` packed."""
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


def decide_in_worker(entries: list[Entry]) -> list[tuple[Any, ...]]:
    """The record path's task: check and render ``entries``, verdicts packed."""
    plan: DispatchPlan = _WORKER_STATE["plan"]
    return pack(decide(plan, entries, encode=_WORKER_STATE["encode"]))


def decide_rows_in_worker(
    rows: Sequence[Sequence[Any]], capped: frozenset[str], skips: bool
) -> Encoded:
    """The encoded path's task: decide and encode a chunk of store rows."""
    plan: DispatchPlan = _WORKER_STATE["plan"]
    return decide_rows(plan, rows, capped, skips=skips)


def decide_chunk_in_worker(
    entries: list[Entry], order: list[str], screened: dict[str, Record], skips: bool
) -> Encoded:
    """The encoded path's task for a screened chunk (a campaign's): decide and encode it."""
    plan: DispatchPlan = _WORKER_STATE["plan"]
    return decide_chunk(plan, entries, order, screened, skips=skips)
