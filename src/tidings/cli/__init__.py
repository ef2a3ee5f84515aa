"""The ``tidings`` command line: one registry of commands, one set of exit codes.

Each subcommand is a :class:`Command` (a name, a function that adds its arguments,
and a handler ``run(args, out, err) -> exit code``) listed in :data:`COMMANDS`, one
module per command. Exit codes, for every command:

* ``0`` (:data:`EXIT_OK`): done.
* ``1`` (:data:`EXIT_ERROR`): the command ran and what it ran failed (a template did
  not render; a dispatch answered ``{"status": "fail"}``).
* ``2`` (:data:`EXIT_USAGE`): bad input, reported as one line on stderr naming the
  file (and line) or field: bad arguments, an unreadable, non-UTF-8 or invalid file,
  invalid definitions, a ``--db`` that is not a workspace, an output that cannot be
  written. Never a traceback.
"""

from ._app import COMMANDS as COMMANDS
from ._app import build_parser as build_parser
from ._app import main as main
from ._command import EXIT_ERROR as EXIT_ERROR
from ._command import EXIT_OK as EXIT_OK
from ._command import EXIT_USAGE as EXIT_USAGE
from ._command import Command as Command
from ._command import Handler as Handler
from ._command import UsageError as UsageError

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
