"""The Dask tests' cluster: one LocalCluster of 2 worker processes for the session."""

import pytest


@pytest.fixture(scope="session")
def client():
    """A client of a LocalCluster of 2 worker processes (1 thread each).

    Skips, saying why, when the dask extra is missing or the cluster cannot start.
    """
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    pytest.importorskip("pyarrow", reason="the dask extra is not installed")
    try:
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to start is a stated reason to skip
        pytest.skip(f"a Dask LocalCluster cannot start here: {exc!r}")
    with cluster, distributed.Client(cluster) as made:
        made.wait_for_workers(2, timeout=60)
        yield made
