"""What runs on a Dask worker: the dispatch's plugin and the partition tasks (bulletins, campaigns).

The plan (with its compiled message) reaches each worker once, in a
:class:`DispatchPlugin`; a worker that joins later (a restart after a crash
included) gets it too. Tasks name the plugin and find the plan and the worker's
ledger connection in it.

A partition's records go to ``NAME.jsonl.tmp`` beside the final file, through
the same encoded path (``run_encoded`` for a bulletin, ``run_encoded_recipients``
for a campaign) and :class:`~tidings.JsonLinesSink` as a one-process dispatch, and the file is
renamed to ``NAME.jsonl`` when the partition is done. A retried task (its worker
died) takes a lock on the partition, resumes the same temporary file (the sink
drops the lines the dead attempt already wrote; claims are idempotent by
delivery key) and counts what the dead attempt emitted from the ledger; a task
that finds the partition finished returns its stored summary. So a retried or
duplicated task never writes a delivery twice, and never loses one.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from .._batching import CHUNK_SIZE, batched
from ..audience.control import hash_fraction
from ..dispatch.audience import audience_profiles, bulletin_rows, recipient_candidates
from ..dispatch.caps import Wanted, may_take_a_slot, select_under_cap
from ..dispatch.commit import Committer
from ..dispatch.eligibility import screen
from ..dispatch.plan import DispatchPlan, Recipient
from ..dispatch.render import Ready, decide
from ..dispatch.run import run_encoded, run_encoded_recipients
from ..models.records import Summary
from ..sinks import JsonLinesSink
from ..storage._dsn import is_postgres_dsn
from ..storage.ledger import ClaimDecider, ClaimRequest, ClaimResult, Ledger
from ..storage.parquet import ParquetStore

__all__ = [
    "Answered",
    "DispatchPlugin",
    "PartitionResult",
    "decide_recipients",
    "dispatch_partition",
    "dispatch_recipients_partition",
    "holding",
    "merge_ranks",
    "rank_partition",
    "run_partition",
]

logger = logging.getLogger(__name__)

Ranked = list[tuple[float, str]]
"""A partition's candidates for the targeting cap: (hash rank, identity), lowest first."""


def open_ledger(address: str) -> Ledger:
    """The ledger at ``address``: a PostgreSQL DSN, or an SQLite file (one machine only)."""
    if is_postgres_dsn(address):
        from ..storage.postgres_ledger import PostgresLedger

        return PostgresLedger(address)
    from ..storage.sqlite_ledger import SQLiteLedger

    return SQLiteLedger(address)


class DispatchPlugin(WorkerPlugin):
    """One dispatch's plan and ledger address, installed once on every worker.

    Unpickling the plan on the worker compiles its templates there, once. The
    ledger is opened on first use and shared by the worker's task threads (the
    ledgers are thread-safe); it is closed when the plugin is removed.

    Args:
        name: The plugin's name, unique per dispatch (tasks look it up by name).
        plan: The dispatch plan.
        ledger: The ledger's address (see :func:`open_ledger`).
    """

    def __init__(self, name: str, plan: DispatchPlan, ledger: str) -> None:
        self.name = name
        self.plan = plan
        self.ledger_address = ledger
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "plan": self.plan, "ledger_address": self.ledger_address}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        self.__init__(state["name"], state["plan"], state["ledger_address"])  # type: ignore[misc]

    def ledger(self) -> Ledger:
        """This worker's connection to the shared ledger."""
        with self._lock:
            if self._ledger is None:
                self._ledger = open_ledger(self.ledger_address)
            return self._ledger

    def teardown(self, worker: object) -> None:
        """Close the ledger connection (the dispatch is over)."""
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None


def _plugin(name: str) -> DispatchPlugin:
    plugin = get_worker().plugins[name]
    assert isinstance(plugin, DispatchPlugin)  # noqa: S101 - only the runner registers the name
    return plugin


# -- the targeting cap: a distributed top-k ------------------------------------------------


def rank_partition(name: str, store: ParquetStore, partition: str, remaining: int) -> Ranked:
    """A partition's ``remaining`` lowest hash ranks among users who may take a slot.

    The one-process pass (:func:`~tidings.dispatch.caps.admitted_under_cap`)
    over one partition: users holding a slot already are left out (they keep it),
    the rest are ranked by (source, identity). The global choice is the
    ``remaining`` lowest of the partitions' lists together (:func:`merge_ranks`).
    """
    plugin = _plugin(name)
    plan, ledger = plugin.plan, plugin.ledger()

    def unclaimed() -> Iterator[str]:
        profiles = audience_profiles(plan, store.partition(partition))
        eligible = (p.identity for p in profiles if may_take_a_slot(plan, p))
        for batch in batched(eligible, CHUNK_SIZE):
            claimed = ledger.claimed(plan.source_id, batch)
            yield from (i for i in batch if i not in claimed)

    chosen = select_under_cap(unclaimed(), scope=plan.cap_scope, remaining=remaining)
    return sorted((hash_fraction(plan.cap_scope, i), i) for i in chosen)


def merge_ranks(remaining: int, partitions: list[str], *ranked: Ranked) -> dict[str, list[str]]:
    """The ``remaining`` lowest ranks of all partitions, grouped by partition.

    The top-k of the union of every partition's top-k is the global top-k: the
    same users :func:`~tidings.dispatch.caps.select_under_cap` picks from
    the whole audience in one process.
    """
    tagged = sorted(
        (rank, identity, partition)
        for partition, ranks in zip(partitions, ranked, strict=True)
        for rank, identity in ranks
    )
    admitted: dict[str, list[str]] = {partition: [] for partition in partitions}
    for _, identity, partition in tagged[: max(remaining, 0)]:
        admitted[partition].append(identity)
    return admitted


# -- one partition's dispatch --------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PartitionResult:
    """What a partition task returns: its name, output file and summary (never its records)."""

    partition: str
    path: str
    summary: Summary


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (released by the OS if the holder dies)."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def dispatch_partition(
    name: str,
    store: ParquetStore,
    partition: str,
    admitted: list[str] | None,
    out_dir: str,
    include_skips: bool,
    chunk_size: int | None,
) -> PartitionResult:
    """Dispatch one partition into ``out_dir/PARTITION.jsonl``; return its summary.

    ``admitted`` holds the targeting cap's choice in this partition (None: no cap).
    """
    plugin = _plugin(name)
    return run_partition(
        plugin.plan,
        plugin.ledger(),
        store,
        partition,
        admitted,
        Path(out_dir),
        include_skips=include_skips,
        chunk_size=chunk_size,
    )


def run_partition(
    plan: DispatchPlan,
    ledger: Ledger,
    store: ParquetStore,
    partition: str,
    admitted: list[str] | None,
    folder: Path,
    *,
    include_skips: bool,
    chunk_size: int | None,
) -> PartitionResult:
    """The body of :func:`dispatch_partition`, given the plan and a ledger connection."""
    part = store.partition(partition)
    chosen = set(admitted) if admitted is not None else None
    return _written(
        folder,
        partition,
        include_skips,
        lambda sink: run_encoded(
            plan,
            bulletin_rows(plan, part),
            ledger=ledger,
            committer=Committer(plan, ledger, sink, None),
            admitted=chosen,
            chunk_size=chunk_size,
        ),
    )


def _written(
    folder: Path, partition: str, include_skips: bool, run: Callable[[JsonLinesSink], Summary]
) -> PartitionResult:
    """Run a partition's dispatch into ``folder/PARTITION.jsonl``: once, whatever the retries.

    Under the partition's lock: a finished partition returns its stored summary;
    otherwise ``run`` writes through a sink on the temporary file (resuming what a
    dead attempt left), the summary is stored and the file renamed.
    """
    final = folder / f"{partition}.jsonl"
    temporary = folder / f".{partition}.jsonl.tmp"
    stored = folder / f"{partition}.summary.json"
    with _exclusive(folder / f".{partition}.lock"):
        if final.exists() and stored.exists():
            # A duplicate of a task that finished: its file and summary stand.
            return PartitionResult(partition, str(final), _read_summary(stored))
        with JsonLinesSink(temporary, include_skips=include_skips) as sink:
            summary = run(sink)
        _write_summary(stored, summary)
        os.replace(temporary, final)
    logger.info("partition %s done: %s", partition, summary.to_dict())
    return PartitionResult(partition, str(final), summary)


# -- campaigns: the recipients a request names ---------------------------------------------


def holding(store: ParquetStore, partition: str, identities: list[str]) -> list[str]:
    """Which of ``identities`` the partition's profile files hold (a campaign's first round)."""
    return sorted(store.partition(partition).identities_held(identities))


def decide_recipients(
    name: str, store: ParquetStore, partition: str, recipients: list[Recipient]
) -> list[Wanted]:
    """The deliveries of a capped campaign's recipients here that would ask for slots.

    The one-process stages up to the claims (unknown, filters, control group,
    timing, render), writing nothing: the client then claims the slots in the
    request's order, chunk by chunk, as one process does.
    """
    plan = _plugin(name).plan
    part = store.partition(partition)
    wanted: list[Wanted] = []
    for chunk in batched(recipient_candidates(part, recipients), CHUNK_SIZE):
        _, entries = screen(plan, part, chunk, None)
        for verdict in decide(plan, entries, encode=False):
            if isinstance(verdict, Ready):
                delivery = verdict.delivery
                wanted.append(
                    Wanted(delivery.identity, delivery.idempotency_key, verdict.day, verdict.week)
                )
    return wanted


class Answered:
    """A ledger whose claims were decided already; everything else goes to ``ledger``.

    The partition tasks of a capped campaign record and mark their outcomes in the
    shared ledger as usual, but their claims get the answers the client had from
    that ledger when it claimed in the request's order (one process's order). On
    the client, it records those answers (``answers`` empty: ask the ledger).
    """

    def __init__(self, ledger: Ledger, answers: Mapping[str, ClaimResult] | None = None) -> None:
        self.ledger = ledger
        self.given = answers
        self.answers: dict[str, ClaimResult] = {}

    def claim(
        self,
        source_id: str,
        requests: Sequence[ClaimRequest],
        *,
        decide: ClaimDecider,
        history: bool,
    ) -> dict[str, ClaimResult]:
        """The given answer for each request, or the ledger's (then kept in ``answers``).

        A request the client had no answer for (the audience changed between the
        rounds) is claimed from the ledger here.
        """
        given = self.given or {}
        asking = [r for r in requests if r.identity not in given]
        results = (
            self.ledger.claim(source_id, asking, decide=decide, history=history) if asking else {}
        )
        self.answers.update(results)
        return {r.identity: given.get(r.identity) or results[r.identity] for r in requests}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)

    def as_ledger(self) -> Ledger:
        """This object where a :class:`~tidings.storage.ledger.Ledger` is expected."""
        return cast("Ledger", self)


def dispatch_recipients_partition(
    name: str,
    store: ParquetStore,
    partition: str,
    recipients: list[Recipient],
    answers: dict[str, ClaimResult] | None,
    out_dir: str,
    include_skips: bool,
    chunk_size: int | None,
) -> PartitionResult:
    """Dispatch a campaign to its recipients held in ``partition`` (in the request's order).

    ``answers`` holds the client's claim answers for a capped campaign (None: the
    claims are made here, each user's own: frequency caps only).
    """
    plugin = _plugin(name)
    plan = plugin.plan
    ledger = plugin.ledger()
    if answers is not None:
        ledger = Answered(ledger, answers).as_ledger()
    part = store.partition(partition)
    return _written(
        Path(out_dir),
        partition,
        include_skips,
        lambda sink: run_encoded_recipients(
            plan,
            recipient_candidates(part, recipients),
            store=part,
            ledger=ledger,
            committer=Committer(plan, ledger, sink, None),
            chunk_size=chunk_size,
        ),
    )


def _write_summary(path: Path, summary: Summary) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(dataclasses.asdict(summary)), encoding="utf-8")
    os.replace(temporary, path)


def _read_summary(path: Path) -> Summary:
    return Summary(**json.loads(path.read_text(encoding="utf-8")))
