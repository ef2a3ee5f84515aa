"""The pipeline under both dispatch loops: decide work items here or in workers, commit in order.

Three things overlap when there are workers: worker processes decide the next
chunks, this process's main thread reads and hands out chunks and collects
answers, and (on the encoded path) a commit thread stores each answered chunk in
the ledger and writes it to the sink. SQLite and file writes release the GIL,
so the commit of one chunk runs while the main thread prepares the next ones
instead of holding them up. Commits stay strictly in chunk order either way.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from itertools import chain
from typing import Any, TypeVar

from .._batching import batched
from ..models.records import Summary
from .commit import Committer
from .workers import worker_ready

__all__ = ["drive", "run_chunks"]

_I = TypeVar("_I")
_W = TypeVar("_W")
_R = TypeVar("_R")

_COMMITS_WAITING = 2
"""Answered chunks queued for the commit thread at most (memory stays flat)."""


class _Commits:
    """Run ``commit`` in call order: here, or on one thread of its own (``threaded``)."""

    def __init__(self, commit: Callable[[Any, Any], None], *, threaded: bool) -> None:
        self._commit = commit
        self._thread = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidings-commit")
            if threaded
            else None
        )
        self._waiting: deque[Future[None]] = deque()

    def __call__(self, work: Any, result: Any) -> None:
        if self._thread is None:
            self._commit(work, result)
            return
        self._waiting.append(self._thread.submit(self._commit, work, result))
        while len(self._waiting) > _COMMITS_WAITING or (self._waiting and self._waiting[0].done()):
            self._waiting.popleft().result()  # a failed commit raises here

    def drain(self) -> None:
        """Wait for every commit handed over; raise the first one that failed."""
        while self._waiting:
            self._waiting.popleft().result()

    def close(self, *, failed: bool) -> None:
        """Stop the commit thread; after a failure, drop the commits not started."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=failed)


def drive(
    works: Iterable[_W],
    *,
    here: Callable[[_W], _R],
    there: Callable[[_W], tuple[Callable[..., Any], tuple[Any, ...]]],
    back: Callable[[Any], _R],
    commit: Callable[[_W, _R], None],
    pool: Callable[[], ProcessPoolExecutor] | None,
    workers: int,
    commit_thread: bool = False,
) -> None:
    """Decide each work item (``here``, or in a worker: ``there`` then ``back``), commit in order.

    Without ``pool`` everything is decided here. With one, at most ``2 * workers``
    items are in flight; until the first worker answers (a fresh interpreter
    importing tidings takes a moment), this process decides items itself. With
    ``commit_thread`` (and a pool), commits run on a thread of their own, in
    order, at most a few behind; every commit handed over is done (or has
    failed and raised here) when this returns.
    """
    if pool is None:
        for work in works:
            commit(work, here(work))
        return
    commits = _Commits(commit, threaded=commit_thread)
    in_flight: deque[tuple[_W, Future[Any]]] = deque()
    failed = True
    try:
        with pool() as executor:
            ready = executor.submit(worker_ready)
            try:
                for work in works:
                    if not in_flight and not ready.done():
                        commits(work, here(work))
                        continue
                    fn, args = there(work)
                    in_flight.append((work, executor.submit(fn, *args)))
                    if len(in_flight) >= 2 * workers:
                        done, future = in_flight.popleft()
                        commits(done, back(future.result()))
                while in_flight:
                    done, future = in_flight.popleft()
                    commits(done, back(future.result()))
                commits.drain()
            except BaseException:
                executor.shutdown(wait=True, cancel_futures=True)
                raise
        failed = False
    finally:
        commits.close(failed=failed)


def run_chunks(
    committer: Committer,
    items: Iterable[_I],
    *,
    size: int,
    workers: int,
    prepare: Callable[[list[_I]], _W | None],
    here: Callable[[_W], _R],
    there: Callable[[_W], tuple[Callable[..., Any], tuple[Any, ...]]],
    back: Callable[[Any], _R],
    commit: Callable[[_W, _R], None],
    pool: Callable[[], ProcessPoolExecutor],
    commit_thread: bool,
) -> Summary:
    """The loop of every dispatch route: chunks of ``items`` prepared, decided, committed in order.

    ``prepare`` turns a chunk into a work item (None: nothing left to do in it).
    Workers start only for more than one chunk; the last chunk handed to the
    sink is marked emitted at the end, also when the loop fails.

    Raises:
        ValueError: ``workers`` or ``chunk_size`` is below 1.
    """
    if size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be at least 1, not {size} and {workers}")
    chunks = batched(items, size)
    first = next(chunks, None)
    if first is None:
        return committer.summary
    second = next(chunks, None)
    chunks = chain([first] if second is None else [first, second], chunks)
    works = (work for chunk in chunks if (work := prepare(chunk)) is not None)
    try:
        drive(
            works,
            here=here,
            there=there,
            back=back,
            commit=commit,
            pool=None if workers == 1 or second is None else pool,
            workers=workers,
            commit_thread=commit_thread,
        )
    except BaseException:
        # The last chunk the sink took in full is still unmarked: mark it if the
        # ledger lets us (a failing ledger is the error already on its way up).
        with contextlib.suppress(Exception):
            committer.finish()
        raise
    committer.finish()
    return committer.summary
