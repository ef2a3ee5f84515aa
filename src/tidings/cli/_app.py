"""The command registry and the entry point: parse, run, turn every failure into an exit code."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Sequence
from typing import Final, TextIO

from .. import __version__
from ..errors import TidingsError
from ._command import EXIT_ERROR, EXIT_USAGE, Command, Handler, UsageError, one_line
from ._demo import DEMO
from ._dispatch import DISPATCH
from ._import import IMPORT
from ._lifecycle import LIST_VERSIONS, PAUSE, RESUME, STOP
from ._migrate import MIGRATE
from ._monitoring import REPORT, STATS
from ._preview import PREVIEW
from ._send import SEND
from ._serve import SERVE

__all__ = ["COMMANDS", "build_parser", "main"]

logger = logging.getLogger("tidings.cli")

COMMANDS: Final[tuple[Command, ...]] = (
    PREVIEW,
    DEMO,
    MIGRATE,
    IMPORT,
    DISPATCH,
    SEND,
    STATS,
    REPORT,
    LIST_VERSIONS,
    PAUSE,
    RESUME,
    STOP,
    SERVE,
)
"""Every subcommand, in the order ``tidings --help`` lists them."""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The ``tidings`` argument parser, one subparser per command.

    Each subparser sets ``handler`` (see :data:`~tidings.cli.Handler`), which
    :func:`main` calls.
    """
    parser = argparse.ArgumentParser(
        prog="tidings",
        description="Preview and run triggered campaigns built from Liquid templates.",
        epilog="exit codes: 0 ok, 1 render error or failed dispatch, 2 bad input",
    )
    parser.add_argument("--version", action="version", version=f"tidings {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in commands:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description or command.help
        )
        command.add_arguments(sub)
        sub.set_defaults(handler=command.run)
    return parser


def _joined(text: str) -> str:
    """A multi-line message (a template error draws its source line and a caret) on one line."""
    return one_line(" | ".join(line.strip() for line in text.splitlines() if line.strip()))


def _failure(exc: BaseException) -> str | None:
    """The one-line message of a failure caused by bad input, or None for a bug."""
    if isinstance(exc, UsageError):
        return one_line(str(exc))
    if isinstance(exc, TidingsError):
        return _joined(str(exc))
    if isinstance(exc, sqlite3.DatabaseError) or type(exc).__module__.startswith("psycopg"):
        return one_line(f"the workspace database cannot be used ({exc})")
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply"
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return one_line(f"{where}{exc.strerror or exc}")
    if isinstance(exc, UnicodeError):
        return one_line(f"the input holds text that is not valid Unicode ({exc})")
    return None


def run(handler: Handler, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``handler``; a failure becomes one line on ``err`` and an exit code, never a traceback.

    Bad input (see :func:`_failure`) exits 2. Anything else is a bug in tidings: it
    is logged with its traceback at DEBUG level on the ``tidings.cli`` logger and
    reported as one line, exit 1.
    """
    try:
        return handler(args, out, err)
    except Exception as exc:
        message = _failure(exc)
        if message is not None:
            err.write(f"tidings: error: {message}\n")
            return EXIT_USAGE
        logger.debug("tidings %s failed", getattr(args, "command", ""), exc_info=True)
        err.write(f"tidings: internal error: {type(exc).__name__}: {_joined(str(exc))}\n")
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tidings`` command line and return its exit code.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a render error or a failed dispatch, 2 on bad input.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help, --version and bad arguments
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        names = ", ".join(command.name for command in COMMANDS)
        sys.stderr.write(f"tidings: error: a command is required ({names})\n")
        return EXIT_USAGE
    return run(handler, args, sys.stdout, sys.stderr)
