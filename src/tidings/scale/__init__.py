"""Scale-out: dispatch a bulletin or a campaign call over a partitioned Parquet audience on Dask.

Needs the ``dask`` extra (``pip install 'tidings[dask]'``: ``dask[distributed]`` and
pyarrow)::

    from distributed import Client
    from tidings.scale import DaskDispatcher
    from tidings.storage.parquet import ParquetStore

    ws = tidings.Workspace(ParquetStore("audience/"), ledger, registry)  # ledger on PostgreSQL
    runner = DaskDispatcher(Client("tcp://scheduler:8786"), ledger=dsn, out_dir="out/")
    ws.raise_business_event(body, runner=runner)   # files in runner.last_output
    ws.trigger_campaign(call, runner=runner)       # a campaign call, the same way

See docs/scale.md.
"""

from .runner import DaskDispatcher as DaskDispatcher
from .runner import PartitionDone as PartitionDone

__all__ = ["DaskDispatcher", "PartitionDone"]
