"""Per-user work of the encoded path: CPU per delivery of ``decide_rows`` on the all-match case.

The all-match dispatch of ``benchmarks/dispatch.py --all-match`` spends most of
its CPU in the work a worker does for each chunk of store rows:
:func:`tidings.dispatch.encoded.decide_rows` (decode the profile, check every
rule, render the message, make the outcome row and the JSON line). This script
runs that dispatch once in one process (``--users`` users, the workspace made
once in ``--dir`` as ``dispatch.py`` makes it), keeps the arguments of every
``decide_rows`` call, then calls ``decide_rows`` again on all of them
``--repeat`` times and prints the best CPU time per delivery (``process_time``)
and a SHA-256 of everything it returned (identities, outcome rows, lines), which
must not change when the code gets faster.

Compare two checkouts side by side in one run (the same workspace, alternating)::

    .venv/bin/python benchmarks/per_user.py --users 20000 --src /tmp/base/src src

``--profile`` prints the cProfile of one pass (the costliest functions);
``--record`` times the record path's ``decide`` on the same rows instead (the
path of sinks that take records one by one), its lines hashed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent


def _captured(directory: Path, users: int) -> tuple[Any, list[tuple[Any, ...]]]:
    """The plan and the ``decide_rows`` arguments of one all-match dispatch (one process)."""
    sys.path.insert(0, str(HERE))
    import tidings
    from dispatch import ALL_MATCH_BULLETIN, RAISE, _config, ensure_all_match_workspace
    from tidings.dispatch import run
    from tidings.storage.sqlite import SQLiteStore

    ensure_all_match_workspace(users, directory)
    calls: list[tuple[Any, ...]] = []
    real = run.decide_rows

    def keep(plan: Any, rows: Any, capped: Any, *, skips: bool) -> Any:
        calls.append((plan, list(rows), capped, skips))
        return real(plan, rows, capped, skips=skips)

    run.decide_rows = keep  # type: ignore[assignment]
    now = _config(users).now
    ws = tidings.Workspace(SQLiteStore(directory / f"profiles-{users}.db"), clock=lambda: now)
    ws.define_business_event(
        {"name": "Program Released", "properties": ["program_id", "genre", "title"]}
    )
    ws.publish_bulletin(ALL_MATCH_BULLETIN)
    out = directory / f"per-user-{users}.jsonl"
    with tidings.JsonLinesSink(out, include_skips=False) as sink:
        ws.raise_business_event(dict(RAISE, idempotency_key="bench"), sink=sink)
    out.unlink()
    ws.close()
    run.decide_rows = real  # type: ignore[assignment]
    return calls[0][0], calls


def _digest(results: list[Any]) -> str:
    digest = hashlib.sha256()
    for encoded in results:
        for part in (encoded.identities, encoded.rows, encoded.lines):
            digest.update(json.dumps(part, ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


def _record_path(plan: Any, rows: Any, capped: Any, *, skips: bool) -> Any:
    """The record path's per-user work on the same rows: ``decide`` (encoding the lines)."""
    from tidings.dispatch.eligibility import Entry, Person
    from tidings.dispatch.render import Ready, decide

    entries = [Entry(Person.from_row(row), None, row[0] in capped) for row in rows]
    verdicts = decide(plan, entries, encode=True)
    lines = [v.line if isinstance(v, Ready) else None for v in verdicts]
    return SimpleNamespace(identities=[], rows=[], lines=lines)


def measure(
    directory: Path, users: int, repeat: int, *, profile: bool, record: bool = False
) -> dict[str, object]:
    """Best CPU µs per delivery of ``decide_rows`` over ``repeat`` passes, and the output hash.

    ``record``: time the record path's ``decide`` instead (its lines hashed).
    """
    from tidings.dispatch.encoded import decide_rows

    if record:
        decide_rows = _record_path  # the same calls on the other path
    _, calls = _captured(directory, users)
    deliveries = sum(len(rows) for _, rows, _, _ in calls)
    best = float("inf")
    results: list[Any] = []
    for _ in range(repeat):
        started = time.process_time()
        results = [
            decide_rows(plan, rows, capped, skips=skips) for plan, rows, capped, skips in calls
        ]
        best = min(best, time.process_time() - started)
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for plan, rows, capped, skips in calls:
            decide_rows(plan, rows, capped, skips=skips)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "path": "record" if record else "encoded",
        "users": users,
        "deliveries": deliveries,
        "us_per_delivery": round(best / deliveries * 1e6, 2),
        "best_cpu_s": round(best, 3),
        "output_sha256": _digest(results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("out/bench"))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--record", action="store_true", help="time the record path's decide")
    parser.add_argument("--rounds", type=int, default=1, help="alternations of the --src list")
    parser.add_argument("--src", nargs="*", help="checkouts' src dirs to compare, in children")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if not args.src:
        print(
            json.dumps(
                measure(args.dir, args.users, args.repeat, profile=args.profile, record=args.record)
            )
        )
        return
    for _ in range(args.rounds):
        for src in args.src:
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--users",
                    str(args.users),
                    "--repeat",
                    str(args.repeat),
                    "--dir",
                    str(args.dir),
                    *(["--record"] if args.record else []),
                ],
                env={"PYTHONPATH": str(Path(src).resolve()), "PATH": "/usr/bin:/bin"},
                check=True,
                capture_output=True,
                text=True,
            )
            print(json.dumps({"src": src, **json.loads(done.stdout)}), flush=True)


if __name__ == "__main__":
    main()
