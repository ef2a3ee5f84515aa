"""``tidings preview``: render a template or message with sample data, list warnings and errors."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO, cast

from ..preview import Preview, preview_message, preview_template, render_preview_html
from ..templating import EscapeMode
from ._command import (
    EXIT_ERROR,
    EXIT_OK,
    Command,
    UsageError,
    read_json,
    read_object,
    read_text,
    write_text,
)

__all__ = [
    "CHANNELS",
    "PREVIEW",
    "Source",
    "format_errors",
    "load_source",
    "preview_source",
    "print_text",
    "write_preview_html",
]

CHANNELS: Final = ("push", "email", "webhook")


@dataclass(frozen=True, slots=True)
class Source:
    """What ``tidings preview`` was given: a Liquid template or a message definition."""

    path: Path
    template: str | None = None
    definition: Mapping[str, Any] | None = None


def load_source(path: Path) -> Source:
    suffix = path.suffix.lower()
    if suffix == ".liquid":
        return Source(path, template=read_text(path, "template"))
    if suffix == ".json":
        value = read_json(path, "message definition")
        if not isinstance(value, dict) or "channel" not in value:
            raise UsageError(
                f'{path} is not a message definition: expected a JSON object with a "channel" '
                f"key ({', '.join(CHANNELS)})"
            )
        return Source(path, definition=value)
    raise UsageError(
        f"{path}: expected a Liquid template (.liquid) or a message definition (.json)"
    )


def preview_source(
    source: Source, profile: Mapping[str, Any], trigger: Mapping[str, Any], escape: EscapeMode
) -> Preview:
    if source.definition is not None:
        return preview_message(source.definition, profile, trigger)
    return preview_template(
        source.template or "", profile, trigger, escape=escape, name=source.path.name
    )


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


def format_errors(preview: Preview, label: str) -> str:
    parts = [f"error: {label} did not render"]
    parts.extend(error.detail or error.message for error in preview.errors)
    return "\n".join(parts)


def print_text(preview: Preview, label: str, out: TextIO) -> None:
    out.write(f"== {label} ({preview.kind}) ==\n")
    if preview.ok:
        output = _format_output(preview)
        out.write(output if output.endswith("\n") else output + "\n")
    else:
        count = len(preview.errors)
        out.write(f"did not render: {count} error{'s' if count != 1 else ''}\n")
    out.write(_format_warnings(preview) + "\n")


def write_preview_html(preview: Preview, path: Path, title: str) -> None:
    """Write the preview's HTML page (see :func:`tidings.preview.render_preview_html`)."""
    write_text(path, render_preview_html(preview, title=title), "preview page")


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
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when there is any warning (a fallback, an absent trigger or profile key)",
    )


def _run_preview(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    source = load_source(args.source)
    if args.escape is not None and source.definition is not None:
        raise UsageError(
            "--escape applies to .liquid templates only: a message's channel sets its escaping"
        )
    profile = read_object(args.profile, "profile")
    trigger = read_object(args.trigger, "trigger")
    escape = cast("EscapeMode", args.escape or "text")
    preview = preview_source(source, profile, trigger, escape)
    label = str(args.source)
    if args.html is not None:
        write_preview_html(preview, args.html, label)
    if args.format == "json":
        out.write(json.dumps(preview.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        print_text(preview, label, out)
    if args.html is not None:
        err.write(f"wrote {args.html}\n")
    if not preview.ok:
        err.write(format_errors(preview, label) + "\n")
        return EXIT_ERROR
    if args.strict and preview.warnings:
        count = len(preview.warnings)
        err.write(f"error: {label}: {count} warning{'s' if count != 1 else ''} (--strict)\n")
        return EXIT_ERROR
    return EXIT_OK


PREVIEW = Command(
    name="preview",
    help="render a template or message with sample data; list warnings and errors",
    add_arguments=_add_preview_arguments,
    run=_run_preview,
)
