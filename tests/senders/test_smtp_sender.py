"""The SMTP sender against a real aiosmtpd server on 127.0.0.1; messages parsed with the stdlib."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from email import message_from_bytes, policy
from email.headerregistry import Address

import pytest
from tests.senders.conftest import Mailbox, email_delivery, start_smtp

from tidings.errors import ArgumentError
from tidings.senders.smtp import SMTPSender, build_message, html_to_text


def _sender(box: Mailbox, **options) -> SMTPSender:
    return SMTPSender(
        box.host, box.port, from_address="news@shop.example", tls="none", timeout=5, **options
    )


def test_a_multipart_utf8_message_with_encoded_headers(mailbox):
    delivery = email_delivery(1, "zoe@example.com")
    (result,) = _sender(mailbox, unsubscribe_url="https://shop.example/u/{identity}").send(
        [delivery]
    )
    assert result.status == "delivered"
    assert result.code == 250
    assert "queued as 42" in result.answer
    ((mail_from, rcpts, raw),) = mailbox.messages
    assert mail_from == "news@shop.example"
    assert rcpts == ["zoe@example.com"]
    # non-ASCII headers travel as RFC 2047 encoded words, never raw UTF-8
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"=?utf-8?" in head
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Votre commande n°42 est prête ✓"
    (sender,) = msg["From"].addresses
    assert sender == Address("Boutique Élodie", addr_spec="news@shop.example")
    assert msg["To"] == "zoe@example.com"
    assert msg["Message-ID"] == f"<{delivery.idempotency_key}@shop.example>"
    assert msg["Date"]
    assert msg["List-Unsubscribe"] == "<https://shop.example/u/user-1>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert "Bonjour Zoë," in text.get_content()
    assert "<b>Zoë</b>" in html.get_content()


def test_a_given_text_part_is_used_and_no_unsubscribe_without_a_url(mailbox):
    delivery = email_delivery(2, "a@example.com", text="Salut Zoë", reply_to="help@shop.example")
    (result,) = _sender(mailbox).send([delivery])
    assert result.status == "delivered"
    msg = message_from_bytes(mailbox.messages[0][2], policy=policy.default)
    assert msg.get_body(("plain",)).get_content().strip() == "Salut Zoë"
    assert msg["Reply-To"] == "help@shop.example"
    assert msg["List-Unsubscribe"] is None


def test_refused_recipients_fail_or_retry_by_reply_code(mailbox):
    mailbox.refuse = {
        "gone@example.com": "550 5.1.1 no such user",
        "full@example.com": "452 4.2.2 mailbox full",
    }
    deliveries = [
        email_delivery(1, "ok@example.com"),
        email_delivery(2, "gone@example.com"),
        email_delivery(3, "full@example.com"),
        email_delivery(4, "ok2@example.com"),
    ]
    results = _sender(mailbox).send(deliveries)
    assert [r.status for r in results] == ["delivered", "failed", "retry", "delivered"]
    assert results[1].code == 550
    assert "no such user" in results[1].answer
    assert results[2].code == 452
    assert [m[1] for m in mailbox.messages] == [["ok@example.com"], ["ok2@example.com"]]


def test_an_unreachable_server_is_retry_for_every_delivery():
    sender = SMTPSender("127.0.0.1", 1, from_address="a@b.example", tls="none", timeout=2)
    results = sender.send([email_delivery(1, "x@example.com"), email_delivery(2, "y@example.com")])
    assert [r.status for r in results] == ["retry", "retry"]
    assert all("Error" in r.answer for r in results)


def test_auth_over_starttls(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    box = Mailbox()

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = auth_data.login == b"shop" and auth_data.password == b"s3cret"
        box.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)

    controller = start_smtp(
        box,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
    )
    try:
        client_tls = ssl.create_default_context(cafile=str(cert))
        good = SMTPSender(
            box.host, box.port, from_address="news@shop.example", tls="starttls",
            username="shop", password="s3cret", ssl_context=client_tls, timeout=5,  # noqa: S106 - test server credentials
        )  # fmt: skip
        assert [r.status for r in good.send([email_delivery(1, "z@example.com")])] == ["delivered"]
        bad = SMTPSender(
            box.host, box.port, from_address="news@shop.example", tls="starttls",
            username="shop", password="wrong", ssl_context=client_tls, timeout=5,  # noqa: S106 - test server credentials
        )  # fmt: skip
        (result,) = bad.send([email_delivery(2, "z@example.com")])
        # a refused login is the server's configuration, not the message: try again later
        assert result.status == "retry", result
        assert result.code == 535
    finally:
        controller.stop()
    assert box.logins == ["shop", "shop"]
    assert len(box.messages) == 1


def test_html_to_text():
    assert html_to_text("<h1>Hi</h1><p>a &amp; b<br>c</p><style>x{}</style>") == "Hi\n\na & b\nc\n"


def test_build_message_refuses_unusable_deliveries():
    with pytest.raises(ArgumentError, match="subject"):
        build_message(email_delivery(1, "a@example.com", subject=None), from_address="a@b.example")
    with pytest.raises(ArgumentError, match="to"):
        build_message(email_delivery(1, "a@example.com").__class__(
            "campaign", "c", "u", "email", {"subject": "s", "html": "h"},
            email_delivery(1, "x").send_at, "k", (),
        ), from_address="a@b.example")  # fmt: skip
