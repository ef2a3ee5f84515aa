"""The ``tidings`` command line: ``tidings preview`` and ``tidings demo``.

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
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO, cast

from . import __version__
from .preview import (
    Preview,
    preview_message,
    preview_template,
    render_index_html,
    render_preview_html,
)
from .templating import EscapeMode

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
DEFAULT_DEMO_OUT: Final = Path("out") / "preview"


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
        default=DEFAULT_DEMO_OUT,
        metavar="DIR",
        help="where to write the HTML previews (default: out/preview/)",
    )


def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    directory: Path = args.templates
    if not directory.is_dir():
        raise UsageError(
            f"examples directory not found: {directory} (run from the repository root, "
            "or pass --templates DIR)"
        )
    examples = _find_examples(directory)
    if not examples:
        raise UsageError(f"no examples (NAME.push|email|webhook.json) in {directory}")
    out_dir: Path = args.out
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
    rendered = len(examples) - failed
    out.write(
        f"{rendered} of {len(examples)} examples rendered; "
        f"open {index_page} to see the HTML previews ({out_dir}/)\n"
    )
    if failed:
        err.write(f"error: {failed} example(s) did not render\n")
        return EXIT_ERROR
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
        help="preview every example in templates/ and write HTML pages",
        add_arguments=_add_demo_arguments,
        run=_run_demo,
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
