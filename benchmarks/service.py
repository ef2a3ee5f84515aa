"""A bounded loopback load test of `tidings serve`: requests/s and p50/p99 latency.

    .venv/bin/python benchmarks/service.py                 # 1,000 requests a scenario, 60 s cap
    .venv/bin/python benchmarks/service.py --quick         # 200 requests a scenario

Builds a fresh SQLite workspace in a temporary directory (2,000 users, one External
Trigger campaign, one business event whose bulletin reaches 20 users), serves it with
uvicorn on a free 127.0.0.1 port in this process, and drives it from `--clients`
threads, each with its own keep-alive `httpx.Client`, until `--count` requests are
answered or `--seconds` have passed (whichever first: it always stops by itself).

Scenarios: a single-campaign trigger (`POST /1/send/externaltrigger.json`, one
recipient a call) and raising a bulletin (`POST /1/targets/trigger.json`). After
each, the ledger is read back: it must hold exactly the deliveries the answers
announced (triggers: the sum of `sent`; bulletins: one activity entry per answer,
their `sent` summed), and no answer may be a 5xx. The script exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import tidings
from tidings.service import create_app, hash_passcode, load_config

ACCOUNT, PASSCODE = "bench", "bench-passcode"
HEADERS = {
    "X-CleverTap-Account-Id": ACCOUNT,
    "X-CleverTap-Passcode": PASSCODE,
    "Content-Type": "application/json",
}
USERS = 2_000
BULLETIN_AUDIENCE = 20


@dataclass
class Run:
    """The answers of one scenario: latencies (s), status codes, JSON bodies."""

    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, latency: float, status: int, body: dict[str, Any]) -> None:
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] += 1
            self.bodies.append(body)

    def figures(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        quantiles = statistics.quantiles(ordered, n=100, method="inclusive")
        return {
            "scenario": self.name,
            "requests": len(ordered),
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(len(ordered) / self.seconds, 1),
            "p50_ms": round(quantiles[49] * 1000, 2),
            "p99_ms": round(quantiles[98] * 1000, 2),
            "statuses": dict(sorted(self.statuses.items())),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build(root: Path) -> tuple[Path, str]:
    """The config file and the campaign id of a fresh benchmark workspace."""
    (root / "service.toml").write_text(
        '[service]\ndata_dir = "data"\nrate_limit = 0\n'
        f'[[accounts]]\nid = "{ACCOUNT}"\npasscode = "{hash_passcode(PASSCODE)}"\n',
        encoding="utf-8",
    )
    config = load_config(root / "service.toml")
    account = config.accounts[ACCOUNT]
    account.db.parent.mkdir(parents=True)
    when = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with tidings.Workspace.sqlite(account.db) as ws:
        ws.upsert_profiles(
            {
                "identity": f"user-{i:05d}",
                "name": f"User {i}",
                "email": f"user{i}@example.com",
                "push_tokens": [f"tok-{i}"],
            }
            for i in range(USERS)
        )
        # The bulletin reaches those who watched in Hindi: the first BULLETIN_AUDIENCE users.
        ws.record_events(
            {
                "identity": f"user-{i:05d}",
                "name": "Watched",
                "properties": {"language": "Hindi" if i < BULLETIN_AUDIENCE else "Tamil"},
                "timestamp": when,
            }
            for i in range(USERS)
        )
        ws.define_business_event(
            {"name": "Program Released", "properties": ["program_id", "language"]}
        )
        ws.publish_bulletin(
            {
                "id": "new-episode",
                "name": "New episode",
                "business_event": "Program Released",
                "segment": {"kind": "all"},
                "match": [
                    {
                        "business_property": "language",
                        "event": "Watched",
                        "event_property": "language",
                        "within_days": 30,
                    }
                ],
                "message": {
                    "channel": "push",
                    "title": "New",
                    "body": "{{ BusinessEvent.program_id }}",
                },
                "creator": "bench@example.com",
                "published": True,
            }
        )
        campaign = ws.publish_campaign(
            {
                "name": "Order summary",
                "message": {
                    "channel": "email",
                    "subject": "Order {{ ExternalTrigger.order_id }}",
                    "html": "<p>Hi {{ Profile.name }}, order {{ ExternalTrigger.order_id }}</p>",
                },
            }
        )
    return root / "service.toml", campaign


def drive(
    url: str, run: Run, bodies: Any, *, path: str, count: int, seconds: float, clients: int
) -> None:
    """POST ``bodies(n)`` from ``clients`` threads until ``count`` answers or ``seconds``."""
    issued = iter(range(count))
    take = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
            while time.monotonic() < deadline:
                with take:
                    n = next(issued, None)
                if n is None:
                    return
                content = json.dumps(bodies(n))
                started = time.perf_counter()
                response = client.post(path, content=content)
                elapsed = time.perf_counter() - started
                run.add(elapsed, response.status_code, response.json())

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started


def verify(db: Path, campaign: str, trigger: Run, bulletin: Run) -> list[str]:
    """What the ledger and the answers disagree on (empty when they agree)."""
    problems = []
    for run in (trigger, bulletin):
        server_errors = sum(n for status, n in run.statuses.items() if status >= 500)
        if server_errors:
            problems.append(f"{run.name}: {server_errors} answers were 5xx")
        if set(run.statuses) != {200}:
            problems.append(f"{run.name}: answers other than 200: {dict(run.statuses)}")
    with tidings.Workspace.sqlite(db) as ws:
        ledger_sent = sum(1 for o in ws.ledger.outcomes(campaign) if o["state"] == "sent")
        answered_sent = sum(int(b.get("sent", 0)) for b in trigger.bodies)
        if ledger_sent != answered_sent:
            problems.append(f"trigger: ledger has {ledger_sent} sent, answers say {answered_sent}")
        activity = ws.activity_log()
        bulletin_sent = sum(1 for o in ws.ledger.outcomes("new-episode") if o["state"] == "sent")
        if len(activity) != len(bulletin.bodies):
            problems.append(
                f"bulletin: {len(activity)} activity entries, {len(bulletin.bodies)} answers"
            )
        if bulletin_sent != sum(int(a["sent"]) for a in activity):
            problems.append("bulletin: ledger sent differs from the activity log")
        if bulletin_sent != BULLETIN_AUDIENCE * len(bulletin.bodies):
            problems.append(
                f"bulletin: ledger has {bulletin_sent} sent, expected "
                f"{BULLETIN_AUDIENCE} x {len(bulletin.bodies)}"
            )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="requests per scenario")
    parser.add_argument("--seconds", type=float, default=60.0, help="time cap per scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--quick", action="store_true", help="200 requests per scenario")
    args = parser.parse_args()
    count = 200 if args.quick else args.count
    with tempfile.TemporaryDirectory(prefix="tidings-service-bench-") as tmp:
        config_path, campaign = build(Path(tmp))
        config = load_config(config_path)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("the server did not start")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        try:
            trigger = Run("single-campaign trigger (1 recipient)")
            drive(
                url,
                trigger,
                lambda n: {
                    "to": {"identity": [f"user-{n % USERS:05d}"]},
                    "campaign_id": campaign,
                    "ExternalTrigger": {"order_id": f"B-{n}"},
                },
                path="/1/send/externaltrigger.json",
                count=count,
                seconds=args.seconds,
                clients=args.clients,
            )
            bulletin = Run(f"raise a bulletin ({BULLETIN_AUDIENCE} recipients)")
            drive(
                url,
                bulletin,
                lambda n: {
                    "business_event": "Program Released",
                    "name": f"Episode {n}",
                    "properties": {"program_id": str(n), "language": "Hindi"},
                    "c-by": "bench@example.com",
                    "when": "now",
                },
                path="/1/targets/trigger.json",
                count=count,
                seconds=args.seconds,
                clients=args.clients,
            )
        finally:
            server.should_exit = True
            thread.join(timeout=30)
        for run in (trigger, bulletin):
            print(json.dumps(run.figures()))
        problems = verify(config.accounts[ACCOUNT].db, campaign, trigger, bulletin)
    for problem in problems:
        print("MISMATCH:", problem)
    print("ledger counts equal the answers; zero 5xx" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
