"""``tidings import``: load profiles, events and definitions into a workspace.

Everything is checked before anything is written: every bad line of the JSON Lines
files is reported (file, line, field, reason), and the definitions are applied to a
scratch copy of the workspace's registry first. By default a bad line imports
nothing; ``--skip-bad`` imports the good lines and reports the bad ones. The profiles
and events are written in one store transaction: a database error on any row
imports nothing of either file.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TextIO

from ..errors import TidingsError
from ..storage import MemoryLedger, MemoryRegistry, MemoryStore
from ..storage.jsonl import BadLine, atomically, check_jsonl, import_jsonl
from ..workspace import Workspace
from ._command import (
    EXIT_OK,
    EXIT_USAGE,
    Command,
    UsageError,
    input_error,
    one_line,
    read_object,
)
from ._workspace import DB_HELP, db_argument, open_workspace

__all__ = ["IMPORT"]

_SECTIONS: Final[dict[str, Callable[[Workspace, Mapping[str, Any]], object]]] = {
    "business_events": Workspace.define_business_event,
    "control_groups": Workspace.define_control_group,
    "bulletins": Workspace.publish_bulletin,
    "campaigns": Workspace.publish_campaign,
}
"""The sections of a definitions file, in the order they are applied."""

# The registry kinds a definition may refer to (a bulletin's business event, ...).
_REGISTRY_KINDS: Final = ("settings", "business_event", "control_group", "bulletin", "campaign")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=db_argument, required=True, help=DB_HELP)
    parser.add_argument("--profiles", type=Path, help="JSON Lines file of user profiles")
    parser.add_argument("--events", type=Path, help="JSON Lines file of user events")
    parser.add_argument(
        "--definitions",
        type=Path,
        help='JSON file: {"business_events": [...], "control_groups": [...], '
        '"bulletins": [...], "campaigns": [...]}',
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="import the good lines of a file with bad lines (default: import nothing)",
    )


def _sections(definitions: Mapping[str, Any], path: Path) -> list[tuple[str, list[Any]]]:
    """The definitions file's sections, checked for shape (lists of objects)."""
    found: list[tuple[str, list[Any]]] = []
    for name in _SECTIONS:
        items = definitions.get(name, [])
        if not isinstance(items, list):
            raise UsageError(
                f'definitions {path}: "{name}" must be a list of objects, '
                f"not {type(items).__name__}"
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise UsageError(
                    f"definitions {path}: {name}[{index}] must be an object, "
                    f"not {type(item).__name__}"
                )
        found.append((name, items))
    return found


def _apply(ws: Workspace, sections: list[tuple[str, list[Any]]], path: Path) -> list[str]:
    """Apply the definitions in order; the ids of the published campaigns."""
    campaign_ids: list[str] = []
    for name, items in sections:
        apply = _SECTIONS[name]
        for index, item in enumerate(items):
            try:
                result = apply(ws, item)
            except TidingsError as exc:
                lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
                raise UsageError(
                    f"definitions {path}: {name}[{index}]: {' '.join(lines)}"
                ) from None
            if name == "campaigns":
                campaign_ids.append(str(result))
    return campaign_ids


def _scratch(ws: Workspace) -> Workspace:
    """An in-memory workspace holding a copy of ``ws``'s definitions (for a dry run)."""
    registry = MemoryRegistry()
    for kind in _REGISTRY_KINDS:
        for key, body in ws.registry.definitions(kind).items():
            registry.save_definition(kind, key, body)
    return Workspace(MemoryStore(), MemoryLedger(), registry, clock=ws.clock)


def _report_bad(bad: list[BadLine], err: TextIO) -> None:
    for line in bad:
        err.write(f"tidings import: bad line: {one_line(str(line))}\n")


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    definitions = read_object(args.definitions, "definitions")
    sections = _sections(definitions, args.definitions) if args.definitions else []
    files = [(kind, path) for kind, path in (("profiles", args.profiles), ("events", args.events))]
    bad: list[BadLine] = []
    for kind, path in files:
        if path is not None:
            bad.extend(_check(path, kind))
    _report_bad(bad, err)
    if bad and not args.skip_bad:
        plural = "s" if len(bad) != 1 else ""
        err.write(
            f"tidings import: {len(bad)} bad line{plural}; nothing imported "
            "(fix them, or pass --skip-bad to import the good lines)\n"
        )
        return EXIT_USAGE
    with open_workspace(args.db, create=True) as ws:
        if sections:
            _apply(_scratch(ws), sections, args.definitions)
        counts = {"profiles": 0, "events": 0}
        with atomically(ws.store):  # both files, or nothing
            for kind, path in files:
                if path is not None:
                    counts[kind] = import_jsonl(ws.store, path, kind, skip_bad=True).imported
        campaign_ids = _apply(ws, sections, args.definitions)
    summary: dict[str, Any] = {**counts, "campaign_ids": campaign_ids}
    if args.skip_bad:
        summary["skipped_lines"] = len(bad)
    out.write(json.dumps(summary) + "\n")
    return EXIT_OK


def _check(path: Path, kind: str) -> list[BadLine]:
    with input_error(path, f"{kind} file"):
        return check_jsonl(path, kind)


IMPORT = Command(
    name="import",
    help="load profiles, events and definitions into a workspace (SQLite or PostgreSQL)",
    description="Load JSON Lines profiles/events and a JSON definitions file into a "
    "workspace (an SQLite file is created if missing). Every bad line is reported; a file with bad "
    "lines imports nothing unless --skip-bad is given.",
    add_arguments=_add_arguments,
    run=_run,
)
