"""``tidings dispatch --dask``: a business event or campaign call on a Dask cluster (tidings[dask]).

The workspace (``--db``) holds the definitions and the ledger; the audience is read
from ``--parquet`` by the workers; each partition's records land in a file under
``--out`` (a directory). One line per finished partition goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._command import EXIT_ERROR, EXIT_OK, UsageError, read_object
from ._workspace import check_parquet, on_parquet, open_workspace

if TYPE_CHECKING:
    from distributed import Client

    from ..scale import PartitionDone

__all__ = ["run_on_dask"]

logger = logging.getLogger(__name__)


@contextmanager
def _client(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a LocalCluster for ``local:N``."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise UsageError(f"--dask needs dask: pip install 'tidings[dask]' ({exc})") from None
    # distributed leaves the constructors of Client and LocalCluster unannotated.
    if address.startswith("local:"):
        count = address.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--dask {address}: local:N takes a number of workers of at least 1")
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=int(count),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    try:
        client = Client(address, timeout="30s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
    with client:
        yield client


def run_on_dask(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``tidings dispatch`` with ``--dask``; the report goes to ``out``.

    A ``--business-event`` raise dispatches its bulletins, a ``--trigger`` body its
    campaign (``Workspace.trigger_campaign``), over the ``--parquet`` audience.

    Raises:
        UsageError: no ``--parquet``, ``--out`` is a file, the extra is missing or
            the scheduler unreachable.
    """
    if args.parquet is None:
        raise UsageError("--dask needs --parquet DIR: the workers read the audience there")
    target: Path = args.out
    if target.exists() and not target.is_dir():
        raise UsageError(f"--out {target}: with --dask, --out is a directory (this is a file)")
    trigger = args.business_event is None
    if trigger:
        body = read_object(args.trigger, "trigger body")
    else:
        body = read_object(args.business_event, "business event body")
    check_parquet(args.parquet)  # before a cluster starts
    if isinstance(args.db, Path):
        ledger = str(args.db.resolve())
        if not args.dask.startswith("local:"):
            logger.warning("an SQLite --db is shared only by workers on this machine")
    else:
        ledger = args.db
    from ..scale import DaskDispatcher

    def progress(done: PartitionDone) -> None:
        err.write(
            f"  partition {done.partition} done ({done.done}/{done.total}): "
            f"{done.summary.sent:,} sent of {done.summary.candidates:,}\n"
        )
        err.flush()

    started = time.monotonic()
    with _client(args.dask) as client, open_workspace(args.db) as opened:
        ws = on_parquet(opened, args.parquet)
        runner = DaskDispatcher(
            client, ledger=ledger, out_dir=target, include_skips=args.skips, progress=progress
        )
        if trigger:
            result = ws.trigger_campaign(body, runner=runner)
        else:
            result = ws.raise_business_event(body, runner=runner)
    report = {
        "response": result.response,
        "summary": result.summary.report(),  # counted as `tidings stats` counts
        "out": str(target),
        "seconds": round(time.monotonic() - started, 3),
    }
    out.write(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if result.ok else EXIT_ERROR
