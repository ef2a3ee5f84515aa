"""``tidings serve``: run the vendor-compatible HTTP service (needs ``tidings[service]``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TextIO

from ..errors import ArgumentError
from ._command import EXIT_OK, Command, UsageError

__all__ = ["SERVE"]

logger = logging.getLogger("tidings.cli")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, not {text!r}")
    return value


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="the service config (TOML: accounts and limits)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to bind (default: 8000)")
    parser.add_argument(
        "--hash-passcode",
        action="store_true",
        help="read a passcode from stdin, print its hash for the config file, and exit",
    )


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        from ..service import create_app, hash_passcode, load_config
    except ImportError as exc:
        raise UsageError(
            "the service needs the service extra: pip install 'tidings[service]' "
            f"({exc.name} is missing)"
        ) from None
    if args.hash_passcode:
        passcode = sys.stdin.readline().rstrip("\r\n")
        if not passcode:
            raise UsageError("--hash-passcode reads the passcode from stdin; it was empty")
        out.write(hash_passcode(passcode) + "\n")
        return EXIT_OK
    if args.config is None:
        raise UsageError("--config is required (the accounts the service serves)")
    try:
        config = load_config(args.config)
    except ArgumentError as exc:
        raise UsageError(str(exc)) from None
    import uvicorn

    err.write(
        f"tidings: serving {len(config.accounts)} account(s) on http://{args.host}:{args.port}\n"
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="info")
    return EXIT_OK


SERVE = Command(
    name="serve",
    help="run the vendor-compatible HTTP API over one workspace per account",
    add_arguments=_add_arguments,
    run=_run,
    description=(
        "Serve POST /1/targets/trigger.json, POST /1/send/externaltrigger.json and "
        "GET /healthz for the accounts of --config (see docs/service.md). "
        "`tidings serve --hash-passcode < passcode.txt` prints a passcode hash for the config."
    ),
)
