"""The ``tidings`` command line: ``preview``, ``demo``, ``stats`` and ``report``.

Each subcommand is a :class:`Command`: a name, a function that adds its
arguments to an ``argparse`` parser, and a handler that runs it,
``handler(args, out, err) -> exit code``. Adding a subcommand (``dispatch``,
``stats``, ``report``) means writing those two functions and listing the command
in :data:`COMMANDS`; a module that registers its own subparsers instead only has
to ``set_defaults(handler=...)`` with the same signature.

Exit codes: ``0`` success, ``1`` a render or validation error (the message,
with a caret under the offending column, goes to stderr), ``2`` a usage error
(bad arguments, an unreadable file, invalid JSON in a data file).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO, cast

from . import __version__
from .preview import (
    Preview,
    preview_message,
    preview_template,
    render_index_html,
    render_preview_html,
)
from .templating import EscapeMode

if TYPE_CHECKING:
    from .stats import WorkspaceStats

__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Handler",
    "UsageError",
    "build_parser",
    "main",
]

EXIT_OK: Final = 0
"""Everything rendered."""
EXIT_ERROR: Final = 1
"""A template, message or its data did not render or validate."""
EXIT_USAGE: Final = 2
"""The command was used wrongly: bad arguments, unreadable file, invalid JSON."""

CHANNELS: Final = ("push", "email", "webhook")
DEFAULT_TEMPLATES_DIR: Final = Path("templates")
DEFAULT_DEMO_OUT: Final = Path("out") / "demo"
DEFAULT_PREVIEW_OUT: Final = Path("out") / "preview"
DEFAULT_DEMO_DEFINITIONS: Final = Path("demo") / "demo.json"


Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]
"""Runs a subcommand: ``handler(args, out, err) -> exit code``."""


class UsageError(Exception):
    """The command line or an input file cannot be used (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand of ``tidings``.

    Attributes:
        name: The subcommand's name (``preview``).
        help: One line shown in ``tidings --help``.
        add_arguments: Adds the subcommand's arguments to its parser.
        run: Runs it with the parsed arguments, writing to ``out`` and ``err``, and
            returns the exit code. It may raise :class:`UsageError` (exit code 2).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler


# --- input files ---------------------------------------------------------------------


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a directory, not a file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from None


def _read_json(path: Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None


def _read_object(path: Path | None, what: str) -> dict[str, Any]:
    """A JSON object from ``path`` (an empty one when no path is given)."""
    if path is None:
        return {}
    value = _read_json(path, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} {path} must hold a JSON object, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class _Source:
    """What ``tidings preview`` was given: a Liquid template or a message definition."""

    path: Path
    template: str | None = None
    definition: Mapping[str, Any] | None = None


def _load_source(path: Path) -> _Source:
    suffix = path.suffix.lower()
    if suffix == ".liquid":
        return _Source(path, template=_read_text(path, "template"))
    if suffix == ".json":
        value = _read_json(path, "message definition")
        if not isinstance(value, dict) or "channel" not in value:
            raise UsageError(
                f'{path} is not a message definition: expected a JSON object with a "channel" '
                f"key ({', '.join(CHANNELS)})"
            )
        return _Source(path, definition=value)
    raise UsageError(
        f"{path}: expected a Liquid template (.liquid) or a message definition (.json)"
    )


def _preview_source(
    source: _Source, profile: Mapping[str, Any], trigger: Mapping[str, Any], escape: EscapeMode
) -> Preview:
    if source.definition is not None:
        return preview_message(source.definition, profile, trigger)
    return preview_template(
        source.template or "", profile, trigger, escape=escape, name=source.path.name
    )


# --- printing ------------------------------------------------------------------------


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line if line else line for line in text.split("\n"))


def _format_output(preview: Preview) -> str:
    """The rendered output as readable text (one block per payload field)."""
    if preview.text is not None:
        return preview.text
    if preview.payload is None:
        return ""
    blocks: list[str] = []
    for key, value in preview.payload.items():
        if value is None or value == {}:
            continue
        if key == "body" and preview.kind == "webhook":
            shown = json.dumps(value, indent=2, ensure_ascii=False)
        elif isinstance(value, Mapping):
            shown = "\n".join(f"{k}: {v}" for k, v in value.items())
        else:
            shown = str(value)
        if "\n" in shown:
            blocks.append(f"{key}:\n{_indent(shown)}")
        else:
            blocks.append(f"{key}: {shown}")
    return "\n".join(blocks)


def _format_warnings(preview: Preview) -> str:
    if not preview.warnings:
        return "warnings: none"
    lines = [f"warnings ({len(preview.warnings)}):"]
    for warning in preview.warnings:
        where = warning.field or ""
        if warning.line is not None:
            where = f"{where} line {warning.line}".strip()
        lines.append(f"  - {where + ': ' if where else ''}{warning.message}")
    return "\n".join(lines)


def _format_errors(preview: Preview, label: str) -> str:
    parts = [f"error: {label} did not render"]
    parts.extend(error.detail or error.message for error in preview.errors)
    return "\n".join(parts)


def _print_text(preview: Preview, label: str, out: TextIO) -> None:
    out.write(f"== {label} ({preview.kind}) ==\n")
    if preview.ok:
        output = _format_output(preview)
        out.write(output if output.endswith("\n") else output + "\n")
    else:
        count = len(preview.errors)
        out.write(f"did not render: {count} error{'s' if count != 1 else ''}\n")
    out.write(_format_warnings(preview) + "\n")


def _write_html(preview: Preview, path: Path, title: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_preview_html(preview, title=title), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None


# --- tidings preview -----------------------------------------------------------------


def _add_preview_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        type=Path,
        metavar="TEMPLATE_OR_DEFINITION",
        help='a Liquid template (.liquid) or a message definition (.json with a "channel" key)',
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PROFILE.json",
        help="the Profile namespace as a JSON object (default: empty)",
    )
    parser.add_argument(
        "--trigger",
        type=Path,
        metavar="TRIGGER.json",
        help="the ExternalTrigger data as a JSON object (default: empty)",
    )
    parser.add_argument(
        "--escape",
        choices=("text", "html", "json", "url"),
        help="output context of a .liquid template (default: text); a message's channel "
        "sets its own",
    )
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="how to print the result (default: text)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="OUT.html",
        help="also write a self-contained HTML page showing what the user would see",
    )


def _run_preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    source = _load_source(args.source)
    if args.escape is not None and source.definition is not None:
        raise UsageError(
            "--escape applies to .liquid templates only: a message's channel sets its escaping"
        )
    profile = _read_object(args.profile, "profile")
    trigger = _read_object(args.trigger, "trigger")
    escape = cast("EscapeMode", args.escape or "text")
    preview = _preview_source(source, profile, trigger, escape)
    label = str(args.source)
    if args.html is not None:
        _write_html(preview, args.html, label)
    if args.format == "json":
        out.write(json.dumps(preview.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        _print_text(preview, label, out)
    if args.html is not None:
        err.write(f"wrote {args.html}\n")
    if not preview.ok:
        err.write(_format_errors(preview, label) + "\n")
        return EXIT_ERROR
    return EXIT_OK


# --- tidings demo --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Example:
    """One example of ``templates/``: a definition and its sample data files."""

    name: str
    definition: Path
    profile: Path | None
    trigger: Path | None


def _find_examples(directory: Path) -> list[_Example]:
    """Pair each ``NAME.CHANNEL.json`` with ``NAME.profile.json`` and ``NAME.trigger.json``.

    Missing sample files are ``None`` (previewed with empty data).
    """
    examples: list[_Example] = []
    for channel in CHANNELS:
        for path in directory.glob(f"*.{channel}.json"):
            name = path.name.removesuffix(f".{channel}.json")
            profile = directory / f"{name}.profile.json"
            trigger = directory / f"{name}.trigger.json"
            examples.append(
                _Example(
                    name=f"{name}.{channel}",
                    definition=path,
                    profile=profile if profile.is_file() else None,
                    trigger=trigger if trigger.is_file() else None,
                )
            )
    return sorted(examples, key=lambda e: e.name)


def _add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--templates",
        type=Path,
        default=DEFAULT_TEMPLATES_DIR,
        metavar="DIR",
        help="the examples directory (default: templates/ in the current directory)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to write (default: out/demo/, or out/preview/ with --preview-only)",
    )
    parser.add_argument(
        "--preview-only",
        action="store_true",
        help="only preview the examples in templates/ (no workspace, no dispatch)",
    )
    parser.add_argument(
        "--users", type=int, default=100_000, help="how many users to generate (default: 100000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="the random seed (default: 7)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="rebuild the workspace even if one with the same seed and size exists",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes generating the data (default: CPUs, at most 2)",
    )


def _preview_examples(directory: Path, out_dir: Path, out: TextIO) -> tuple[int, int, Path]:
    """Preview every example of ``directory`` into ``out_dir``; (examples, failed, index)."""
    examples = _find_examples(directory)
    if not examples:
        raise UsageError(f"no examples (NAME.push|email|webhook.json) in {directory}")
    pages: list[tuple[str, str, Preview]] = []
    failed = 0
    for example in examples:
        source = _load_source(example.definition)
        profile = _read_object(example.profile, "profile")
        trigger = _read_object(example.trigger, "trigger")
        preview = _preview_source(source, profile, trigger, "text")
        label = str(example.definition)
        _print_text(preview, label, out)
        if not preview.ok:
            failed += 1
            out.write(_format_errors(preview, label) + "\n")
        page = out_dir / f"{example.name}.html"
        _write_html(preview, page, label)
        out.write(f"preview page: {page}\n\n")
        pages.append((example.name, page.name, preview))
    index_page = out_dir / "index.html"
    try:
        index_page.write_text(
            render_index_html(pages, title="tidings demo: example previews"), encoding="utf-8"
        )
    except OSError as exc:
        raise UsageError(f"cannot write {index_page}: {exc}") from None
    return len(examples), failed, index_page


def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    directory: Path = args.templates
    if not directory.is_dir():
        raise UsageError(
            f"examples directory not found: {directory} (run from the repository root, "
            "or pass --templates DIR)"
        )
    if args.preview_only:
        return _run_preview_demo(directory, args.out or DEFAULT_PREVIEW_OUT, out, err)
    return _run_full_demo(args, directory, args.out or DEFAULT_DEMO_OUT, out, err)


def _run_preview_demo(directory: Path, out_dir: Path, out: TextIO, err: TextIO) -> int:
    count, failed, index_page = _preview_examples(directory, out_dir, out)
    out.write(
        f"{count - failed} of {count} examples rendered; "
        f"open {index_page} to see the HTML previews ({out_dir}/)\n"
    )
    if failed:
        err.write(f"error: {failed} example(s) did not render\n")
        return EXIT_ERROR
    return EXIT_OK


def _run_full_demo(
    args: argparse.Namespace, directory: Path, out_dir: Path, out: TextIO, err: TextIO
) -> int:
    from .demo_data import DemoConfig, run_demo
    from .errors import TidingsError

    if args.users < 1:
        raise UsageError(f"--users must be 1 or more, not {args.users}")
    definitions = directory / DEFAULT_DEMO_DEFINITIONS
    if not definitions.is_file():
        raise UsageError(f"demo definitions not found: {definitions}")
    failed_previews = 0

    def previews(target: Path) -> Path:
        nonlocal failed_previews
        _, failed_previews, index_page = _preview_examples(directory, target, io.StringIO())
        return index_page

    def progress(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    try:
        result = run_demo(
            out_dir,
            definitions,
            DemoConfig(users=args.users, seed=args.seed),
            fresh=args.fresh,
            progress=progress,
            previews=previews,
            workers=args.workers,
        )
    except TidingsError as exc:
        err.write(f"tidings demo: {exc}\n")
        return EXIT_ERROR
    out.write(result.summary() + "\n")
    if failed_previews:
        err.write(f"error: {failed_previews} example(s) did not render\n")
        return EXIT_ERROR
    return EXIT_OK


# --- tidings stats / tidings report -------------------------------------------------


def _when(text: str) -> date | datetime:
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date (2026-11-27) or an ISO time, not {text!r}"
        ) from None


def _add_monitoring_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, required=True, help="the SQLite workspace file")
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
    from .stats import compute_stats
    from .workspace import Workspace

    if not args.db.is_file():
        raise UsageError(f"no workspace at {args.db}")
    with Workspace.sqlite(args.db) as ws:
        return compute_stats(
            ws,
            sources=args.source,
            business_event=args.business_event,
            since=args.since,
            until=args.until,
        )


def _run_stats(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .report import render_stats_text

    stats = _compute(args)
    if args.format == "json":
        out.write(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render_stats_text(stats))
    return EXIT_OK


def _run_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .report import write_report

    stats = _compute(args)
    try:
        path = write_report(stats, args.out, title=args.title, workspace=str(args.db))
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc}") from None
    out.write(f"wrote {path}\n")
    return EXIT_OK


# --- entry point ---------------------------------------------------------------------


COMMANDS: tuple[Command, ...] = (
    Command(
        name="preview",
        help="render a template or message with sample data; list warnings and errors",
        add_arguments=_add_preview_arguments,
        run=_run_preview,
    ),
    Command(
        name="demo",
        help="build a demo workspace, dispatch, and write deliveries and the HTML report",
        add_arguments=_add_demo_arguments,
        run=_run_demo,
    ),
    Command(
        name="stats",
        help="print the numbers of every campaign and bulletin of a SQLite workspace",
        add_arguments=_add_stats_arguments,
        run=_run_stats,
    ),
    Command(
        name="report",
        help="write the monitoring report of a SQLite workspace as one HTML page",
        add_arguments=_add_report_arguments,
        run=_run_report,
    ),
)
"""Every subcommand, in the order ``tidings --help`` lists them."""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The ``tidings`` argument parser, one subparser per command.

    Each subparser sets ``handler`` (see :data:`Handler`), which :func:`main` calls.
    """
    parser = argparse.ArgumentParser(
        prog="tidings",
        description="Preview and run triggered campaigns built from Liquid templates.",
        epilog="exit codes: 0 ok, 1 render or validation error, 2 usage error",
    )
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    if commands is COMMANDS:
        from . import _dispatch_cli

        _dispatch_cli.add_subcommands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tidings`` command line and return its exit code.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a render or validation error, 2 on a usage error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and bad arguments
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        names = ", ".join([*(command.name for command in COMMANDS), "import", "dispatch"])
        sys.stderr.write(f"tidings: error: a command is required ({names})\n")
        return EXIT_USAGE
    try:
        return handler(args, sys.stdout, sys.stderr)
    except UsageError as exc:
        sys.stderr.write(f"tidings: error: {exc}\n")
        return EXIT_USAGE
