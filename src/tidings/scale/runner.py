"""Dispatch on a Dask cluster: the caller's ``distributed.Client``, partitioned Parquet in.

A capped bulletin takes two rounds; an uncapped one, the second only::

    rank_partition     x P  each partition's lowest cap ranks (O(cap) each), on the workers
    merge_ranks        x 1  the global lowest ranks, on the client: who takes the slots
    dispatch_partition x P  match, filter, hold out, render, claim, write PART.jsonl

Records never travel to the client: each partition writes its own JSON Lines
file, and only its :class:`~tidings.models.records.Summary` comes back. The
summaries add up to the dispatch's. Claims, outcomes and idempotency go through
the ledger every worker shares (PostgreSQL for a real cluster), so the users,
payloads and keys are those of a one-process dispatch of the same plan.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from distributed import as_completed

from ..errors import ArgumentError
from ..models.records import Summary
from ..storage.base import Store
from ..storage.ledger import Ledger
from ..storage.parquet import ParquetStore
from ._worker import (
    DispatchPlugin,
    PartitionResult,
    Ranked,
    dispatch_partition,
    merge_ranks,
    rank_partition,
)

if TYPE_CHECKING:
    from distributed import Client

    from ..dispatch.plan import DispatchPlan

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

    def dispatch_bulletin(self, plan: DispatchPlan, *, store: Store, ledger: Ledger) -> Summary:
        """Dispatch a bulletin's audience, one Dask task per Parquet partition.

        ``ledger`` is the client's own connection to the shared ledger (the cap's
        count is read from it). Returns the sum of the partitions' summaries.

        Raises:
            ArgumentError: ``store`` is not a partitioned Parquet store.
        """
        if not isinstance(store, ParquetStore):
            raise ArgumentError(
                "a Dask dispatch reads partitioned Parquet: pass a ParquetStore", field="store"
            )
        partitions = store.partition_names()
        folder = self.output_dir(plan)
        folder.mkdir(parents=True, exist_ok=True)
        self.last_output = folder
        name = f"tidings-dispatch-{folder.name}"
        client = self.client
        client.register_plugin(DispatchPlugin(name, plan, self.ledger_address), name=name)
        try:
            admitted: dict[str, list[str]] | None = None
            if plan.cap is not None and partitions:
                remaining = plan.cap - ledger.cap_used(plan.source_id)
                ranks = [
                    client.submit(rank_partition, name, store, p, remaining, key=f"rank-{name}-{p}")
                    for p in partitions
                ]
                # Merged here, before any partition claims a slot: the choice then travels
                # inside each partition's task, so a lost worker cannot make it be redone
                # against a ledger this dispatch has already written to.
                chosen: list[Ranked] = [future.result() for future in ranks]
                admitted = merge_ranks(remaining, partitions, *chosen)
            futures = [
                client.submit(
                    dispatch_partition,
                    name,
                    store,
                    p,
                    None if admitted is None else admitted[p],
                    str(folder),
                    self.include_skips,
                    self.chunk_size,
                    key=f"dispatch-{name}-{p}",
                    retries=2,
                )
                for p in partitions
            ]
            total = Summary()
            # distributed leaves as_completed and unregister_worker_plugin unannotated.
            finished = as_completed(futures)  # type: ignore[no-untyped-call]
            for done, future in enumerate(finished, start=1):
                result: PartitionResult = future.result()
                total.merge(result.summary)
                if self.progress is not None:
                    self.progress(
                        PartitionDone(
                            result.partition, result.path, result.summary, done, len(futures)
                        )
                    )
            return total
        finally:
            client.unregister_worker_plugin(name)  # type: ignore[no-untyped-call]
