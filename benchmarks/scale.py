"""Scale-out benchmark: deliveries/s of a Dask dispatch over N users from Parquet.

Generates (or reuses) a Parquet audience of N users in 16 partitions
(``--data``, default ``out/bench-scale``), starts a throwaway PostgreSQL cluster
for the ledger (``tests/_postgres.py``; or ``--db postgresql://...``), and for each
``--workers`` count starts a LocalCluster of that many worker processes (one
thread each), raises a business event whose bulletin reaches every user (a push
with ``Profile.*``, ``BusinessEvent.*``, an ``if`` and a ``default``), and prints the
wall time of the raise and deliveries/s, then checks that every worker count
wrote the same lines. Each run has a fresh ledger schema.

    .venv/bin/python benchmarks/scale.py --users 2000000 --workers 1 2
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests._postgres

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PARTITIONS = 16
TIERS = ("gold", "silver", "bronze")
ZONES = (None, "Asia/Kolkata", "Europe/Paris", "America/New_York")


def ensure_audience(users: int, root: Path) -> Path:
    """The Parquet audience of ``users`` users (generated once, reused)."""
    import tidings
    from tidings.storage.parquet import ParquetStore

    folder = root / f"audience-{users}"
    done = folder / ".done"
    if done.exists():
        return folder
    started = time.perf_counter()
    store = ParquetStore(folder, partitions=PARTITIONS)
    store.upsert_profiles(
        tidings.UserProfile.model_construct(
            identity=f"user-{i:08d}",
            name=f"User {i}" if i % 5 else None,
            email=None,
            push_tokens=(f"token-{i:08d}",),
            timezone=ZONES[i % len(ZONES)],
            properties={"tier": TIERS[i % 3], "points": i % 1000, "city": f"City {i % 97}"},
        )
        for i in range(users)
    )
    done.touch()
    print(f"generated {users:,} users in {time.perf_counter() - started:.1f} s", flush=True)
    return folder


BULLETIN = {
    "id": "everyone",
    "name": "New season",
    "business_event": "Season Released",
    "segment": {"kind": "all"},
    "match": [{"kind": "profile", "property": "points", "op": "gte", "value": 0}],  # everyone
    "message": {
        "channel": "push",
        "title": "{{ BusinessEvent.show }} is back, {{ Profile.name | default: 'friend' }}",
        "body": "{% if Profile.tier == 'gold' %}Gold members watch first{% else %}"
        "Now streaming{% endif %} ({{ Profile.points }} points)",
    },
    "published": True,
}
BODY = {
    "business_event": "Season Released",
    "name": "Season 2",
    "properties": {"show": "Night Shift"},
    "c-by": "bench",
    "when": "now",
    "idempotency_key": "bench",
}


def run(audience: Path, dsn: str, workers: int, out: Path) -> dict[str, object]:
    import distributed

    import tidings
    from tidings.scale import DaskDispatcher
    from tidings.storage.parquet import ParquetStore
    from tidings.storage.postgres import open_postgres

    _, ledger, registry = open_postgres(dsn)
    ws = tidings.Workspace(ParquetStore(audience), ledger, registry, clock=lambda: NOW)
    ws.define_business_event({"name": "Season Released", "properties": ["show"]})
    ws.publish_bulletin(BULLETIN)
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        runner = DaskDispatcher(client, ledger=dsn, out_dir=out)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = ws.raise_business_event(BODY, runner=runner)
        seconds = time.perf_counter() - started
    ws.close()
    digest = hashlib.sha256()
    lines = 0
    assert runner.last_output is not None
    for path in sorted(runner.last_output.glob("*.jsonl")):
        for line in sorted(path.read_bytes().splitlines()):
            digest.update(line)
            lines += 1
    sent = result.summary.sent
    return {
        "workers": workers,
        "load_1min_before": round(load, 2),
        "sent": sent,
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(sent / seconds),
        "lines": lines,
        "sha256": digest.hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", type=Path, default=Path("out/bench-scale"))
    parser.add_argument("--db", help="a PostgreSQL DSN (default: a throwaway cluster)")
    args = parser.parse_args()
    audience = ensure_audience(args.users, args.data)
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()}", flush=True)
    cluster = None
    if args.db is None:
        from tests._postgres import Cluster

        cluster = Cluster()
        cluster.start()
        base = cluster.dsn("tidings")
    else:
        base = args.db
    from tidings.storage._pg import migrate

    schemas = itertools.count()
    rows = []
    try:
        for workers in args.workers:
            schema = f"scale_{int(time.time())}_{next(schemas)}"
            sep = "&" if "?" in base else "?"
            dsn = f"{base}{sep}options=-c%20tidings.schema%3D{schema}"
            migrate(dsn)
            out = args.data / f"out-{args.users}-{workers}w-{schema}"
            row = run(audience, dsn, workers, out)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    if len(rows) > 1:
        base_rate = rows[0]["deliveries_per_s"]
        for row in rows[1:]:
            print(
                f"{row['workers']} workers / {rows[0]['workers']}: "
                f"{row['deliveries_per_s'] / base_rate:.2f}x"
            )  # type: ignore[operator]
        same = len({row["sha256"] for row in rows}) == 1
        print("identical output for every worker count:", same)


if __name__ == "__main__":
    main()
