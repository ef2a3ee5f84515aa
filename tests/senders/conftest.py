"""Real servers on 127.0.0.1 for the sender tests: an HTTP receiver and an SMTP server."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tidings import Delivery


@dataclass
class Arrival:
    """One request as the receiver saw it."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """A webhook receiver with a script: per path, the statuses of the first attempts.

    ``script[path]`` is a list of ``(status, headers, body)`` answered to the first
    attempts of each distinct ``webhook-id``/``Idempotency-Key`` on that path; later
    attempts get 200. ``accepted`` counts 2xx answers per id.
    """

    url: str = ""
    script: dict[str, list[tuple[int, dict[str, str], str]]] = field(default_factory=dict)
    arrivals: list[Arrival] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    tries: Counter[str] = field(default_factory=Counter)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes):
        ident = headers.get("webhook-id") or headers.get("idempotency-key") or path
        with self.lock:
            attempt = self.tries[ident]
            self.tries[ident] += 1
            steps = self.script.get(path, [])
            status, extra, text = steps[attempt] if attempt < len(steps) else (200, {}, "ok")
            self.arrivals.append(Arrival(time.monotonic(), method, path, headers, body, status))
            if 200 <= status < 300:
                self.accepted[ident] += 1
        return status, extra, text

    def times(self, ident: str) -> list[float]:
        return [
            a.at
            for a in self.arrivals
            if (a.headers.get("webhook-id") or a.headers.get("idempotency-key")) == ident
        ]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            if receiver.delay:
                time.sleep(receiver.delay)
            status, extra, text = receiver.answer(self.command, self.path, headers, body)
            data = text.encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server names

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recv))
    server.daemon_threads = True
    recv.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recv
    finally:
        server.shutdown()
        server.server_close()


def webhook_delivery(url: str, n: int, *, body: Any = None, method: str = "POST") -> Delivery:
    payload = {
        "url": url,
        "method": method,
        "headers": {"X-Campaign": "c1"},
        "body": {"n": n, "name": "Zoë"} if body is None else body,
    }
    return Delivery(
        "campaign",
        "c1",
        f"u{n}",
        "webhook",
        payload,
        datetime(2026, 1, 1, tzinfo=UTC),
        f"key-{n:05d}",
        (url,),
    )


def body_of(arrival: Arrival) -> Any:
    return json.loads(arrival.body)


@dataclass
class Mailbox:
    """What a real aiosmtpd server on 127.0.0.1 received, and its answers per recipient."""

    host: str = "127.0.0.1"
    port: int = 0
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued as 42"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_smtp(mailbox: Mailbox, **params: Any):
    from aiosmtpd.controller import Controller

    mailbox.port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port, **params)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    controller = start_smtp(box)
    try:
        yield box
    finally:
        controller.stop()


def email_delivery(n: int, to: str, **payload: Any) -> Delivery:
    body = {
        "subject": "Votre commande n°42 est prête ✓",
        "html": "<p>Bonjour <b>Zoë</b>,</p><p>Votre colis arrive — merci&nbsp;!</p>",
        "text": None,
        "from_name": "Boutique Élodie",
        "reply_to": None,
    }
    body.update(payload)
    return Delivery(
        "campaign",
        "c7",
        f"user-{n}",
        "email",
        body,
        datetime(2026, 1, 1, tzinfo=UTC),
        f"mail-{n:05d}",
        (to,),
    )
