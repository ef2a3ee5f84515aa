"""SQLite ledger writes: CPU per outcome of a dispatch's record-and-mark cycle.

A dispatch stores each chunk's outcome rows (``pending``) and, in the same
transaction, marks the chunk before it emitted; the last chunk is marked on its
own. This script does exactly that with ``SQLiteLedger.record_rows`` and
``mark_emitted`` on a fresh file: ``--outcomes`` rows of one dispatch in chunks
of ``--chunk``, rows shaped as the all-match benchmark's (a push delivery each).
It prints the wall and CPU microseconds per outcome, best of ``--repeat``
rounds, and checks that every row ended ``sent``.

Compare two checkouts side by side in one run (each round runs in a fresh
interpreter per checkout, alternating)::

    .venv/bin/python benchmarks/ledger_writes.py --src /tmp/base/src src
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(outcomes: int, chunk: int) -> dict[str, float]:
    """One round in this interpreter: record and mark ``outcomes`` rows in chunks."""
    from tidings.storage import SQLiteLedger

    at = "2026-11-27T12:00:00+00:00"

    def row(i: int) -> tuple[object, ...]:
        identity, key = f"user-{i:07d}", f"{i:032x}"
        return (at, "all-match", identity, "bench", "pending", None, "push", at, key, 1)

    chunks = [
        [row(i) for i in range(start, min(start + chunk, outcomes))]
        for start in range(0, outcomes, chunk)
    ]
    with tempfile.TemporaryDirectory() as directory:
        ledger = SQLiteLedger(Path(directory) / "ledger.db")
        wall, cpu = time.perf_counter(), time.process_time()
        previous: list[str] = []
        for rows in chunks:
            emitted = ("all-match", previous) if previous else None
            ledger.record_rows(rows, dispatch_key="bench", emitted=emitted)
            previous = [row[2] for row in rows]
        ledger.mark_emitted("all-match", "bench", previous)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        states = {row["state"] for row in ledger.outcomes("all-match")}
        ledger.close()
    if states != {"sent"}:
        raise SystemExit(f"not every outcome was marked sent: {states}")
    return {"wall_us": wall / outcomes * 1e6, "cpu_us": cpu / outcomes * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--src", nargs="*", default=[], help="checkouts' src/ to compare")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.outcomes, args.chunk)))
        return
    sources = args.src or [str(HERE.parent / "src")]
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for src in sources:
            argv = [sys.executable, __file__, "--one", "--outcomes", str(args.outcomes)]
            argv += ["--chunk", str(args.chunk)]
            out = subprocess.run(
                argv, check=True, capture_output=True, text=True, env={"PYTHONPATH": src}
            ).stdout
            result = json.loads(out)
            seen = best.setdefault(src, result)
            best[src] = {k: min(v, result[k]) for k, v in seen.items()}
    for src, figures in best.items():
        print(
            f"{src}: {figures['cpu_us']:.2f} us CPU, {figures['wall_us']:.2f} us wall per outcome"
            f" ({args.outcomes:,} outcomes, chunks of {args.chunk:,}, best of {args.repeat})"
        )


if __name__ == "__main__":
    main()
