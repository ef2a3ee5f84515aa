"""Messages per second from the outbox to a local webhook receiver, and to a local SMTP server.

    .venv/bin/python benchmarks/senders.py            # 3,000 webhooks per setting, 500 emails
    .venv/bin/python benchmarks/senders.py --quick    # a few hundred, a few seconds

Each run queues N deliveries in a fresh SQLite ledger (the workspace file format),
drains them with `tidings.senders.drain` (take -> send -> settle, batches of 100) and
prints deliveries per second end to end, ledger writes included. The receiver is
stdlib `ThreadingHTTPServer` on 127.0.0.1 in this process (it answers 200 at once),
so the figure is the client side's ceiling on this machine, not a provider's.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tidings import Delivery
from tidings.senders import SMTPSender, WebhookSender, drain
from tidings.storage import SQLiteLedger

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _webhooks(url: str, n: int, run: str) -> list[Delivery]:
    return [
        Delivery(
            "campaign", "bench", f"u{i}", "webhook",
            {"url": url, "method": "POST", "headers": {}, "body": {"user": f"u{i}", "plan": "Pro"}},
            NOW, f"{run}-{i:08d}", (url,),
        )
        for i in range(n)
    ]  # fmt: skip


def _emails(n: int) -> list[Delivery]:
    payload = {"subject": "Votre commande est prête", "html": "<p>Bonjour Zoë</p>" * 20}
    return [
        Delivery(
            "campaign",
            "bench",
            f"u{i}",
            "email",
            payload,
            NOW,
            f"m-{i:08d}",
            (f"u{i}@example.com",),
        )
        for i in range(n)
    ]


def _drain_rate(deliveries: list[Delivery], sender: object) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SQLiteLedger(Path(tmp) / "bench.db")
        ledger.queue(deliveries, at=NOW)
        started = time.perf_counter()
        report = drain(ledger, sender, batch=100, clock=lambda: NOW)  # type: ignore[arg-type]
        seconds = time.perf_counter() - started
        ledger.close()
    assert report.delivered == len(deliveries), report
    return len(deliveries) / seconds


def _smtp_server() -> tuple[object, int]:
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 300 if args.quick else 3_000
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    print(f"webhook: {n:,} deliveries to a local receiver, SQLite outbox, batches of 100")
    for concurrency in (1, 4, 16, 64):
        for secret in (None, "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="):
            with WebhookSender(concurrency=concurrency, secret=secret) as sender:
                rate = _drain_rate(_webhooks(url, n, f"c{concurrency}{bool(secret)}"), sender)
            signed = "signed" if secret else "unsigned"
            print(f"  concurrency {concurrency:>3}  {signed:>8}  {rate:>8,.0f} messages/s")
    server.shutdown()
    controller, port = _smtp_server()
    emails = n // 6
    smtp = SMTPSender("127.0.0.1", port, from_address="news@shop.example", tls="none")
    rate = _drain_rate(_emails(emails), smtp)
    controller.stop()  # type: ignore[attr-defined]
    print(f"smtp: {emails:,} emails to a local aiosmtpd, one connection per batch: {rate:,.0f}/s")
    asyncio.set_event_loop(None)


if __name__ == "__main__":
    main()
