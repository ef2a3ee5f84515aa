"""``tidings import`` and ``tidings dispatch``: load a SQLite workspace, then fire at it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, TextIO

from .errors import TidingsError
from .models.records import Delivery, JsonLinesSink, Record
from .workspace import Workspace

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class Progress:
    """A sink wrapper that draws a one-line progress counter on a terminal."""

    def __init__(self, sink: JsonLinesSink, stream: TextIO, *, enabled: bool) -> None:
        self.sink = sink
        self.stream = stream
        self.enabled = enabled
        self.count = 0
        self.sent = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def resume(self, pending_keys: set[str]) -> None:
        """Let the wrapped file sink resume a crashed dispatch (see ``JsonLinesSink.resume``)."""
        self.sink.resume(pending_keys)

    def flush(self) -> None:
        """Flush the wrapped file sink (the dispatch does it before marking a chunk emitted)."""
        self.sink.flush()

    def write_encoded(self, record: Record, line: str) -> None:
        """Pass on a record whose JSON line a dispatch worker already encoded, and count it."""
        self.sink.write_encoded(record, line)
        self._count(record)

    def __call__(self, record: Record) -> None:
        """Pass the record on and count it."""
        self.sink(record)
        self._count(record)

    def _count(self, record: Record) -> None:
        self.count += 1
        if isinstance(record, Delivery):
            self.sent += 1
        if self.enabled:
            now = time.monotonic()
            if now - self._last_draw >= 0.2:
                self._last_draw = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.count / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r  {self.count:>10,} users  {self.sent:>10,} sent  {rate:>10,.0f} users/s"
        )
        self.stream.flush()

    def finish(self) -> None:
        """Draw the final line (terminal only)."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def add_subcommands(subparsers: Any) -> None:
    """Register ``import`` and ``dispatch`` on the CLI's subparsers."""
    load = subparsers.add_parser(
        "import",
        help="load profiles, events and definitions into a SQLite workspace",
        description="Load JSON Lines profiles/events and a JSON definitions file into a "
        "SQLite workspace (created if missing).",
    )
    load.add_argument("--db", required=True, help="the SQLite workspace file")
    load.add_argument("--profiles", help="JSON Lines file of user profiles")
    load.add_argument("--events", help="JSON Lines file of user events")
    load.add_argument(
        "--definitions",
        help='JSON file: {"business_events": [...], "control_groups": [...], '
        '"bulletins": [...], "campaigns": [...]}',
    )
    load.set_defaults(handler=run_import)

    fire = subparsers.add_parser(
        "dispatch",
        help="raise a business event or trigger a campaign against a SQLite workspace",
        description="Raise a business event (Bulletins API body) or trigger a campaign "
        "(External Trigger API body) and write the deliveries as JSON Lines.",
    )
    fire.add_argument("--db", required=True, help="the SQLite workspace file")
    which = fire.add_mutually_exclusive_group(required=True)
    which.add_argument("--business-event", metavar="BODY.json", help="Bulletins API body")
    which.add_argument("--trigger", metavar="BODY.json", help="External Trigger API body")
    fire.add_argument("--out", default="deliveries.jsonl", help="JSON Lines output file")
    fire.add_argument("--skips", action="store_true", help="also write skips to the output")
    fire.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="processes that render a large dispatch (default 1: this process only); "
        "the deliveries are the same for any N",
    )
    fire.set_defaults(handler=run_dispatch_command)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_import(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Handle ``tidings import``."""
    try:
        definitions = _read_json(args.definitions) if args.definitions else {}
    except (OSError, json.JSONDecodeError) as exc:
        err.write(f"tidings import: cannot read {args.definitions}: {exc}\n")
        return EXIT_USAGE
    if not isinstance(definitions, dict):
        err.write("tidings import: the definitions file must hold a JSON object\n")
        return EXIT_USAGE
    with Workspace.sqlite(args.db) as ws:
        try:
            counts = {"profiles": 0, "events": 0}
            if args.profiles:
                counts["profiles"] = ws.store.import_jsonl(args.profiles, "profiles")
            if args.events:
                counts["events"] = ws.store.import_jsonl(args.events, "events")
            for event in definitions.get("business_events", []):
                ws.define_business_event(event)
            for group in definitions.get("control_groups", []):
                ws.define_control_group(group)
            for bulletin in definitions.get("bulletins", []):
                ws.publish_bulletin(bulletin)
            campaign_ids = [ws.publish_campaign(c) for c in definitions.get("campaigns", [])]
        except OSError as exc:
            err.write(f"tidings import: {exc}\n")
            return EXIT_USAGE
        except TidingsError as exc:
            err.write(f"tidings import: {exc}\n")
            return EXIT_FAILED
    summary = {**counts, "campaign_ids": campaign_ids}
    out.write(json.dumps(summary) + "\n")
    return EXIT_OK


def run_dispatch_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Handle ``tidings dispatch``."""
    path = args.business_event or args.trigger
    try:
        body = _read_json(path)
    except (OSError, json.JSONDecodeError) as exc:
        err.write(f"tidings dispatch: cannot read {path}: {exc}\n")
        return EXIT_USAGE
    if not Path(args.db).exists():
        err.write(f"tidings dispatch: no workspace at {args.db} (run `tidings import` first)\n")
        return EXIT_USAGE
    started = time.monotonic()
    with (
        Workspace.sqlite(args.db, workers=args.workers) as ws,
        JsonLinesSink(args.out, include_skips=args.skips) as sink,
    ):
        progress = Progress(sink, err, enabled=err.isatty())
        if args.business_event:
            result = ws.raise_business_event(body, sink=progress)
        else:
            result = ws.trigger_campaign(body, sink=progress)
        progress.finish()
    report = {
        "response": result.response,
        "summary": result.summary.to_dict(),
        "out": str(args.out),
        "seconds": round(time.monotonic() - started, 3),
    }
    out.write(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if result.ok else EXIT_FAILED
