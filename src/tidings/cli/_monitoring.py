"""``tidings stats`` and ``tidings report``: the numbers of a workspace (SQLite or PostgreSQL)."""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ._command import EXIT_OK, Command, output_error
from ._workspace import DB_HELP, db_argument, db_label, open_workspace

if TYPE_CHECKING:
    from ..stats import WorkspaceStats

__all__ = ["REPORT", "STATS"]


def _when(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2026-11-27) or an ISO time, not {text!r}"
        ) from None


def _add_monitoring_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=db_argument, required=True, help=DB_HELP)
    parser.add_argument(
        "--source",
        action="append",
        metavar="ID",
        help="only this campaign or bulletin id (repeatable; default: all)",
    )
    parser.add_argument(
        "--business-event", metavar="NAME", help="activity log: only this business event"
    )
    parser.add_argument(
        "--since", type=_when, metavar="DATE", help="activity log: event time from (inclusive)"
    )
    parser.add_argument(
        "--until",
        type=_when,
        metavar="DATE",
        help="activity log: event time until (a date is inclusive)",
    )


def _add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    _add_monitoring_arguments(parser)
    parser.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="how to print the numbers (default: table)",
    )


def _add_report_arguments(parser: argparse.ArgumentParser) -> None:
    _add_monitoring_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("report.html"),
        metavar="OUT.html",
        help="where to write the page (default: report.html)",
    )
    parser.add_argument("--title", default="tidings report", help="the page heading")


def _compute(args: argparse.Namespace) -> WorkspaceStats:
    from ..stats import compute_stats

    with open_workspace(args.db) as ws:
        return compute_stats(
            ws,
            sources=args.source,
            business_event=args.business_event,
            since=args.since,
            until=args.until,
        )


def _run_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..report import render_stats_text

    stats = _compute(args)
    if args.format == "json":
        out.write(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render_stats_text(stats))
    return EXIT_OK


def _run_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..report import write_report

    stats = _compute(args)
    with output_error(args.out, "report"):
        path = write_report(stats, args.out, title=args.title, workspace=db_label(args.db))
    out.write(f"wrote {path}\n")
    return EXIT_OK


STATS = Command(
    name="stats",
    help="print the numbers of every campaign and bulletin of a workspace (SQLite or PostgreSQL)",
    add_arguments=_add_stats_arguments,
    run=_run_stats,
)
REPORT = Command(
    name="report",
    help="write the monitoring report of a workspace (SQLite or PostgreSQL) as one HTML page",
    add_arguments=_add_report_arguments,
    run=_run_report,
)
