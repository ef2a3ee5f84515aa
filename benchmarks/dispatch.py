"""Dispatch benchmark: a bulletin over N users from SQLite to JSON Lines.

Generates (or reuses) a seeded SQLite workspace of N users with events
(``tidings.demo_data``), raises a business event whose bulletin matches about a
fifth of them, with a 10% control group and a targeting cap, writes the
deliveries as JSON Lines, and prints wall time, users/s per stage (match,
eligibility, render, serialise) and peak RSS. Each measurement runs in a fresh
process so peak RSS is the dispatch's own.

    .venv/bin/python benchmarks/dispatch.py                       # N = 1,000,000
    .venv/bin/python benchmarks/dispatch.py --users 100000 300000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

GENRE = "Drama"
EVENTS_PER_USER = 5.0


def _config(users: int):
    from tidings.demo_data import DemoConfig

    return DemoConfig(users=users, seed=11, events_per_user=EVENTS_PER_USER, history_days=30)


def ensure_workspace(users: int, directory: Path) -> Path:
    """The store file for ``users`` users, generated once and reused."""
    from tidings.demo_data import populate_sqlite

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"store-{users}.db"
    done = path.with_suffix(".done")
    if done.exists():
        return path
    for stale in directory.glob(f"store-{users}.db*"):
        stale.unlink()
    started = time.perf_counter()
    populate_sqlite(path, _config(users))
    done.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    return path


BULLETIN = {
    "id": "new-drama",
    "name": "New in your genre",
    "business_event": "Program Released",
    "match": [
        {
            "business_property": "genre",
            "event": "Movie Watched",
            "event_property": "genre",
            "within_days": 30,
        }
    ],
    "message": {
        "channel": "push",
        "title": "New {{ BusinessEvent.genre }}: {{ BusinessEvent.title }}",
        "body": "Hi {{ Profile.name | default: 'there' }}, {{ BusinessEvent.title }} is out now.",
        "deep_link": "app://program/{{ BusinessEvent.program_id }}",
    },
    "control_group": {"kind": "campaign", "percent": 10},
    "published": True,
    "creator": "bench@example.com",
}
RAISE = {
    "business_event": "Program Released",
    "name": "benchmark",
    "properties": {"program_id": "42", "genre": GENRE, "title": "Sa Re Ga Ma"},
    "c-by": "bench@example.com",
    "when": "now",
}


def measure(store_path: Path, out_dir: Path, users: int) -> dict[str, float]:
    """Run one dispatch and its stage passes in this process; return the figures."""
    import tidings
    from tidings.audience.filters import AudienceQuery
    from tidings.dispatch import DispatchPlan, HoldOut, may_take_a_slot
    from tidings.storage.ledger import SQLiteLedger
    from tidings.storage.sqlite import SQLiteStore

    config = _config(users)
    ledger_path = out_dir / f"ledger-{users}.db"
    for stale in out_dir.glob(f"ledger-{users}.db*"):
        stale.unlink()
    out = out_dir / f"deliveries-{users}.jsonl"
    out.unlink(missing_ok=True)
    ws = tidings.Workspace(
        SQLiteStore(store_path), SQLiteLedger(ledger_path), clock=lambda: config.now
    )
    ws.define_business_event(
        {"name": "Program Released", "properties": ["program_id", "genre", "title"]}
    )
    ws.publish_bulletin(dict(BULLETIN, targeting_cap=users // 5))

    started = time.perf_counter()
    with tidings.JsonLinesSink(out, include_skips=False) as sink:
        result = ws.raise_business_event(RAISE, sink=sink)
    wall = time.perf_counter() - started
    summary = result.summary
    # Peak RSS of the dispatch itself (the stage passes below hold lists on purpose).
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Stage passes over the same audience, each timed on its own.
    bulletin = ws.bulletins["new-drama"]
    query = AudienceQuery(matches=((bulletin.match[0], GENRE),))
    now = config.now
    t0 = time.perf_counter()
    profiles = list(ws.store.iter_audience(query, now=now))
    match_s = time.perf_counter() - t0
    plan = DispatchPlan(
        source="bulletin",
        source_id="x",
        message=bulletin.message,
        dispatch_key="stage",
        now=now,
        ledger=ws.ledger,
        hold_out=HoldOut(scope="bulletin:new-drama", percent=10),
    )
    t0 = time.perf_counter()
    eligible = [p for p in profiles if may_take_a_slot(plan, p)]
    eligibility_s = time.perf_counter() - t0
    namespaces = {
        "BusinessEvent": {"name": "Program Released", **RAISE["properties"]},
        "Campaign": {"id": bulletin.id, "name": bulletin.name},
    }
    t0 = time.perf_counter()
    payloads = [
        bulletin.message.render(p.namespace(), {}, **namespaces).to_dict() for p in eligible
    ]
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for payload in payloads:
        json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    serialise_s = time.perf_counter() - t0
    ws.close()
    return {
        "users": users,
        "candidates": summary.candidates,
        "sent": summary.sent,
        "held_out": summary.held_out,
        "capped": summary.capped,
        "wall_s": round(wall, 2),
        "users_per_s": round(summary.candidates / wall),
        "match_per_s": round(len(profiles) / match_s),
        "eligibility_per_s": round(len(profiles) / eligibility_s),
        "render_per_s": round(len(eligible) / render_s) if eligible else 0,
        "serialise_per_s": round(len(payloads) / serialise_s) if payloads else 0,
        "peak_rss_mb": round(rss_mb, 1),
        "output_mb": round(out.stat().st_size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("out/bench"))
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one measurement, JSON on stdout
        (users,) = args.users
        print(json.dumps(measure(args.dir / f"store-{users}.db", args.dir, users)))
        return
    rows = []
    for users in args.users:
        started = time.perf_counter()
        ensure_workspace(users, args.dir)
        print(
            f"workspace of {users:,} users ready ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
        child = subprocess.run(
            [sys.executable, __file__, "--measure", "--users", str(users), "--dir", str(args.dir)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(child.stdout))
        print(json.dumps(rows[-1]), file=sys.stderr)
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for row in rows:
        print(
            "| "
            + " | ".join(f"{row[c]:,}" if isinstance(row[c], int) else str(row[c]) for c in columns)
            + " |"
        )


if __name__ == "__main__":
    main()
