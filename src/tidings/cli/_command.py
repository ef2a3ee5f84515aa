"""What every subcommand shares: the command record, exit codes, and safe file I/O.

Every input file is read through :func:`read_text` / :func:`read_json` and every
output file written through :func:`write_text` (or opened with :func:`output_error`
around it), so a bad file always ends as a :class:`UsageError` naming the file,
the line where there is one, and the reason: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from ..storage.jsonl import lone_surrogate_path

__all__ = [
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Command",
    "Handler",
    "UsageError",
    "input_error",
    "one_line",
    "output_error",
    "read_json",
    "read_object",
    "read_text",
    "write_text",
]

EXIT_OK: Final = 0
"""The command did what was asked."""
EXIT_ERROR: Final = 1
"""The command ran, and what it ran failed: a template did not render, a dispatch
answered ``{"status": "fail"}``."""
EXIT_USAGE: Final = 2
"""Bad input: bad arguments, an unreadable or invalid file, invalid definitions, a
``--db`` that is not a workspace, an output that cannot be written."""

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]
"""Runs a subcommand: ``handler(args, out, err) -> exit code``."""


def one_line(text: str) -> str:
    """``text`` as one printable line: control characters and lone surrogates escaped.

    File data can put a line break or a lone surrogate in a key or a path that a
    message names; escaped, the message stays one line and can be printed.
    """
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


class UsageError(Exception):
    """The command line or a file cannot be used (exit code 2); the message is one line."""


@dataclass(frozen=True, slots=True)
class Command:
    """A subcommand of ``tidings``.

    Attributes:
        name: The subcommand's name (``preview``).
        help: One line shown in ``tidings --help``.
        add_arguments: Adds the subcommand's arguments to its parser.
        run: Runs it with the parsed arguments, writing to ``out`` and ``err``, and
            returns the exit code. It may raise :class:`UsageError`, a
            :class:`~tidings.TidingsError` or an ``OSError`` (exit code 2).
        description: The longer text of ``tidings NAME --help`` (default: ``help``).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Handler
    description: str | None = None


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextmanager
def input_error(path: Path | str, what: str) -> Iterator[None]:
    """Turn an ``OSError`` while reading ``path`` into a one-line :class:`UsageError`."""
    try:
        yield
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a directory, not a file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {_reason(exc)}") from None


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names the file in errors (``profile``).

    Raises:
        UsageError: missing, a directory, unreadable, or not UTF-8 (with the line).
    """
    with input_error(path, what):
        raw = path.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UsageError(
            f"{what} {path}, line {line}: not UTF-8 text "
            f"(byte 0x{raw[exc.start]:02x} at column {column})"
        ) from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path`` (``NaN``/``Infinity`` refused, text valid Unicode).

    Raises:
        UsageError: unreadable (see :func:`read_text`), not JSON (with line and
            column), nested too deeply, or holding a lone surrogate (with the field).
    """
    text = read_text(path, what)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise UsageError(f"{what} {path} is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise UsageError(f"{what} {path} is not valid JSON: {exc}") from None
    found = lone_surrogate_path(value) if "\\u" in text else None
    if found is not None:
        where = f" at {found}" if found else ""
        raise UsageError(f"{what} {path}: text{where} holds a lone surrogate (not valid Unicode)")
    return value


def read_object(path: Path | None, what: str) -> dict[str, Any]:
    """A JSON object from ``path`` (an empty one when no path is given).

    Raises:
        UsageError: see :func:`read_json`, or the value is not an object.
    """
    if path is None:
        return {}
    value = read_json(path, what)
    if not isinstance(value, dict):
        raise UsageError(f"{what} {path} must hold a JSON object, not {_json_type(value)}")
    return value


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


@contextmanager
def output_error(path: Path | str, what: str = "output") -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a one-line :class:`UsageError`."""
    try:
        yield
    except IsADirectoryError:
        raise UsageError(f"cannot write {what} {path}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path}: {_reason(exc)}") from None


def write_text(path: Path, text: str, what: str = "output") -> None:
    """Write ``text`` to ``path`` as UTF-8, creating its directory.

    Raises:
        UsageError: the file cannot be written (a directory, a full disk, no permission).
    """
    with output_error(path, what):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
