"""``tidings dispatch``: raise a business event or trigger a campaign against a workspace."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TextIO

from ..models.records import Delivery, Record
from ..sinks import JsonLinesSink
from ..storage.ledger import OutcomeRow
from ._command import EXIT_ERROR, EXIT_OK, Command, output_error, read_object
from ._workspace import DB_HELP, db_argument, on_parquet, open_workspace

__all__ = ["DISPATCH", "Progress"]


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

    def resume(self, pending_keys: set[str], skips: Collection[tuple[str, str]] = ()) -> None:
        """Let the wrapped file sink resume a crashed dispatch (see ``JsonLinesSink.resume``)."""
        self.sink.resume(pending_keys, skips)

    def flush(self) -> None:
        """Flush the wrapped file sink (the dispatch does it before marking a chunk emitted)."""
        self.sink.flush()

    def write_encoded(self, record: Record, line: str) -> None:
        """Pass on a record whose JSON line a dispatch worker already encoded, and count it."""
        self.sink.write_encoded(record, line)
        self._count(record)

    @property
    def include_skips(self) -> bool:
        """Whether the wrapped file sink writes skip lines (the encoded path asks)."""
        return self.sink.include_skips

    def write_lines(self, lines: Sequence[str], rows: Sequence[OutcomeRow]) -> None:
        """Pass on a chunk of lines the dispatch workers encoded, and count it.

        The live counter then counts the records whose lines the file receives:
        without ``--skips`` the skipped users are left out of it (the
        summary printed at the end counts everyone).
        """
        self.sink.write_lines(lines, rows)
        self.count += len(rows)
        self.sent += sum(1 for row in rows if row[4] == "pending")
        self._tick()

    def __call__(self, record: Record) -> None:
        """Pass the record on and count it."""
        self.sink(record)
        self._count(record)

    def _count(self, record: Record) -> None:
        self.count += 1
        if isinstance(record, Delivery):
            self.sent += 1
        self._tick()

    def _tick(self) -> None:
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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=db_argument, required=True, help=DB_HELP)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--business-event", type=Path, metavar="BODY.json", help="Bulletins API body"
    )
    which.add_argument(
        "--trigger", type=Path, metavar="BODY.json", help="External Trigger API body"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("deliveries.jsonl"), help="JSON Lines output file"
    )
    parser.add_argument("--skips", action="store_true", help="also write skips to the output")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="processes that render a large dispatch (default 1: this process only); "
        "the deliveries are the same for any N",
    )
    parser.add_argument(
        "--parquet",
        type=Path,
        metavar="DIR",
        help="read the audience from partitioned Parquet (DIR/profiles/PART/*.parquet and "
        "DIR/events/PART/*.parquet) instead of the --db store (needs tidings[dask])",
    )
    parser.add_argument(
        "--dask",
        metavar="SCHEDULER",
        help="dispatch a business event or a campaign call on a Dask cluster: a scheduler address "
        "(tcp://host:8786) or local:N (N worker processes here); needs --parquet; "
        "--out is then a directory of per-partition JSON Lines files",
    )


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.dask is not None:
        from ._dask import run_on_dask

        return run_on_dask(args, out, err)
    if args.business_event is not None:
        body = read_object(args.business_event, "business event body")
    else:
        body = read_object(args.trigger, "trigger body")
    started = time.monotonic()
    with (
        open_workspace(args.db, workers=args.workers) as opened,
        output_error(args.out, "--out"),
        JsonLinesSink(args.out, include_skips=args.skips) as sink,
    ):
        ws = opened if args.parquet is None else on_parquet(opened, args.parquet)
        progress = Progress(sink, err, enabled=err.isatty())
        if args.business_event is not None:
            result = ws.raise_business_event(body, sink=progress)
        else:
            result = ws.trigger_campaign(body, sink=progress)
        progress.finish()
    # The summary counts as `tidings stats` prints them (errors technical and not).
    report: dict[str, object] = {"response": result.response, "summary": result.summary.report()}
    if result.not_dispatched:
        report["not_dispatched"] = result.not_dispatched
    report |= {"out": str(args.out), "seconds": round(time.monotonic() - started, 3)}
    out.write(json.dumps(report, indent=2) + "\n")
    return EXIT_OK if result.ok else EXIT_ERROR


DISPATCH = Command(
    name="dispatch",
    help="raise a business event or trigger a campaign against a workspace (SQLite or PostgreSQL)",
    description="Raise a business event (Bulletins API body) or trigger a campaign "
    "(External Trigger API body) and write the deliveries as JSON Lines.",
    add_arguments=_add_arguments,
    run=_run,
)
