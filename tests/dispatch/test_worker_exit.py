"""kill -9 of a `tidings dispatch --workers 2` leaves no worker behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CRASH_WORKER = Path(__file__).parent.parent / "workspace" / "_crash_worker.py"
RAISE = {
    "business_event": "Program Released",
    "name": "ep 1",
    "properties": {"genre": "Drama"},
    "c-by": "me",
    "when": "now",
}

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def _workers_of(parent: int) -> list[int]:
    """The processes under ``parent`` (its pool's workers, and their fork server if any)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(parent, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_when_the_dispatching_process_is_killed(tmp_path):
    db = tmp_path / "ws.db"
    # 6,000 users: more than one chunk of candidates (2,000), so the dispatch starts its pool.
    subprocess.run(
        [sys.executable, str(CRASH_WORKER), "setup", str(db), "6000"], check=True, timeout=120
    )
    body = tmp_path / "raise.json"
    body.write_text(json.dumps(RAISE))
    argv = [
        "dispatch",
        "--db",
        str(db),
        "--business-event",
        str(body),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--workers",
        "2",
    ]
    # A slow sink keeps the dispatch running while the workers are up.
    script = (
        "import sys, time, tidings.sinks as s\n"
        "write = s.JsonLinesSink.write_lines\n"
        "def slow(self, lines, rows):\n"
        "    time.sleep(0.01 * len(lines))\n"
        "    write(self, lines, rows)\n"
        "s.JsonLinesSink.write_lines = slow\n"
        "from tidings.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        # Two workers, and the fork server they come from (or the resource tracker).
        while time.monotonic() < deadline and len(workers) < 3 and proc.poll() is None:
            workers = _workers_of(proc.pid)
            time.sleep(0.05)
        assert len(workers) >= 3, f"the dispatch never started its workers: {workers}"
        time.sleep(1.0)  # let the pool take work
        workers = _workers_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if _alive(w)], "workers outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        for worker in _workers_of(proc.pid):
            os.kill(worker, signal.SIGKILL)
