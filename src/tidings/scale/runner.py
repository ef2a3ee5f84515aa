"""Dispatch on a Dask cluster: the caller's ``distributed.Client``, partitioned Parquet in.

A capped bulletin takes two rounds; an uncapped one, the second only::

    rank_partition     x P  each partition's lowest cap ranks (O(cap) each), on the workers
    merge_ranks        x 1  the global lowest ranks, on the client: who takes the slots
    dispatch_partition x P  match, filter, hold out, render, claim, write PART.jsonl

A campaign call (the recipients its request names) takes three rounds; an
uncapped one, the first and last::

    holding            x P  which recipients each partition holds (each goes to one)
    decide_recipients  x P  capped: who would ask for a slot (decided, nothing written)
    claim              x 1  capped: the claims, on the client, in the request's order
    dispatch_recipients_partition x P  decide, claim (the client's answers), write

Records never travel to the client: each partition writes its own JSON Lines
file, and only its :class:`~tidings.models.records.Summary` comes back. The
summaries add up to the dispatch's. Claims, outcomes and idempotency go through
the ledger every worker shares (PostgreSQL for a real cluster), so the users,
payloads and keys are those of a one-process dispatch of the same plan.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from distributed import as_completed

from .._batching import CHUNK_SIZE, batched
from ..dispatch.caps import Wanted, claim
from ..dispatch.commit import Committer
from ..dispatch.plan import DispatchPlan, Recipient
from ..dispatch.run import split_repeats
from ..errors import ArgumentError
from ..models.records import Summary
from ..sinks import JsonLinesSink
from ..storage.base import Store
from ..storage.ledger import ClaimResult, Ledger
from ..storage.parquet import ParquetStore
from ._worker import (
    Answered,
    DispatchPlugin,
    PartitionResult,
    Ranked,
    decide_recipients,
    dispatch_partition,
    dispatch_recipients_partition,
    holding,
    merge_ranks,
    rank_partition,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskDispatcher", "PartitionDone"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PartitionDone:
    """Progress: one partition finished (``done`` of ``total`` so far)."""

    partition: str
    path: str
    summary: Summary
    done: int
    total: int


class DaskDispatcher:
    """Runs bulletin dispatches on the Dask cluster of ``client``, one task per partition.

    Pass it to :meth:`tidings.Workspace.raise_business_event` (``runner=``) of a
    workspace whose store is a :class:`~tidings.storage.parquet.ParquetStore` and
    whose ledger is the one at ``ledger`` (the workers open their own connection
    to it).

    Args:
        client: A connected ``distributed.Client`` (a ``LocalCluster``'s, or a
            scheduler address's).
        ledger: The shared ledger's address: a PostgreSQL DSN; an SQLite file
            works only when every worker runs on this machine.
        out_dir: Where each dispatch writes its directory of per-partition files
            (shared storage when workers run on several machines).
        include_skips: Also write skips to the files.
        chunk_size: Candidates per ledger transaction within a partition.
        progress: Called on the client as each partition finishes.
    """

    def __init__(
        self,
        client: Client,
        *,
        ledger: str,
        out_dir: str | Path,
        include_skips: bool = False,
        chunk_size: int | None = None,
        progress: Callable[[PartitionDone], None] | None = None,
    ) -> None:
        self.client = client
        self.ledger_address = ledger
        self.out_dir = Path(out_dir)
        self.include_skips = include_skips
        self.chunk_size = chunk_size
        self.progress = progress
        self.last_output: Path | None = None

    def output_dir(self, plan: DispatchPlan) -> Path:
        """The directory of one dispatch's files: ``OUT/<source>-<id>-<key digest>``.

        One per (source, dispatch key): a re-run of the same request finds its
        finished partitions there, another request gets a directory of its own.
        """
        digest = hashlib.sha256(plan.dispatch_key.encode("utf-8", "surrogatepass")).hexdigest()
        return self.out_dir / f"{plan.source}-{plan.source_id}-{digest[:12]}"

    @contextmanager
    def _installed(self, plan: DispatchPlan) -> Iterator[tuple[str, Path]]:
        """The plan on every worker (a plugin) while the block runs; its name and folder."""
        folder = self.output_dir(plan)
        folder.mkdir(parents=True, exist_ok=True)
        self.last_output = folder
        name = f"tidings-dispatch-{folder.name}"
        self.client.register_plugin(DispatchPlugin(name, plan, self.ledger_address), name=name)
        try:
            yield name, folder
        finally:
            # distributed leaves unregister_worker_plugin unannotated.
            self.client.unregister_worker_plugin(name)  # type: ignore[no-untyped-call]

    def _run_partitions(
        self,
        task: Callable[..., PartitionResult],
        name: str,
        store: ParquetStore,
        folder: Path,
        arguments: dict[str, tuple[Any, ...]],
    ) -> Summary:
        """One ``task`` per partition (retried on a lost worker); the sum of their summaries.

        Each task gets the plugin's name, the store, its partition, its own
        ``arguments``, then the output folder, ``include_skips`` and ``chunk_size``.
        Progress is reported as each finishes.
        """
        futures = [
            self.client.submit(
                task,
                name,
                store,
                partition,
                *own,
                str(folder),
                self.include_skips,
                self.chunk_size,
                key=f"dispatch-{name}-{partition}",
                retries=2,
            )
            for partition, own in arguments.items()
        ]
        total = Summary()
        # distributed leaves as_completed unannotated.
        finished = as_completed(futures)  # type: ignore[no-untyped-call]
        for done, future in enumerate(finished, start=1):
            result: PartitionResult = future.result()
            total.merge(result.summary)
            if self.progress is not None:
                self.progress(
                    PartitionDone(result.partition, result.path, result.summary, done, len(futures))
                )
        return total

    def dispatch_bulletin(self, plan: DispatchPlan, *, store: Store, ledger: Ledger) -> Summary:
        """Dispatch a bulletin's audience, one Dask task per Parquet partition.

        ``ledger`` is the client's own connection to the shared ledger (the cap's
        count is read from it). Returns the sum of the partitions' summaries.

        Raises:
            ArgumentError: ``store`` is not a partitioned Parquet store.
        """
        parquet = _parquet(store)
        partitions = parquet.partition_names()
        client = self.client
        with self._installed(plan) as (name, folder):
            admitted: dict[str, list[str]] | None = None
            if plan.cap is not None and partitions:
                remaining = plan.cap - ledger.cap_used(plan.source_id)
                ranks = [
                    client.submit(
                        rank_partition, name, parquet, p, remaining, key=f"rank-{name}-{p}"
                    )
                    for p in partitions
                ]
                # Merged here, before any partition claims a slot: the choice then travels
                # inside each partition's task, so a lost worker cannot make it be redone
                # against a ledger this dispatch has already written to.
                chosen: list[Ranked] = [future.result() for future in ranks]
                admitted = merge_ranks(remaining, partitions, *chosen)
            return self._run_partitions(
                dispatch_partition,
                name,
                parquet,
                folder,
                {p: (None if admitted is None else admitted[p],) for p in partitions},
            )

    def dispatch_recipients(
        self, plan: DispatchPlan, recipients: list[Recipient], *, store: Store, ledger: Ledger
    ) -> Summary:
        """Dispatch a campaign call to the recipients it names, one task per partition.

        Each recipient goes to the partition holding their profile (the rounds
        are in the module's docstring); an identity no partition holds is skipped
        as unknown by the first partition's task. Repeated listings are recorded
        here and written to ``duplicates.jsonl`` (as skips, when skips are
        written). Returns the sum of the summaries.

        Raises:
            ArgumentError: ``store`` is not a partitioned Parquet store.
        """
        parquet = _parquet(store)
        unique, duplicates = split_repeats(plan, recipients)
        partitions = parquet.partition_names() or [_NO_PARTITION]
        client = self.client
        with self._installed(plan) as (name, folder):
            identities = [r.identity for r in unique]
            # Sent once, not once per task (distributed leaves scatter unannotated).
            shared = client.scatter([identities])[0]  # type: ignore[no-untyped-call]
            looked_up = [
                client.submit(holding, parquet, p, shared, key=f"holding-{name}-{p}", retries=2)
                for p in partitions
            ]
            held: list[list[str]] = [future.result() for future in looked_up]
            home: dict[str, str] = {}
            for partition, found in zip(partitions, held, strict=True):
                home.update(dict.fromkeys(found, partition))  # the last partition wins, as reads
            groups: dict[str, list[Recipient]] = {p: [] for p in partitions}
            for recipient in unique:
                groups[home.get(recipient.identity, partitions[0])].append(recipient)
            answers: dict[str, dict[str, ClaimResult]] | None = None
            if plan.cap is not None:
                answers = self._claim_in_order(plan, ledger, name, parquet, groups, identities)
            total = self._run_partitions(
                dispatch_recipients_partition,
                name,
                parquet,
                folder,
                {p: (groups[p], None if answers is None else answers[p]) for p in partitions},
            )
            if duplicates:
                with JsonLinesSink(
                    folder / "duplicates.jsonl", include_skips=self.include_skips
                ) as sink:
                    committer = Committer(plan, ledger, sink, None)
                    committer.emit_duplicates(duplicates)
                total.merge(committer.summary)
            return total

    def _claim_in_order(
        self,
        plan: DispatchPlan,
        ledger: Ledger,
        name: str,
        store: ParquetStore,
        groups: dict[str, list[Recipient]],
        order: list[str],
    ) -> dict[str, dict[str, ClaimResult]]:
        """A capped campaign's claims, made here in the request's order: each partition's answers.

        One process claims a capped campaign's slots first come, first served,
        chunk by chunk in the request's order. The partitions decide (without
        writing) which of their recipients would ask for a slot; the claims are
        then made here in that same order, against the shared ledger, and each
        partition's task gets its users' answers.
        """
        client = self.client
        decided = [
            client.submit(
                decide_recipients, name, store, p, members, key=f"decide-{name}-{p}", retries=2
            )
            for p, members in groups.items()
        ]
        wanted: dict[str, Wanted] = {}
        for future in decided:
            wanted.update((w.identity, w) for w in future.result())
        recorder = Answered(ledger)
        for chunk in batched(order, CHUNK_SIZE):
            asking = [wanted[i] for i in chunk if i in wanted]
            claim(plan, recorder.as_ledger(), asking, ranked=False)
        return {
            p: {r.identity: recorder.answers[r.identity] for r in members if r.identity in wanted}
            for p, members in groups.items()
        }


def _parquet(store: Store) -> ParquetStore:
    if not isinstance(store, ParquetStore):
        raise ArgumentError(
            "a Dask dispatch reads partitioned Parquet: pass a ParquetStore", field="store"
        )
    return store


_NO_PARTITION: Final = "none"
"""Where a campaign's recipients go when the dataset has no partition (all unknown)."""
