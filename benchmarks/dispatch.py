"""Dispatch benchmark: a bulletin over N users from SQLite to JSON Lines.

Generates (or reuses) a seeded SQLite workspace of N users with events
(``tidings.demo_data``), raises a business event whose bulletin matches about a
sixth of them (about 16% of the workspace are candidates), with a 10% control
group and a targeting cap of N/10 users that binds, writes the deliveries as JSON
Lines, and prints wall time, users/s per stage (match, eligibility, render,
serialise) and peak RSS. Each measurement runs in a fresh process so peak RSS is
the dispatch's own (``peak_rss_mb``: the dispatching process; ``worker_rss_mb``:
the largest worker process; ``total_rss_mb``: all the peaks added up, an upper
bound on what the dispatch held at once; ``main_cpu_s``: CPU time, user and
system, of the dispatching process during the dispatch, all its threads: less
sensitive to other load on the machine than the wall time). With several ``--workers``
values it also checks that every worker count wrote byte-identical deliveries.

    .venv/bin/python benchmarks/dispatch.py                       # N = 1,000,000
    .venv/bin/python benchmarks/dispatch.py --users 100000 300000 1000000 --workers 1 2
    .venv/bin/python benchmarks/dispatch.py --users 100000 --workers 1 --db postgresql://...

With ``--db postgresql://...`` the same generated workspace is copied (with COPY,
once per N, into schema ``bench_N``) into PostgreSQL and the dispatch runs against
a :meth:`tidings.Workspace.postgres`-style store and a fresh PostgreSQL ledger.
``--uncapped`` drops the targeting cap (every matched, eligible user is sent to).

``--all-match`` is the throughput case of issue 12: a profiles-only workspace of N
users (every one with a push token; no events), a bulletin whose match (a profile
row) reaches every user, a push message with ``Profile.*``, ``BusinessEvent.*``,
an ``if`` and a ``default``, no cap and no control group: N deliveries. The same
child process also runs the hand-written floor (read each profile row, decode its
properties, render the same texts with f-strings, ``json.dumps`` the same delivery
line, write it) on the same store, checks that the floor wrote byte-identical
lines, and prints ``floor_s`` and ``ratio`` (tidings wall / floor wall), and the
CPU seconds of both (``cpu_s``: the dispatching process and its workers;
``floor_cpu_s``; ``cpu_ratio``), steadier than wall time on a shared machine:

    .venv/bin/python benchmarks/dispatch.py --all-match --users 100000 300000 1000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

GENRE = "Drama"
EVENTS_PER_USER = 5.0


def _config(users: int):
    from tidings.demo_data import DemoConfig

    return DemoConfig(users=users, seed=11, events_per_user=EVENTS_PER_USER, history_days=30)


def _made_once(directory: Path, name: str, make: Callable[[Path], None]) -> Path:
    """``directory/name``, made by ``make`` unless an earlier run finished it (``.done``)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    done = path.with_suffix(".done")
    if done.exists():
        return path
    for stale in directory.glob(f"{name}*"):
        stale.unlink()
    started = time.perf_counter()
    make(path)
    done.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}))
    return path


def ensure_workspace(users: int, directory: Path) -> Path:
    """The store file for ``users`` users, generated once and reused."""
    from tidings.demo_data import populate_sqlite

    return _made_once(
        directory, f"store-{users}.db", lambda path: populate_sqlite(path, _config(users))
    )


class ChildPeaks:
    """Samples the peak RSS (``VmHWM``) and CPU time of this process's descendants.

    ``RUSAGE_CHILDREN`` is no use for the workers: they are children of the fork
    server (itself a child of this process), which reaps them, and for spawned
    workers Linux keeps, across ``exec``, the peak of the forked image, which
    counts the parent's pages (``VmHWM`` starts again at ``exec``). CPU time is
    the last sample of each process (``/proc/PID/stat``), taken every
    ``interval`` seconds. Linux only (reports 0 elsewhere).
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peaks: dict[int, int] = {}
        self.cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildPeaks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._stop.wait(self.interval):
            for pid in _descendants(os.getpid()):
                kb = _vm_hwm_kb(pid)
                if kb:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), kb)
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / tick

    def largest_mb(self) -> float:
        """The largest descendant's peak RSS in MB."""
        return max(self.peaks.values(), default=0) / 1024

    def total_mb(self) -> float:
        """The descendants' peaks added up, in MB."""
        return sum(self.peaks.values()) / 1024

    def cpu_s(self) -> float:
        """The descendants' CPU seconds, user and system, as last sampled."""
        return sum(self.cpu.values())


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (children, their children, ...)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        try:
            children = Path(f"/proc/{todo.pop()}/task").glob("*/children")
            pids = [int(p) for f in children for p in f.read_text().split()]
        except OSError:
            continue
        found.extend(pids)
        todo.extend(pids)
    return found


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


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


ALL_MATCH_BULLETIN = {
    "id": "all-match",
    "name": "Everyone",
    "business_event": "Program Released",
    "match": [{"kind": "profile", "property": "identity", "op": "ne", "value": ""}],
    "message": {
        "channel": "push",
        "title": "New {{ BusinessEvent.genre }}: {{ BusinessEvent.title }}",
        "body": "Hi {{ Profile.name | default: 'there' }}, {{ BusinessEvent.title }} is out"
        "{% if Profile.plan == 'premium' %} in HD{% endif %} now.",
        "deep_link": "app://program/{{ BusinessEvent.program_id }}",
    },
    "published": True,
    "creator": "bench@example.com",
}
_FIRST = ("Ann", "Bo", "Chandra", "Dev", "Élodie", "Farah", "Gita", "Hugo", "Ines", "Jun")
_ZONES = ("Asia/Kolkata", "Europe/London", "America/New_York", "UTC", "Asia/Tokyo")


def ensure_all_match_workspace(users: int, directory: Path) -> Path:
    """A profiles-only store of ``users`` users, every one reachable by push (made once)."""
    from tidings.models.users import UserProfile
    from tidings.storage.sqlite import SQLiteStore

    def make(path: Path) -> None:
        store = SQLiteStore(path)
        store.upsert_profiles(
            UserProfile.model_construct(
                identity=f"user-{i:07d}",
                name=None if i % 7 == 0 else f"{_FIRST[i % 10]} {i}",
                email=None,
                push_tokens=(f"tok-{i:07d}",),
                timezone=_ZONES[i % 5],
                properties={
                    "plan": "premium" if i % 3 == 0 else "free",
                    "city": "Pune" if i % 2 else "Leeds",
                    "signupDays": i % 900,
                },
            )
            for i in range(users)
        )
        store.close()

    return _made_once(directory, f"profiles-{users}.db", make)


def floor(store_path: Path, out: Path, *, send_at: str) -> float:
    """The hand-written floor of the all-match case: seconds to write its N lines.

    The same work as the dispatch, written for this one message: read each
    profile row in identity order, decode its properties, render the title and
    body with f-strings, make the delivery's idempotency key and its JSON line
    (the standard library's ``json.dumps``, as tidings' lines are), write it.
    """
    import sqlite3

    props = RAISE["properties"]
    title = f"New {props['genre']}: {props['title']}"
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    started = time.perf_counter()
    conn = sqlite3.connect(store_path)
    with open(out, "w", encoding="utf-8") as file:
        cursor = conn.execute(
            "SELECT identity, name, push_tokens, properties FROM profiles ORDER BY identity"
        )
        for identity, name, tokens, properties in cursor:
            profile = json.loads(properties)
            hd = " in HD" if profile.get("plan") == "premium" else ""
            body = f"Hi {name or 'there'}, {props['title']} is out{hd} now."
            key = hashlib.sha256(f"all-match\x00bench\x00{identity}".encode()).hexdigest()[:32]
            line = {
                "type": "delivery",
                "source": "bulletin",
                "source_id": "all-match",
                "identity": identity,
                "channel": "push",
                "payload": {
                    "title": title,
                    "body": body,
                    "deep_link": f"app://program/{props['program_id']}",
                    "image_url": None,
                    "extras": {},
                    "ttl_seconds": None,
                },
                "send_at": send_at,
                "idempotency_key": key,
                "to": json.loads(tokens),
            }
            file.write(dumps(line))
            file.write("\n")
    conn.close()
    return time.perf_counter() - started


def _pg_schema_dsn(dsn: str, schema: str) -> str:
    joiner = "&" if "?" in dsn else "?"
    return f"{dsn}{joiner}options=-c%20tidings.schema%3D{schema}"


def ensure_postgres(store_path: Path, dsn: str, users: int) -> str:
    """The generated SQLite workspace copied into PostgreSQL schema ``bench_N`` (once)."""
    import sqlite3

    import psycopg

    from tidings.storage._pg import migrate

    schema = f"bench_{users}"
    target = _pg_schema_dsn(dsn, schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        done = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = 'bench_done'",
            [schema],
        ).fetchone()
        if done:
            return target
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())
    migrate(target)
    source = sqlite3.connect(store_path)
    tables = {
        "profiles": "identity, name, email, push_tokens, timezone, properties",
        "events": "identity, name, ts, properties",
        "event_props": "event_name, prop, value, identity, last_ts",
    }
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {schema}".encode())
        for table, columns in tables.items():
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN".encode()) as copy:
                for row in source.execute(f"SELECT {columns} FROM {table}"):
                    copy.write_row(row)
        conn.execute("ANALYZE")
        conn.execute("CREATE TABLE bench_done (at TIMESTAMPTZ DEFAULT now())")
    source.close()
    return target


def _postgres_parts(store_dsn: str, dsn: str, users: int, workers: int):
    import psycopg

    from tidings.storage._pg import migrate
    from tidings.storage.postgres import PostgresStore
    from tidings.storage.postgres_ledger import PostgresLedger, PostgresRegistry

    ledger_schema = f"bench_{users}_ledger_w{workers}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {ledger_schema} CASCADE".encode())
    ledger_dsn = _pg_schema_dsn(dsn, ledger_schema)
    migrate(ledger_dsn)
    return (
        PostgresStore(store_dsn),
        PostgresLedger(ledger_dsn),
        PostgresRegistry(ledger_dsn),
    )


def measure(
    store_path: Path,
    out_dir: Path,
    users: int,
    workers: int,
    dsn: str | None = None,
    capped: bool = True,
    all_match: bool = False,
) -> dict[str, object]:
    """Run one dispatch and its stage passes in this process; return the figures."""
    import tidings
    from tidings.dispatch import DispatchPlan, HoldOut, may_take_a_slot
    from tidings.models.filters import AudienceQuery
    from tidings.storage import SQLiteLedger
    from tidings.storage.sqlite import SQLiteStore

    config = _config(users)
    ledger_path = out_dir / f"ledger-{users}-w{workers}.db"
    for stale in out_dir.glob(f"ledger-{users}-w{workers}.db*"):
        stale.unlink()
    out = out_dir / f"deliveries-{users}-w{workers}.jsonl"
    out.unlink(missing_ok=True)
    if dsn is not None:
        store, ledger, registry = _postgres_parts(
            ensure_postgres(store_path, dsn, users), dsn, users, workers
        )
        ws = tidings.Workspace(store, ledger, registry, clock=lambda: config.now, workers=workers)
    else:
        ws = tidings.Workspace(
            SQLiteStore(store_path),
            SQLiteLedger(ledger_path),
            clock=lambda: config.now,
            workers=workers,
        )
    ws.define_business_event(
        {"name": "Program Released", "properties": ["program_id", "genre", "title"]}
    )
    ws.publish_bulletin(dict(BULLETIN, targeting_cap=users // 10 if capped else None))

    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with ChildPeaks() as children, tidings.JsonLinesSink(out, include_skips=False) as sink:
        # A fixed request key: the same idempotency keys in every run, so the
        # deliveries of different worker counts can be compared byte for byte.
        result = ws.raise_business_event(dict(RAISE, idempotency_key="bench"), sink=sink)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    main_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    summary = result.summary
    # Peak RSS of the dispatch itself (the stage passes below hold lists on purpose).
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]

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
        "db": "postgres" if dsn else "sqlite",
        "capped": capped,
        "users": users,
        "workers": workers,
        "candidates": summary.candidates,
        "sent": summary.sent,
        "held_out": summary.held_out,
        "cap_skips": summary.capped,
        "wall_s": round(wall, 2),
        "main_cpu_s": round(main_cpu, 2),
        "users_per_s": round(users / wall),
        "candidates_per_s": round(summary.candidates / wall),
        "match_per_s": round(len(profiles) / match_s),
        "eligibility_per_s": round(len(profiles) / eligibility_s),
        "render_per_s": round(len(eligible) / render_s) if eligible else 0,
        "serialise_per_s": round(len(payloads) / serialise_s) if payloads else 0,
        "peak_rss_mb": round(rss_mb, 1),
        "worker_rss_mb": round(children.largest_mb(), 1),
        "total_rss_mb": round(rss_mb + children.total_mb(), 1),
        "output_mb": round(out.stat().st_size / 1e6, 1),
        "output_sha256": digest,
    }


def measure_all_match(directory: Path, users: int, workers: int) -> dict[str, object]:
    """The all-match dispatch of ``users`` deliveries, then the floor on the same store."""
    import tidings
    from tidings.storage import SQLiteLedger
    from tidings.storage.sqlite import SQLiteStore

    now = _config(users).now
    store_path = directory / f"profiles-{users}.db"
    for stale in directory.glob(f"ledger-all-{users}-w{workers}.db*"):
        stale.unlink()
    out = directory / f"all-{users}-w{workers}.jsonl"
    out.unlink(missing_ok=True)
    ws = tidings.Workspace(
        SQLiteStore(store_path),
        SQLiteLedger(directory / f"ledger-all-{users}-w{workers}.db"),
        clock=lambda: now,
        workers=workers,
    )
    ws.define_business_event(
        {"name": "Program Released", "properties": ["program_id", "genre", "title"]}
    )
    ws.publish_bulletin(ALL_MATCH_BULLETIN)
    started = time.perf_counter()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    with ChildPeaks() as children, tidings.JsonLinesSink(out, include_skips=False) as sink:
        result = ws.raise_business_event(dict(RAISE, idempotency_key="bench"), sink=sink)
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    main_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The workers have exited (the pool is shut down). Spawned ones were this
    # process's children; forked by the fork server, they are its children, whose
    # CPU time only the samples saw (the fork server's import included).
    children_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = max(children_cpu.ru_utime + children_cpu.ru_stime, children.cpu_s())
    ws.close()
    floor_out = directory / f"floor-{users}.jsonl"
    floor_cpu_before = time.process_time()
    floor_s = floor(store_path, floor_out, send_at=now.isoformat())
    floor_cpu = time.process_time() - floor_cpu_before
    written = out.read_bytes()
    same = written == floor_out.read_bytes()
    floor_out.unlink()
    return {
        "case": "all-match",
        "users": users,
        "workers": workers,
        "sent": result.summary.sent,
        "wall_s": round(wall, 2),
        "main_cpu_s": round(main_cpu, 2),
        "deliveries_per_s": round(result.summary.sent / wall),
        "floor_s": round(floor_s, 2),
        "floor_per_s": round(users / floor_s),
        "ratio": round(wall / floor_s, 2),
        "cpu_s": round(main_cpu + workers_cpu, 2),
        "floor_cpu_s": round(floor_cpu, 2),
        "cpu_ratio": round((main_cpu + workers_cpu) / floor_cpu, 2),
        "peak_rss_mb": round(rss_mb, 1),
        "worker_rss_mb": round(children.largest_mb(), 1),
        "total_rss_mb": round(rss_mb + children.total_mb(), 1),
        "same_as_floor": same,
        "output_sha256": hashlib.sha256(written).hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dir", type=Path, default=Path("out/bench"))
    parser.add_argument("--db", help="a PostgreSQL DSN: dispatch from PostgreSQL, not SQLite")
    parser.add_argument("--uncapped", action="store_true", help="no targeting cap")
    parser.add_argument(
        "--all-match", action="store_true", help="every user matched and sent to, and the floor"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # child process: one measurement, JSON on stdout
        (users,) = args.users
        (workers,) = args.workers
        if args.all_match:
            print(json.dumps(measure_all_match(args.dir, users, workers)))
            return
        figures = measure(
            args.dir / f"store-{users}.db",
            args.dir,
            users,
            workers,
            dsn=args.db,
            capped=not args.uncapped,
        )
        print(json.dumps(figures))
        return
    rows = []
    for users in args.users:
        started = time.perf_counter()
        if args.all_match:
            ensure_all_match_workspace(users, args.dir)
        else:
            ensure_workspace(users, args.dir)
        print(
            f"workspace of {users:,} users ready ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
        digests = set()
        for workers in args.workers:
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--measure",
                    "--users",
                    str(users),
                    "--workers",
                    str(workers),
                    "--dir",
                    str(args.dir),
                    *(["--db", args.db] if args.db else []),
                    *(["--uncapped"] if args.uncapped else []),
                    *(["--all-match"] if args.all_match else []),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(child.stdout))
            digests.add(rows[-1]["output_sha256"])
            print(json.dumps(rows[-1]), file=sys.stderr)
        if len(args.workers) > 1:
            verdict = "identical" if len(digests) == 1 else "DIFFERENT"
            print(
                f"{users:,} users: deliveries {verdict} for workers {args.workers}", file=sys.stderr
            )
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
