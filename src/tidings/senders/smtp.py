"""The email sender: a MIME message per delivery, over SMTP (smtplib).

Each message is multipart/alternative (plain text, then HTML) in UTF-8, with the
headers encoded as RFC 2047 words where they are not ASCII, a ``Message-ID`` made
from the delivery's idempotency key (the same on a retry, so a repeat can be
recognised), a ``Date``, and ``List-Unsubscribe`` (with RFC 8058 one-click) when
an unsubscribe URL is known. One connection per batch, opened with implicit TLS,
STARTTLS or neither, and authenticated when a user is given.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import quote

from ..errors import ArgumentError
from ..models.records import Delivery
from ._base import SendResult

__all__ = ["SMTPSender", "build_message", "html_to_text"]

logger = logging.getLogger(__name__)

TLSMode = Literal["starttls", "tls", "none"]
"""How the connection is secured: STARTTLS on a plain port (587), implicit TLS (465),
or not at all (a local relay only)."""

_BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A plain-text rendering of an HTML body (the text part when a message has none)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text: list[str] = []
    for line in lines:
        if line or (text and text[-1]):
            text.append(line)
    return "\n".join(text).strip() + "\n"


def build_message(
    delivery: Delivery,
    *,
    from_address: str,
    from_name: str | None = None,
    domain: str = "tidings.invalid",
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """The RFC 5322 message of an email delivery.

    Args:
        delivery: An ``email`` delivery (payload: subject, html, text, from_name, reply_to).
        from_address: The envelope and ``From`` address.
        from_name: The ``From`` display name when the payload has none.
        domain: The right-hand side of the ``Message-ID``.
        unsubscribe_url: A template for ``List-Unsubscribe`` when the payload has no
            ``list_unsubscribe`` URL: ``{identity}``, ``{source_id}`` and ``{key}``
            are replaced (URL-quoted).

    Raises:
        ArgumentError: The delivery has no address or no subject/HTML, or a header
            value cannot be used.
    """
    payload: dict[str, Any] = delivery.payload
    if not delivery.to:
        raise ArgumentError("the email delivery has no address", field="to")
    subject, html = payload.get("subject"), payload.get("html")
    if not isinstance(subject, str) or not isinstance(html, str):
        raise ArgumentError("an email payload needs a subject and an HTML body", field="payload")
    text = payload.get("text")
    msg = EmailMessage(policy=SMTP)
    try:
        msg["From"] = Address(
            display_name=payload.get("from_name") or from_name or "", addr_spec=from_address
        )
        msg["To"] = delivery.to[0]
        if payload.get("reply_to"):
            msg["Reply-To"] = str(payload["reply_to"])
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = f"<{delivery.idempotency_key}@{domain}>"
        unsubscribe = payload.get("list_unsubscribe")
        if not unsubscribe and unsubscribe_url:
            unsubscribe = unsubscribe_url.format(
                identity=quote(delivery.identity, safe=""),
                source_id=quote(delivery.source_id, safe=""),
                key=delivery.idempotency_key,
            )
        if unsubscribe:
            msg["List-Unsubscribe"] = f"<{unsubscribe}>"
            if str(unsubscribe).startswith("https://"):
                msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    except (ValueError, TypeError, IndexError) as exc:
        raise ArgumentError(f"unusable email header: {exc}", field="headers") from exc
    msg.set_content(text if isinstance(text, str) and text else html_to_text(html), cte="8bit")
    msg.add_alternative(html, subtype="html", cte="8bit")
    return msg


def _answer(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    return f"{code} {text}"


def _status(code: int) -> Literal["delivered", "retry", "failed"]:
    if 200 <= code < 300:
        return "delivered"
    if 500 <= code < 600:
        return "failed"
    return "retry"


class SMTPSender:
    """Sends email deliveries through an SMTP server.

    Args:
        host: The server (a provider's relay, or a local MTA).
        port: 587 for STARTTLS, 465 for implicit TLS, 25 for a local relay.
        from_address: The envelope sender and ``From`` address.
        from_name: The ``From`` display name when the payload has none.
        tls: ``starttls`` (default), ``tls`` or ``none``.
        username: Logs in (AUTH) when given, with ``password``.
        password: The password (read it from the environment, not the command line).
        timeout: Seconds for connecting and for each command.
        domain: The ``Message-ID`` domain (default: the ``from_address`` domain).
        unsubscribe_url: ``List-Unsubscribe`` template (see :func:`build_message`).
        ssl_context: Certificates to trust (default: the system's, verified).

    Raises:
        ArgumentError: ``tls`` is not a known mode, or ``timeout`` is not positive.

    A 2xx reply is ``delivered``, 5xx ``failed`` (with the reply), 4xx and lost
    connections ``retry``. A dropped connection is opened again once per batch.
    """

    channels = frozenset({"email"})

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        from_address: str,
        from_name: str | None = None,
        tls: TLSMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        domain: str | None = None,
        unsubscribe_url: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls not in ("starttls", "tls", "none"):
            raise ArgumentError("must be starttls, tls or none", field="tls")
        if not timeout > 0:
            raise ArgumentError("must be a positive number of seconds", field="timeout")
        self.host, self.port, self.tls = host, port, tls
        self.from_address, self.from_name = from_address, from_name
        self.username, self.password = username, password
        self.timeout = timeout
        self.domain = domain or from_address.rpartition("@")[2] or "tidings.invalid"
        self.unsubscribe_url = unsubscribe_url
        self.ssl_context = ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.tls == "tls":
            conn = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if conn.sock is not None:
                # Commands are small writes that wait for their reply: without
                # TCP_NODELAY each can sit out the peer's delayed ACK (~40 ms).
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo()
            if self.tls == "starttls":
                conn.starttls(context=self.ssl_context)
                conn.ehlo()
            if self.username is not None:
                self._login(conn, self.username, self.password or "")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _login(conn: smtplib.SMTP, username: str, password: str) -> None:
        """AUTH PLAIN when offered (one exchange, the usual choice over TLS), else smtplib's pick.

        smtplib's ``login`` tries each offered mechanism in turn after a refusal,
        which only delays the answer when the credentials are wrong.
        """
        offered = conn.esmtp_features.get("auth", "").upper().split()
        if "PLAIN" in offered:
            conn.user, conn.password = username, password
            conn.auth("PLAIN", conn.auth_plain)
        else:
            conn.login(username, password)

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        """Send a batch over one connection; one result per delivery, in order.

        When the server cannot be reached, or refuses the TLS handshake or the
        login, every delivery not yet sent is ``retry`` with that answer (the
        messages are not at fault).
        """
        results: list[SendResult] = []
        conn: smtplib.SMTP | None = None
        reconnected = False
        try:
            for index, delivery in enumerate(deliveries):
                key = delivery.idempotency_key
                try:
                    msg = build_message(
                        delivery,
                        from_address=self.from_address,
                        from_name=self.from_name,
                        domain=self.domain,
                        unsubscribe_url=self.unsubscribe_url,
                    )
                except ArgumentError as exc:
                    results.append(SendResult.make(key, "failed", str(exc), attempts=0))
                    continue
                while True:
                    if conn is None:
                        try:
                            conn = self._connect()
                        except (smtplib.SMTPException, OSError) as exc:
                            code: int | None = None
                            reason = f"{type(exc).__name__}: {exc}"
                            if isinstance(exc, smtplib.SMTPResponseException):
                                code = exc.smtp_code
                                reason = _answer(exc.smtp_code, exc.smtp_error)
                            answer = f"cannot connect to {self.host}:{self.port}: {reason}"
                            logger.warning("smtp: %s", answer)
                            results.extend(
                                SendResult.make(d.idempotency_key, "retry", answer, code=code)
                                for d in deliveries[index:]
                            )
                            return results
                    try:
                        results.append(self._transaction(conn, key, delivery.to[0], msg))
                        break
                    except smtplib.SMTPResponseException as exc:
                        results.append(
                            SendResult.make(
                                key,
                                _status(exc.smtp_code),
                                _answer(exc.smtp_code, exc.smtp_error),
                                code=exc.smtp_code,
                            )
                        )
                        break
                    except (smtplib.SMTPException, OSError) as exc:
                        conn.close()
                        conn = None
                        if not reconnected:
                            reconnected = True
                            continue
                        results.append(
                            SendResult.make(key, "retry", f"{type(exc).__name__}: {exc}")
                        )
                        break
        finally:
            if conn is not None:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    conn.close()
        return results

    def _transaction(self, conn: smtplib.SMTP, key: str, to: str, msg: EmailMessage) -> SendResult:
        code, reply = conn.mail(self.from_address)
        if code != 250:
            conn.rset()
            return SendResult.make(key, _status(code), _answer(code, reply), code=code)
        code, reply = conn.rcpt(to)
        if code not in (250, 251):
            conn.rset()
            return SendResult.make(key, _status(code), _answer(code, reply), code=code)
        code, reply = conn.data(msg.as_bytes())
        return SendResult.make(key, _status(code), _answer(code, reply), code=code)

    def close(self) -> None:
        """Nothing is kept open between batches."""
