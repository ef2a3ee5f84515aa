"""Kill a real dispatch that writes skips too; the resumed run writes each skip line once."""

import json
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

WORKER = Path(__file__).parent.parent / "workspace" / "_crash_worker.py"


def _run(*args):
    subprocess.run(
        [sys.executable, str(WORKER), *args], check=True, capture_output=True, timeout=120
    )


def _lines(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _skips(lines):
    return Counter(
        (d["source_id"], d["identity"], d["reason"]) for d in lines if d["type"] == "skip"
    )


@pytest.fixture(scope="module")
def seeded(crash_seed):
    return crash_seed.db, _lines(crash_seed.reference)


@pytest.mark.parametrize("seed", range(3))
def test_killed_dispatch_rerun_writes_each_skip_once(seeded, tmp_path, seed):
    db, reference = seeded
    work = tmp_path / "ws.db"
    shutil.copy(db, work)
    out = tmp_path / "out.jsonl"
    # An earlier dispatch's skip of the same user further up the file is not this one's.
    earlier = [d for d in reference if d["type"] == "skip"][:3]
    out.write_text("".join(json.dumps(d) + "\n" for d in earlier), encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "run", str(work), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    target = random.Random(seed).randrange(100, 950)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= target:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _run("run", str(work), str(out))
    got = _lines(out)[len(earlier) :]
    assert _skips(got) == _skips(reference)  # every skip once, none lost
    assert max(_skips(got).values()) == 1
    assert sum(d["type"] == "skip" for d in reference) > 100
