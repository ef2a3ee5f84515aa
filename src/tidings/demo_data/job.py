"""The demo job behind ``tidings demo``: workspace, definitions, dispatches, engagement, report."""

# ruff: noqa: S311
# S311 (non-cryptographic random): the point is a seeded, reproducible generator of demo
# data; nothing here is a secret.

from __future__ import annotations

import json
import random
import time as _time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from ..errors import DefinitionError
from ..models.definitions import Goal
from ..models.records import Delivery, Record, Skip
from ..models.users import UserEvent
from ..report import sources_table, write_report
from ..sinks import JsonLinesSink
from ..stats import (
    DEFAULT_CLICKED,
    DEFAULT_VIEWED,
    WorkspaceStats,
    compute_stats,
    engagement_event,
    goal_for,
)
from ..workspace import Workspace
from .population import DEMO_NOW, DemoConfig, Progress, identity_of, populate_sqlite

_NO_PAYLOAD: Final[dict[str, Any]] = {}

__all__ = ["DemoResult", "load_definitions", "run_demo"]


# -- the demo job ------------------------------------------------------------------------


@dataclass
class DemoResult:
    """What ``tidings demo`` made and where it put it."""

    database: Path
    deliveries: Path
    report: Path
    previews: Path | None
    users: int
    events: int
    delivered: int
    engagement_events: int
    reused: bool
    seconds: float
    stats: WorkspaceStats
    responses: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """A short text summary with where the files are."""
        how = "reused" if self.reused else "built"
        lines = [
            f"tidings demo: {how} a workspace of {self.users:,} users and "
            f"{self.events:,} events in {self.seconds:.1f}s",
            "",
            *sources_table(self.stats.sources, compact=True),
        ]
        lines += [
            "",
            "files:",
            f"  workspace   {self.database}",
            f"  deliveries  {self.deliveries} ({self.delivered:,} deliveries, JSON Lines)",
            f"  report      {self.report}   <- open this in a browser",
        ]
        if self.previews is not None:
            lines.append(f"  previews    {self.previews}")
        lines += [
            "",
            f"next: tidings stats --db {self.database}",
            f"      tidings report --db {self.database} --out {self.report}",
        ]
        return "\n".join(lines)


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"cannot read {path}: {exc}") from None


def _resolve(definition: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """A definition with ``message_file`` replaced by that file's message."""
    data = dict(definition)
    message_file = data.pop("message_file", None)
    if message_file is not None:
        data["message"] = _load_json(base / str(message_file))
    return data


def load_definitions(path: Path) -> dict[str, Any]:
    """Read ``demo.json`` (see ``templates/demo/``), resolving message and sample files."""
    spec = _load_json(path)
    if not isinstance(spec, dict):
        raise DefinitionError(f"{path} must hold a JSON object")
    base = path.parent
    spec["bulletins"] = [_resolve(b, base) for b in spec.get("bulletins", [])]
    spec["campaigns"] = [_resolve(c, base) for c in spec.get("campaigns", [])]
    for trigger in spec.get("triggers", []):
        trigger["sample_data"] = _load_json(base / str(trigger["sample"]))
    return spec


@dataclass
class _Recorder:
    """The demo's sink: deliveries to JSON Lines, and who was sent or held out."""

    file: JsonLinesSink
    sent: list[Delivery] = field(default_factory=list)
    held_out: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, record: Record) -> None:
        if isinstance(record, Skip):
            if record.reason == "control_group":
                self.held_out.append((record.source_id, record.identity))
            return
        self.file(record)
        # Keep the delivery without its payload: the simulation needs the keys only.
        self.sent.append(
            Delivery(
                source=record.source,
                source_id=record.source_id,
                identity=record.identity,
                channel=record.channel,
                payload=_NO_PAYLOAD,
                send_at=record.send_at,
                idempotency_key=record.idempotency_key,
            )
        )


def _order_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    products = list(sample.get("productDetails", []))
    chosen = [dict(p) for p in rng.sample(products, rng.randint(1, len(products)))]
    total = sum(rng.uniform(20, 250) for _ in chosen)
    return {
        **sample,
        "orderId": f"NW-200-{n:06d}",
        "productDetails": chosen,
        "orderTotal": f"${total:,.2f}",
    }


def _fitness_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    steps = rng.randint(15_000, 24_000)
    day = (DEMO_NOW - timedelta(days=1)).date().isoformat()
    return {
        **sample,
        "steps": steps,
        "date": day,
        "milestoneId": f"steps-15k-{day}-{n}",
        "streakDays": rng.randint(1, 60),
    }


def _subscription_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    return {
        **sample,
        "accountId": f"ACC-{10_000 + n}",
        "subscriptionId": f"sub_demo_{n:06d}_{rng.getrandbits(24):06x}",
        "upgradedAt": DEMO_NOW.isoformat().replace("+00:00", "Z"),
    }


_STORIES: Final[dict[str, Callable[[random.Random, Mapping[str, Any], int], dict[str, Any]]]] = {
    "order": _order_trigger,
    "fitness": _fitness_trigger,
    "subscription": _subscription_trigger,
}


def _trigger_calls(spec: Mapping[str, Any], config: DemoConfig) -> Iterator[dict[str, Any]]:
    """External Trigger bodies (per-recipient data, at most 1,000 recipients per call)."""
    for trigger in spec.get("triggers", []):
        campaign_id = str(trigger["campaign_id"])
        story = _STORIES[str(trigger.get("story", "order"))]
        rng = random.Random(f"{config.seed}:triggers:{campaign_id}")
        sample = trigger["sample_data"]
        share, broken = float(trigger.get("share", 0.01)), float(trigger.get("broken_share", 0))
        recipients: list[dict[str, Any]] = []
        for index in range(config.users):
            if rng.random() >= share:
                continue
            data = story(rng, sample, len(recipients))
            if rng.random() < broken:
                # A service bug: the data lacks a key the template needs (a technical error).
                data.pop(str(trigger.get("broken_key", "")), None)
            recipients.append({"identity": identity_of(index), "ExternalTrigger": data})
        for n, first in enumerate(range(0, len(recipients), 1000)):
            yield {
                "campaign_id": campaign_id,
                "idempotency_key": f"demo-{campaign_id}-{n}",
                "to": recipients[first : first + 1000],
            }


# Engagement: P(viewed) by channel, P(clicked | viewed); conversion by what the user did.
_VIEW: Final = {"push": 0.55, "email": 0.4, "webhook": 0.0}
_CLICK: Final = 0.25
_CONVERT_CLICKED: Final = 0.55
_CONVERT_VIEWED: Final = 0.2
_CONVERT_BASE: Final = 0.12


def _simulate(
    ws: Workspace, recorder: _Recorder, config: DemoConfig
) -> tuple[list[UserEvent], dict[str, int]]:
    """Engagement and goal events for the demo's deliveries and hold-outs (not stored)."""
    rng = random.Random(f"{config.seed}:engagement")
    goals: dict[str, Goal | None] = {}
    events: list[UserEvent] = []
    counts = {"viewed": 0, "clicked": 0, "converted": 0}

    def goal(source_id: str) -> Goal | None:
        if source_id not in goals:
            goals[source_id] = goal_for(ws, source_id)
        return goals[source_id]

    def convert(identity: str, source_id: str, at: datetime, chance: float) -> None:
        target = goal(source_id)
        if target is None or rng.random() >= chance:
            return
        # Some conversions come after the window closes: they must not count.
        delay = timedelta(hours=rng.uniform(0.05, target.window_hours * 1.2))
        events.append(
            UserEvent.model_construct(
                identity=identity,
                name=target.event,
                properties={"source": "demo"},
                timestamp=at + delay,
            )
        )
        counts["converted"] += 1

    for delivery in recorder.sent:
        chance = _CONVERT_BASE
        if rng.random() < _VIEW.get(delivery.channel, 0.0):
            seen = delivery.send_at + timedelta(minutes=rng.uniform(1, 600))
            events.append(engagement_event(delivery, DEFAULT_VIEWED, seen))
            counts["viewed"] += 1
            chance = _CONVERT_VIEWED
            if rng.random() < _CLICK:
                clicked = seen + timedelta(seconds=rng.uniform(2, 120))
                events.append(engagement_event(delivery, DEFAULT_CLICKED, clicked))
                counts["clicked"] += 1
                chance = _CONVERT_CLICKED
        convert(delivery.identity, delivery.source_id, delivery.send_at, chance)
    for source_id, identity in recorder.held_out:
        convert(identity, source_id, config.now, _CONVERT_BASE)
    return events, counts


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _stored_fingerprint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with Workspace.sqlite(path) as ws:
        return ws.registry.definitions("demo").get("fingerprint")


def run_demo(
    out_dir: Path,
    definitions: Path,
    config: DemoConfig | None = None,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
    previews: Callable[[Path], Path | None] | None = None,
    workers: int | None = None,
) -> DemoResult:
    """Build (or reuse) the demo workspace, dispatch, simulate, and write the report.

    Writes ``workspace.db``, ``deliveries.jsonl`` and ``report.html`` into
    ``out_dir``. A workspace built by an earlier run with the same
    :meth:`DemoConfig.fingerprint` is reused (only the report is redrawn)
    unless ``fresh``.

    Args:
        out_dir: Where to write.
        definitions: ``templates/demo/demo.json``.
        config: What to generate (default: 100,000 users).
        fresh: Rebuild even when a matching workspace exists.
        progress: Receives progress lines.
        previews: Called with ``out_dir / "preview"`` to write template previews;
            returns the index page (shown in the summary).
        workers: Processes generating the data (see :func:`populate_sqlite`).

    Raises:
        DefinitionError: the definitions file is missing or invalid.
    """
    config = config or DemoConfig()
    say = progress or (lambda _line: None)
    started = _time.monotonic()
    spec = load_definitions(definitions)
    out_dir.mkdir(parents=True, exist_ok=True)
    database = out_dir / "workspace.db"
    deliveries_path = out_dir / "deliveries.jsonl"
    report_path = out_dir / "report.html"
    fingerprint = config.fingerprint()

    def clock() -> datetime:
        return config.now

    reuse = (
        not fresh
        and deliveries_path.exists()
        and _stored_fingerprint(database) == {**fingerprint, "complete": True}
    )
    responses: list[dict[str, Any]] = []
    engaged = delivered = 0
    if reuse:
        say(f"reusing {database} (same seed and size; pass --fresh to rebuild)")
        with Workspace.sqlite(database, clock=clock) as ws:
            counts = ws.registry.definitions("demo").get("counts", {})
            users, events_count = int(counts.get("users", 0)), int(counts.get("events", 0))
            delivered = int(counts.get("delivered", 0))
            engaged = int(counts.get("engagement_events", 0))
            say("computing stats")
            stats = compute_stats(ws)
    else:
        _remove_database(database)
        deliveries_path.unlink(missing_ok=True)
        with Workspace.sqlite(database, clock=clock) as ws:
            ws.registry.save_definition("demo", "fingerprint", {**fingerprint, "complete": False})
            say(
                f"[1/5] generating {config.users:,} users and about "
                f"{int(config.users * config.events_per_user):,} events (seed {config.seed})"
            )
            users, events_count = populate_sqlite(database, config, workers=workers, progress=say)
            say("[2/5] publishing business events, bulletins and campaigns")
            for event in spec.get("business_events", []):
                ws.define_business_event(event)
            for group in spec.get("control_groups", []):
                ws.define_control_group(group)
            for bulletin in spec.get("bulletins", []):
                ws.publish_bulletin(bulletin)
            for campaign in spec.get("campaigns", []):
                ws.publish_campaign(campaign)
            say("[3/5] raising business events and External Trigger calls")
            with JsonLinesSink(deliveries_path, include_skips=False) as sink:
                recorder = _Recorder(sink)
                for body in spec.get("raise", []):
                    result = ws.raise_business_event(body, sink=recorder)
                    responses.append(result.response)
                    say(
                        f"  {body.get('business_event')} {body.get('name')!r}: "
                        f"{result.summary.sent:,} sent to {result.summary.qualified:,} qualified"
                    )
                calls = sent = 0
                for body in _trigger_calls(spec, config):
                    result = ws.trigger_campaign(body, sink=recorder)
                    responses.append(result.response)
                    calls += 1
                    sent += result.summary.sent
                say(f"  {calls:,} External Trigger calls: {sent:,} sent")
                delivered = sink.written
            say("[4/5] simulating engagement and conversions")
            simulated, tally = _simulate(ws, recorder, config)
            ws.store.append_events(simulated)
            engaged = len(simulated)
            say(
                f"  {tally['viewed']:,} viewed, {tally['clicked']:,} clicked, "
                f"{tally['converted']:,} goal events"
            )
            say("[5/5] computing stats")
            stats = compute_stats(ws)
            ws.registry.save_definition(
                "demo",
                "counts",
                {
                    "users": users,
                    "events": events_count,
                    "delivered": delivered,
                    "engagement_events": engaged,
                },
            )
            ws.registry.save_definition("demo", "fingerprint", {**fingerprint, "complete": True})
    preview_index = previews(out_dir / "preview") if previews is not None else None
    links = [("deliveries.jsonl", deliveries_path.name)]
    if preview_index is not None:
        links.append(("template previews", preview_index.relative_to(out_dir).as_posix()))
    write_report(
        stats,
        report_path,
        title="tidings demo report",
        workspace=str(database),
        links=links,
    )
    say(f"wrote {report_path}")
    return DemoResult(
        database=database,
        deliveries=deliveries_path,
        report=report_path,
        previews=preview_index,
        users=users,
        events=events_count,
        delivered=delivered,
        engagement_events=engaged,
        reused=reuse,
        seconds=_time.monotonic() - started,
        stats=stats,
        responses=responses,
    )
