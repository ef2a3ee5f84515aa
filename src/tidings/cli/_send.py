"""``tidings send``: queue a dispatch's deliveries in the workspace's outbox and send them."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TextIO

from ..models.records import Delivery
from ..senders import (
    Backoff,
    DrainReport,
    PushSender,
    Sender,
    SMTPSender,
    WebhookSender,
    drain,
)
from ..storage.jsonl import lone_surrogate_path
from ..storage.ledger import Ledger
from ..storage.outbox import delivery_from_dict
from ._command import EXIT_ERROR, EXIT_OK, Command, UsageError, input_error
from ._workspace import open_workspace

__all__ = ["SEND"]

_QUEUE_BATCH = 1_000


def _bounded(low: float, high: float, *, integer: bool) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value: float | int = int(text) if integer else float(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            kind = "a whole number" if integer else "a number"
            raise argparse.ArgumentTypeError(
                f"must be {kind} from {low:g} to {high:g}, not {text!r}"
            )
        return value

    return parse


@dataclass(frozen=True, slots=True)
class _Number:
    """A numeric option and its bounds (out of bounds: argparse's usage error)."""

    flag: str
    low: float
    high: float
    integer: bool
    default: float | None
    help: str | None = None


_NUMBERS: Final = (
    _Number("--batch", 1, 10_000, True, 100),
    _Number(
        "--max-attempts",
        1,
        100,
        True,
        8,
        "requests per delivery over all runs before it is failed (default 8)",
    ),
    _Number(
        "--lease", 1, 86_400, False, 300.0, "seconds a taken batch stays reserved (default 300)"
    ),
    _Number("--limit", 1, 10**9, True, None, "send at most this many"),
    _Number("--timeout", 0.1, 600, False, 10.0, "seconds"),
    _Number("--retries", 0, 20, True, 4, "webhook: in-process retries per delivery (default 4)"),
    _Number(
        "--concurrency", 1, 1_000, True, 16, "webhook: requests in flight at most (default 16)"
    ),
    _Number("--smtp-port", 1, 65_535, True, 587),
)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, required=True, help="the SQLite workspace file")
    parser.add_argument(
        "--sender",
        choices=("webhook", "smtp", "fcm", "apns"),
        required=True,
        help="where deliveries go",
    )
    parser.add_argument(
        "--in",
        dest="source",
        type=Path,
        metavar="DELIVERIES.jsonl",
        help="queue the deliveries of this `tidings dispatch --out` file first "
        "(already queued ones are left as they are)",
    )
    for option in _NUMBERS:
        parser.add_argument(
            option.flag,
            type=_bounded(option.low, option.high, integer=option.integer),
            default=option.default,
            help=option.help,
        )
    parser.add_argument(
        "--secret-env",
        metavar="VAR",
        help="webhook: sign requests with the Standard Webhooks secret in this variable",
    )
    parser.add_argument("--smtp-host", default="localhost")
    parser.add_argument("--smtp-tls", choices=("starttls", "tls", "none"), default="starttls")
    parser.add_argument("--smtp-user", help="log in as this user")
    parser.add_argument(
        "--smtp-password-env", metavar="VAR", help="the SMTP password is in this variable"
    )
    parser.add_argument("--from", dest="from_address", help="smtp: the sender address")
    parser.add_argument("--from-name", help="smtp: the sender name when the message has none")
    parser.add_argument(
        "--push-endpoint",
        metavar="URL",
        help="fcm/apns: the URL template (default: the provider's production endpoint)",
    )
    parser.add_argument("--fcm-project", help="fcm: the Firebase project id")
    parser.add_argument("--apns-topic", help="apns: the app's bundle id")
    parser.add_argument(
        "--push-token-env",
        metavar="VAR",
        help="fcm/apns: the bearer token (OAuth access token / provider JWT) is in this variable",
    )
    parser.add_argument(
        "--unsubscribe-url",
        metavar="URL",
        help="smtp: List-Unsubscribe URL; {identity}, {source_id} and {key} are filled in",
    )


def _env(name: str | None, option: str) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise UsageError(f"{option} {name}: the environment variable is not set")
    return value


def _sender(args: argparse.Namespace) -> Sender:
    if args.sender == "webhook":
        return WebhookSender(
            timeout=args.timeout,
            concurrency=args.concurrency,
            backoff=Backoff(retries=args.retries),
            secret=_env(args.secret_env, "--secret-env"),
        )
    if args.sender in ("fcm", "apns"):
        bearer = _env(args.push_token_env, "--push-token-env")
        if bearer is None:
            raise UsageError(f"--sender {args.sender} needs --push-token-env VAR")
        token: str = bearer
        return PushSender(
            args.sender,
            credentials=lambda: token,
            endpoint=args.push_endpoint,
            project=args.fcm_project,
            topic=args.apns_topic,
            timeout=args.timeout,
            concurrency=args.concurrency,
            backoff=Backoff(retries=args.retries),
            http2=args.sender == "apns",
        )
    if not args.from_address:
        raise UsageError("--sender smtp needs --from ADDRESS")
    return SMTPSender(
        args.smtp_host,
        args.smtp_port,
        from_address=args.from_address,
        from_name=args.from_name,
        tls=args.smtp_tls,
        username=args.smtp_user,
        password=_env(args.smtp_password_env, "--smtp-password-env"),
        timeout=args.timeout,
        unsubscribe_url=args.unsubscribe_url,
    )


def _deliveries(path: Path) -> Iterator[Delivery]:
    """The deliveries of a JSON Lines file (skip lines are passed over).

    Raises:
        UsageError: A line is not UTF-8, not JSON, or not a delivery (file and line named).
    """
    with input_error(path, "deliveries file"), path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            where = f"deliveries file {path}, line {number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{where}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise TypeError("not a JSON object")
                if data.get("type", "delivery") != "delivery":
                    continue
                if "\\u" in line and lone_surrogate_path(data) is not None:
                    raise ValueError("text holds a lone surrogate (not valid Unicode)")
                yield delivery_from_dict(data)
            except RecursionError:
                raise UsageError(f"{where}: nested too deeply") from None
            except (ValueError, TypeError) as exc:
                raise UsageError(f"{where}: not a delivery ({exc})") from None


def _queue(ledger: Ledger, path: Path) -> int:
    """Queue every delivery of ``path``: all or nothing (the file is checked first)."""
    for _ in _deliveries(path):
        pass
    added = 0
    batch: list[Delivery] = []
    for delivery in _deliveries(path):
        batch.append(delivery)
        if len(batch) >= _QUEUE_BATCH:
            added += ledger.queue(batch, at=datetime.now(UTC))
            batch = []
    if batch:
        added += ledger.queue(batch, at=datetime.now(UTC))
    return added


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    started = time.monotonic()
    with open_workspace(args.db) as ws:
        queued = _queue(ws.ledger, args.source) if args.source is not None else 0
        sender = _sender(args)
        live = err.isatty()

        def progress(report: DrainReport) -> None:
            if live:
                rate = report.taken / max(time.monotonic() - started, 1e-9)
                err.write(
                    f"\r  {report.delivered:>10,} delivered  {report.failed:>8,} failed  "
                    f"{report.retry:>8,} later  {rate:>8,.0f}/s"
                )
                err.flush()

        try:
            report = drain(
                ws.ledger,
                sender,
                batch=args.batch,
                max_attempts=args.max_attempts,
                lease=args.lease,
                limit=args.limit,
                progress=progress,
            )
        finally:
            sender.close()
            if live:
                err.write("\n")
        outbox = ws.ledger.delivery_counts()
    seconds = time.monotonic() - started
    result = {
        "queued": queued,
        **report.to_dict(),
        "outbox": outbox,
        "seconds": round(seconds, 3),
    }
    out.write(json.dumps(result, indent=2) + "\n")
    return EXIT_ERROR if report.failed else EXIT_OK


SEND = Command(
    name="send",
    help="send the pending deliveries of a SQLite workspace (webhook, SMTP, FCM or APNs)",
    description="Queue the deliveries of a `tidings dispatch --out` file (with --in) in the "
    "workspace's outbox, then send every pending delivery of the sender's channel, with "
    "retries. Delivered and failed deliveries are recorded and never sent again. "
    "Exit code 1 when a delivery failed for good in this run.",
    add_arguments=_add_arguments,
    run=_run,
)
