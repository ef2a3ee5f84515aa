"""Webhook signatures following the Standard Webhooks specification.

Three headers go with every request (https://www.standardwebhooks.com/):

- ``webhook-id``: the delivery's idempotency key, the same on every retry, so a
  receiver can drop a repeat;
- ``webhook-timestamp``: seconds since the epoch when the attempt was signed;
- ``webhook-signature``: ``v1,`` followed by the base64 HMAC-SHA256 of
  ``"{webhook-id}.{webhook-timestamp}.{body}"`` under the shared secret.

The secret is ``whsec_`` followed by the base64 of the key bytes (as the
specification's libraries expect); a bare string is used as the key as is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from ..errors import ArgumentError, TidingsError

__all__ = ["SignatureError", "secret_key", "sign", "signature_headers", "verify"]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
TOLERANCE_SECONDS = 300
"""How far a receiver accepts a timestamp from its own clock (replay protection)."""


class SignatureError(TidingsError, ValueError):
    """A webhook request whose signature does not verify (raised by :func:`verify`)."""


def secret_key(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, or the bytes as given."""
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except ValueError as exc:
            raise ArgumentError(
                "the webhook secret after 'whsec_' is not valid base64", field="secret"
            ) from exc
    else:
        key = secret.encode()
    if len(key) < 16:
        raise ArgumentError("the webhook secret must be at least 16 bytes", field="secret")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    key: bytes, msg_id: str, body: bytes, *, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(key, msg_id, stamp, body),
    }


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:
    """Check a received request as a receiver does; return its ``webhook-id``.

    Header names are matched case-insensitively. The timestamp must be within
    ``tolerance`` seconds of ``now``; any of the space-separated ``v1,``
    signatures may match (a sender rotating secrets sends several).

    Raises:
        SignatureError: A header is missing, the timestamp is too old or too new,
            or no signature matches.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        stamp_text = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as exc:
        raise SignatureError(f"missing header {exc.args[0]}") from None
    try:
        stamp = int(stamp_text)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a whole number") from None
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = sign(secret_key(secret), msg_id, stamp, body)
    for candidate in signatures.split():
        if hmac.compare_digest(candidate, expected):
            return msg_id
    raise SignatureError("no webhook-signature matches")
