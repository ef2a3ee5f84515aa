"""Shared test settings: one hypothesis profile for every property test.

Deadlines are off: CI machines are shared and a slow example is not a failure.
``TIDINGS_HYPOTHESIS_PROFILE=thorough`` (``make test-long``) runs ten times more
examples: the profile's default, and every costly test's budget given with
``tests.strategies.examples(n)``. The crash tests share one seed workspace
(:func:`crash_seed`), built once per session.
"""

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, settings
from tests._postgres import Cluster, ClusterUnavailableError

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("TIDINGS_HYPOTHESIS_PROFILE", "default"))


# -- a throwaway PostgreSQL cluster (tests/_postgres.py) ---------------------------------
_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_cluster():
    """One PostgreSQL cluster for the session (initdb in a temporary directory, unix socket).

    Skips (with the reason) only when no server can be started here; CI installs one.
    """
    try:
        cluster = Cluster()
        cluster.start()
    except ClusterUnavailableError as exc:
        pytest.skip(f"no PostgreSQL server can be started: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_dsn(postgres_cluster):
    """The DSN of a fresh tidings schema (migrated in), named by the DSN's ``tidings.schema``."""
    from tidings.storage._pg import migrate

    schema = f"t{os.getpid()}_{next(_databases)}"
    dsn = postgres_cluster.dsn("tidings") + f"&options=-c%20tidings.schema%3D{schema}"
    migrate(dsn)
    return dsn


CRASH_WORKER = Path(__file__).parent / "workspace" / "_crash_worker.py"


@pytest.fixture(scope="session")
def crash_seed(tmp_path_factory):
    """The crash tests' workspace (``_crash_worker.py setup``) and its uninterrupted output.

    Built once per session: tests copy ``db`` before writing to it. ``reference``
    is the JSON Lines file a complete, uninterrupted dispatch of it writes.
    """
    base = tmp_path_factory.mktemp("crash-seed")
    db = base / "seed.db"
    run = [sys.executable, str(CRASH_WORKER)]
    subprocess.run([*run, "setup", str(db)], check=True, capture_output=True, timeout=120)
    reference_db = base / "reference.db"
    shutil.copy(db, reference_db)
    reference = base / "reference.jsonl"
    subprocess.run(
        [*run, "run", str(reference_db), str(reference)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return SimpleNamespace(db=db, reference=reference, worker=CRASH_WORKER)
