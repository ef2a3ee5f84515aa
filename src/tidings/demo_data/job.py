"""The demo job behind ``tidings demo``: workspace, definitions, dispatches, engagement, report."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import DefinitionError
from ..report import sources_table, write_report
from ..sinks import JsonLinesSink
from ..stats import (
    WorkspaceStats,
    compute_stats,
)
from ..workspace import Workspace
from ._traffic import Recorder, simulate, trigger_calls
from .population import DemoConfig, Progress, populate_sqlite

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
                recorder = Recorder(sink)
                for body in spec.get("raise", []):
                    result = ws.raise_business_event(body, sink=recorder)
                    responses.append(result.response)
                    say(
                        f"  {body.get('business_event')} {body.get('name')!r}: "
                        f"{result.summary.sent:,} sent to {result.summary.qualified:,} qualified"
                    )
                calls = sent = 0
                for body in trigger_calls(spec, config):
                    result = ws.trigger_campaign(body, sink=recorder)
                    responses.append(result.response)
                    calls += 1
                    sent += result.summary.sent
                say(f"  {calls:,} External Trigger calls: {sent:,} sent")
                delivered = sink.written
            say("[4/5] simulating engagement and conversions")
            simulated, tally = simulate(ws, recorder, config)
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
