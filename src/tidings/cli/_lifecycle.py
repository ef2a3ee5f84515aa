"""``tidings list-versions``, ``pause``, ``resume`` and ``stop``: a campaign's or bulletin's life.

Each names one campaign (``--campaign ID``) or bulletin (``--bulletin ID``) of a
workspace (``--db``) and prints JSON: one line per version for ``list-versions``,
``{"kind", "id", "state"}`` for the others. An unknown id, or resuming a stopped
one, is bad input (exit 2, one line on stderr).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TextIO

from ..workspace import Workspace
from ._command import EXIT_OK, Command
from ._workspace import DB_HELP, db_argument, open_workspace

__all__ = ["LIST_VERSIONS", "PAUSE", "RESUME", "STOP"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=db_argument, required=True, help=DB_HELP)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--campaign", metavar="ID", help="the campaign's id")
    which.add_argument("--bulletin", metavar="ID", help="the bulletin's id")


def _target(args: argparse.Namespace) -> tuple[str, str]:
    if args.campaign is not None:
        return "campaign", args.campaign
    return "bulletin", args.bulletin


def _list_versions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    kind, key = _target(args)
    with open_workspace(args.db) as ws:
        for version in ws.versions(kind, key):
            out.write(json.dumps(version.to_dict(), ensure_ascii=False) + "\n")
    return EXIT_OK


def _mover(
    move: Callable[[Workspace, str, str], str],
) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        kind, key = _target(args)
        with open_workspace(args.db) as ws:
            state = move(ws, kind, key)
        out.write(json.dumps({"kind": kind, "id": key, "state": state}) + "\n")
        return EXIT_OK

    return run


LIST_VERSIONS = Command(
    name="list-versions",
    help="list the published versions of a campaign or bulletin (JSON lines)",
    description="Print every published version of a campaign or bulletin, oldest first, "
    "one JSON object a line: version, published_at, current, definition.",
    add_arguments=_add_arguments,
    run=_list_versions,
)

PAUSE = Command(
    name="pause",
    help="pause a campaign or bulletin (triggers answer 'Campaign Paused')",
    description="Pause a campaign or bulletin until `tidings resume`: a trigger is answered "
    'with {"status": "fail", "error": "Campaign Paused"}, a business event passes it over.',
    add_arguments=_add_arguments,
    run=_mover(Workspace.pause),
)

RESUME = Command(
    name="resume",
    help="make a paused campaign or bulletin active again",
    add_arguments=_add_arguments,
    run=_mover(Workspace.resume),
)

STOP = Command(
    name="stop",
    help="stop a campaign or bulletin for good (triggers answer 'Campaign Stopped')",
    description="Stop a campaign or bulletin for good: triggers are answered with "
    '{"status": "fail", "error": "Campaign Stopped"}; it cannot be resumed.',
    add_arguments=_add_arguments,
    run=_mover(Workspace.stop),
)
