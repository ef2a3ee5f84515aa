"""Kill a real dispatch process at random points; re-running completes it exactly."""

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("_crash_worker.py")


def _run(*args, timeout=120):
    return subprocess.run(
        [sys.executable, str(WORKER), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _deliveries(path: Path):
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [
        (
            d["identity"],
            d["idempotency_key"],
            d["send_at"],
            json.dumps(d["payload"], sort_keys=True),
        )
        for d in lines
        if d["type"] == "delivery"
    ]


@pytest.fixture(scope="module")
def seeded(crash_seed):
    return crash_seed.db, _deliveries(crash_seed.reference)


@pytest.mark.parametrize("seed", range(6))
def test_killed_dispatch_rerun_yields_exactly_the_uninterrupted_deliveries(seeded, tmp_path, seed):
    db, reference = seeded
    work = tmp_path / "ws.db"
    shutil.copy(db, work)
    _kill_and_rerun(str(work), tmp_path, seed, reference)


@pytest.mark.parametrize("seed", range(2))
def test_killed_postgres_dispatch_rerun_yields_the_sqlite_reference(
    seeded, postgres_dsn, tmp_path, seed
):
    # A fresh PostgreSQL workspace seeded like the SQLite one: the uninterrupted
    # SQLite run's deliveries are the reference (identical on both stores).
    _, reference = seeded
    _run("setup", postgres_dsn)
    _kill_and_rerun(postgres_dsn, tmp_path, seed, reference)


def _kill_and_rerun(work: str, tmp_path, seed, reference):
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "run", work, str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill at a random point of the dispatch: once the output holds a random number of lines.
    target = random.Random(seed).randrange(1, 950)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if out.exists() and out.stat().st_size // 150 >= target:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _run("run", work, str(out))
    got = _deliveries(out)
    assert len(got) == len({key for _, key, _, _ in got})  # nobody twice
    assert sorted(got) == sorted(reference)  # nobody lost, same payloads and send times
    assert len(reference) > 400
