"""Before/after comparison of dispatch behaviour: a git revision against the working tree.

usage: python benchmarks/compare_refactor.py [--base REV] [--keep DIR]

Checks out ``REV`` (default ``main``) into a temporary git worktree, then runs the
same fixed scenarios twice in fresh interpreters: once importing tidings from that
checkout, once from this tree's ``src/``. Each run writes, per scenario, the JSON
Lines output, the responses and summaries, and every table of the SQLite ledger;
the script diffs the two and prints ``identical`` or the first differences. Exit
status 0 when identical, 1 otherwise.

Scenarios: bulletins with match rules, filters, targeting caps and control groups
(campaign and custom), DND and local send time, frequency caps over repeated
raises, idempotent replays, External Trigger campaigns (shared and per-recipient
data, unknown and duplicate recipients, missing keys, oversized data, filters,
schedules), Message via Identity, malformed bodies, a dispatch interrupted part
way and resumed with the same idempotency key, and ``workers=2`` over several
chunks. The same scenarios run on a memory workspace (records kept on the result).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ZONES = ["Asia/Kolkata", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati", "UTC"]
GENRES = ["Drama", "Comedy", "Thriller"]
USERS = 2600  # more than two chunks, so workers=2 really fans out


# -- the scenario runner (runs inside the interpreter under test) ----------------------


def _profiles() -> list[dict[str, Any]]:
    return [
        {
            "identity": f"u{i:05d}",
            "name": f"User {i}" if i % 11 else None,
            "email": f"user{i}@example.com" if i % 7 else None,
            "push_tokens": [f"t{i}"] if i % 5 else [],
            "timezone": ZONES[i % len(ZONES)] if i % 13 else None,
            "properties": {"plan": "gold" if i % 4 == 0 else "free", "age": 18 + i % 50},
        }
        for i in range(USERS)
    ]


def _events() -> list[dict[str, Any]]:
    return [
        {
            "identity": f"u{i:05d}",
            "name": "Movie Watched",
            "properties": {"genre": GENRES[i % 3]},
            "timestamp": (NOW - timedelta(days=1 + i % 40)).isoformat(),
        }
        for i in range(USERS)
    ]


def _bulletin(bid: str, **extra: Any) -> dict[str, Any]:
    body = {
        "id": bid,
        "name": f"Bulletin {bid}",
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
            "title": "New {{ BusinessEvent.genre }}",
            "body": "Hi {{ Profile.name | default: 'there' }}, {{ BusinessEvent.program_id }}",
        },
        "published": True,
    }
    body.update(extra)
    return body


def _raise(key: str | None, genre: str = "Drama", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "business_event": "Program Released",
        "name": f"release {key}",
        "properties": {"program_id": "p-1", "genre": genre},
        "c-by": "me@example.com",
        "when": "now",
    }
    if key is not None:
        body["idempotency_key"] = key
    body.update(extra)
    return body


ORDER = (
    "Hey {{ Profile.name | default: 'User' }}, order {{ ExternalTrigger.order_id }}:"
    "{% for p in ExternalTrigger.items %} {{ p.name }}{% endfor %}"
)


def _define(ws: Any) -> None:
    ws.configure(
        {
            "default_timezone": "Europe/Berlin",
            "frequency_caps": [
                {"limit": 2, "period": "day", "channel": "push"},
                {"limit": 5, "period": "week"},
            ],
        }
    )
    ws.define_business_event({"name": "Program Released", "properties": ["program_id", "genre"]})
    ws.define_control_group({"name": "holdouts", "percent": 5, "identities": ["u00003", "u00010"]})
    ws.publish_bulletin(
        _bulletin(
            "b-filter",
            filters=[{"kind": "property", "property": "plan", "op": "eq", "value": "free"}],
            control_group={"kind": "campaign", "percent": 10},
            delivery={"dnd": {"start": "13:00", "end": "15:00", "action": "discard"}},
        )
    )
    ws.publish_bulletin(
        _bulletin(
            "b-cap",
            targeting_cap=150,
            control_group={"kind": "custom", "group": "holdouts"},
            delivery={"dnd": {"start": "17:00", "end": "23:00", "action": "delay"}},
            ttl_seconds=3600,
        )
    )
    ws.publish_bulletin(
        _bulletin(
            "b-local",
            delivery={
                "local_send_time": "10:00",
                "dnd": {"start": "22:00", "end": "08:00", "action": "discard"},
            },
            message={
                "channel": "email",
                "subject": "{{ BusinessEvent.genre }}",
                "html": "<p>{{ Profile.name }} {{ Profile.plan }}</p>",
            },
        )
    )
    ws.publish_bulletin(_bulletin("b-off", published=False))


def _campaigns(ws: Any) -> dict[str, str]:
    ids = {}
    ids["order"] = ws.publish_campaign(
        {
            "name": "Order",
            "message": {"channel": "email", "subject": "Order", "html": ORDER},
            "targeting_cap": 100,
            "control_group": {"kind": "campaign", "percent": 10},
        }
    )
    ids["filtered"] = ws.publish_campaign(
        {
            "name": "Filtered",
            "message": {"channel": "push", "title": "t", "body": "{{ ExternalTrigger.x }}"},
            "filters": [{"kind": "property", "property": "plan", "op": "eq", "value": "gold"}],
            "max_trigger_bytes": 120,
        }
    )
    ids["api"] = ws.publish_campaign(
        {
            "name": "API shape",
            "channel": "webhook",
            "content": {
                "url": "https://hooks.example.com/{{ Profile.identity }}",
                "body": '{"id": "{{ ExternalTrigger.id }}", "n": {{ ExternalTrigger.n | json }}}',
            },
            "control_group": {"kind": "custom", "group": "holdouts"},
        }
    )
    ids["scheduled"] = ws.publish_campaign(
        {
            "name": "Later",
            "message": {"channel": "push", "title": "t", "body": "b"},
            "schedule": {"start": (NOW + timedelta(days=1)).isoformat()},
        }
    )
    return ids


def _record_dump(record: Any) -> str:
    return json.dumps(record.to_dict(), sort_keys=True, default=str)


def _result(result: Any) -> dict[str, Any]:
    return {
        "response": result.response,
        "summary": result.summary.to_dict(),
        "summaries": {k: v.to_dict() for k, v in sorted(result.summaries.items())},
        "deliveries": [_record_dump(d) for d in result.deliveries],
        "skips": [_record_dump(s) for s in result.skips],
    }


class _CrashError(Exception):
    pass


def _requests(ws: Any, ids: dict[str, str], tidings: Any, out: Path, tag: str) -> list[Any]:
    """Every request of the scenario list, in order; returns what each one gave back."""
    results: list[Any] = []
    everyone = [f"u{i:05d}" for i in range(0, USERS, 9)]

    def run(name: str, call: Any, body: Any) -> None:
        path = out / f"{tag}-{name}.jsonl"
        with tidings.JsonLinesSink(path) as sink:
            streamed = call(body, sink=sink)
        again = json.loads(json.dumps(body)) if isinstance(body, dict) else body
        if isinstance(again, dict) and isinstance(again.get("idempotency_key"), str):
            again["idempotency_key"] += "-kept"  # a new request, records kept on the result
        kept = call(again)
        results.append({"name": name, "streamed": _result(streamed), "kept": _result(kept)})

    run("raise-1", ws.raise_business_event, _raise("r1"))
    run("raise-1-replay", ws.raise_business_event, _raise("r1"))
    run("raise-2", ws.raise_business_event, _raise("r2"))
    run("raise-3-comedy", ws.raise_business_event, _raise("r3", genre="Comedy"))
    run("raise-future", ws.raise_business_event, _raise("r4", when="2026-11-28T03:00:00+00:00"))
    for i, bad in enumerate(
        [
            [],
            {"business_event": "Nope"},
            _raise("x", when="yesterday"),
            _raise("y", properties={"genre": "Drama"}),
            _raise("z", properties={"program_id": "p", "genre": "x" * 600}),
            {**_raise("w"), "c-by": ""},
        ]
    ):
        run(f"raise-bad-{i}", ws.raise_business_event, bad)

    data = {"order_id": "A-1", "items": [{"name": "Tea"}, {"name": "<b>Cup</b>"}]}
    shared = {
        "to": {"identity": [*everyone[:140], "ghost", everyone[0], everyone[1]]},
        "campaign_id": ids["order"],
        "ExternalTrigger": data,
        "idempotency_key": "order-1",
    }
    run("order-shared", ws.trigger_campaign, shared)
    run("order-shared-replay", ws.trigger_campaign, shared)
    per = {
        "campaign_id": ids["order"],
        "to": [
            {"identity": ident, "ExternalTrigger": {"order_id": f"O-{n}"} if n % 3 else {}}
            for n, ident in enumerate(everyone[100:160])
        ]
        + [{"identity": "ghost"}, {"identity": everyone[100]}],
        "idempotency_key": "order-2",
    }
    run("order-per-recipient", ws.trigger_campaign, per)
    filtered = {
        "campaign_id": ids["filtered"],
        "to": [
            {"identity": ident, "ExternalTrigger": {"x": "y" * (n * 7)}}
            for n, ident in enumerate(everyone[:40])
        ],
        "idempotency_key": "f-1",
    }
    run("filtered", ws.trigger_campaign, filtered)
    run(
        "api-webhook",
        ws.trigger_campaign,
        {
            "campaign_id": int(ids["api"]),
            "to": {"identity": everyone[:60]},
            "ExternalTrigger": {"id": 'q"uote', "n": [1, 2.5, None]},
            "idempotency_key": "api-1",
        },
    )
    for i, bad in enumerate(
        [
            {"campaign_id": "404", "to": {"identity": ["u00001"]}},
            {"campaign_id": ids["scheduled"], "to": {"identity": ["u00001"]}},
            {"campaign_id": ids["order"], "to": {"identity": []}},
            {"campaign_id": ids["order"], "to": {"identity": ["u00001"]}},
            {"campaign_id": ids["order"], "to": {"identity": ["u1"]}, "ExternalTrigger": 5},
            {
                "campaign_id": ids["filtered"],
                "to": {"identity": ["u00001"]},
                "ExternalTrigger": {"x": "y" * 500},
            },
            {"campaign_id": ids["order"], "to": [{"identity": 5}]},
            {"campaign_id": ids["order"], "to": {"identity": ["u1"]}, "idempotency_key": 3},
        ]
    ):
        run(f"trigger-bad-{i}", ws.trigger_campaign, bad)
    via = {
        "to": {"identity": [*everyone[:30], "ghost", everyone[2]]},
        "content": {"channel": "email", "subject": "Hi", "html": "<p>{{ ExternalTrigger.a }}</p>"},
        "ExternalTrigger": {"a": "<i>x</i>"},
        "filters": [{"kind": "property", "property": "plan", "op": "eq", "value": "free"}],
        "idempotency_key": "via-1",
    }
    run("via-identity", ws.message_via_identity, via)
    for i, bad in enumerate(
        [
            {"to": {"identity": ["u00001"]}, "content": 3},
            {"to": {"identity": ["u00001"]}, "content": {"channel": "fax"}},
            {
                "to": {"identity": ["u00001"]},
                "content": {"channel": "push", "title": "{{ x", "body": "b"},
            },
            {
                "to": {"identity": ["u00001"]},
                "content": {"channel": "push", "title": "t", "body": "b"},
                "control_group": {"kind": "custom", "group": "nope"},
            },
        ]
    ):
        run(f"via-bad-{i}", ws.message_via_identity, bad)
    return results


def _crash_and_resume(ws: Any, tidings: Any, out: Path, tag: str) -> list[Any]:
    """A raise interrupted after some records reached the sink, then run again."""

    class Breaking(tidings.JsonLinesSink):  # type: ignore[misc]
        def __init__(self, path: Path, limit: int) -> None:
            super().__init__(path)
            self.limit = limit
            self.count = 0

        def _tick(self) -> None:
            self.count += 1
            if self.count > self.limit:
                raise _CrashError

        def __call__(self, record: Any) -> None:
            self._tick()
            super().__call__(record)

        def write_encoded(self, record: Any, line: str) -> None:
            self._tick()
            super().write_encoded(record, line)

    path = out / f"{tag}-resume.jsonl"
    found: list[Any] = []
    for limit in (500, 300):
        sink = Breaking(path, limit)
        try:
            ws.raise_business_event(_raise("resume", genre="Thriller"), sink=sink)
            found.append("no crash")
        except _CrashError:
            found.append(f"crashed after {limit}")
        finally:
            sink.close()
    with tidings.JsonLinesSink(path) as sink:
        found.append(
            _result(ws.raise_business_event(_raise("resume", genre="Thriller"), sink=sink))
        )
    return found


def _ledger_tables(db: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(db)
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    tables = {}
    for name in names:
        cursor = conn.execute(f"SELECT * FROM {name}")
        # An autoincrement ``seq`` only numbers rows: rows added anywhere would shift it.
        keep = [i for i, column in enumerate(cursor.description) if column[0] != "seq"]
        rows = [[row[i] for i in keep] for row in cursor.fetchall()]
        tables[name] = sorted(json.dumps(row, default=str) for row in rows)
    conn.close()
    return tables


def run_scenarios(out: Path) -> None:
    """Run every scenario with the tidings this interpreter imports; write results to ``out``."""
    import tidings

    counter = iter(range(10**9))
    uuid.uuid4 = lambda: uuid.UUID(int=next(counter))  # type: ignore[assignment]
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"tidings": tidings.__file__.rsplit("/src/", 1)[0]}

    memory = tidings.Workspace(clock=lambda: NOW)
    memory.upsert_profiles(_profiles())
    memory.record_events(_events())
    _define(memory)
    report["memory"] = _requests(memory, _campaigns(memory), tidings, out, "memory")
    report["memory-activity"] = memory.activity_log()
    memory.close()

    db = out / "ws.db"
    ws = tidings.Workspace.sqlite(db, clock=lambda: NOW)
    ws.upsert_profiles(_profiles())
    ws.record_events(_events())
    _define(ws)
    ids = _campaigns(ws)
    ws.close()
    ws = tidings.Workspace.sqlite(db, clock=lambda: NOW)  # definitions reload from the file
    report["sqlite"] = _requests(ws, ids, tidings, out, "sqlite")
    report["sqlite-resume"] = _crash_and_resume(ws, tidings, out, "sqlite")
    ws.close()
    ws = tidings.Workspace.sqlite(db, clock=lambda: NOW + timedelta(hours=30), workers=2)
    path = out / "sqlite-workers.jsonl"
    with tidings.JsonLinesSink(path) as sink:
        report["sqlite-workers"] = _result(
            ws.raise_business_event(_raise("w1", genre="Comedy"), sink=sink)
        )
    report["sqlite-activity"] = ws.activity_log()
    ws.close()
    report["ledger"] = _ledger_tables(db)
    report["jsonl"] = {p.name: p.read_text().splitlines() for p in sorted(out.glob("*.jsonl"))}
    (out / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True, default=str))


# -- the driver --------------------------------------------------------------------------


def _run_with(src: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    # A fixed hash seed: frozenset fields (custom group members) dump in set order.
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    subprocess.run(
        [sys.executable, __file__, "--run", str(out)], check=True, env=env, cwd=out.parent
    )
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    loaded_from = report.pop("tidings")
    if Path(loaded_from).resolve() != src.parent.resolve():
        raise SystemExit(f"expected tidings from {src}, the run imported {loaded_from}")
    return report


def _lines(report: dict[str, Any]) -> list[str]:
    return json.dumps(report, indent=1, sort_keys=True).splitlines()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision to compare against")
    parser.add_argument("--keep", type=Path, help="keep both runs' outputs in this directory")
    parser.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        run_scenarios(args.run)
        return 0
    with tempfile.TemporaryDirectory(prefix="tidings-compare-") as tmp:
        base_dir = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(base_dir), args.base],
            check=True,
            cwd=ROOT,
        )
        try:
            keep = args.keep or Path(tmp)
            before = _run_with(base_dir / "src", keep / "before")
            after = _run_with(ROOT / "src", keep / "after")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_dir)], check=True, cwd=ROOT
            )
    deliveries = sum(
        sum('"delivery"' in line for line in lines) for lines in before["jsonl"].values()
    )
    print(
        f"scenarios: {len(before['memory']) + len(before['sqlite']) + 2} requests per backend, "
        f"{deliveries} delivery lines, {sum(len(v) for v in before['ledger'].values())} ledger rows"
    )
    if before == after:
        print(f"identical: {args.base} and the working tree")
        return 0
    diff = list(difflib.unified_diff(_lines(before), _lines(after), args.base, "working tree", n=2))
    print("\n".join(diff[:200]))
    print(f"DIFFERENT: {len(diff)} diff lines")
    return 1


if __name__ == "__main__":
    sys.exit(main())
