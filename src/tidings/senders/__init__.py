"""Senders: the last step, where deliveries leave for a provider and the answer is kept.

- :class:`Sender`: the protocol (a batch of deliveries in, a :class:`SendResult` per
  delivery out: ``delivered``, ``retry`` or ``failed``, with the provider's answer);
- :class:`WebhookSender`: HTTP on httpx, pooled, bounded concurrency and retries,
  optional Standard Webhooks signature (:mod:`tidings.senders.signature`);
- :class:`SMTPSender`: email over SMTP (STARTTLS/TLS, AUTH), a multipart MIME message;
- :class:`PushSender`: FCM HTTP v1 and APNs requests, one per device token;
- :func:`drain`: sends what the ledger's outbox holds and stores each answer;
  :class:`OutboxSink` queues a dispatch's deliveries there.

See ``docs/senders.md``.
"""

from ._base import Backoff as Backoff
from ._base import Sender as Sender
from ._base import SendResult as SendResult
from ._base import SendStatus as SendStatus
from ._base import parse_retry_after as parse_retry_after
from .drain import DrainReport as DrainReport
from .drain import OutboxSink as OutboxSink
from .drain import drain as drain
from .push import PushSender as PushSender
from .signature import SignatureError as SignatureError
from .smtp import SMTPSender as SMTPSender
from .webhook import WebhookSender as WebhookSender

__all__ = [
    "Backoff",
    "DrainReport",
    "OutboxSink",
    "PushSender",
    "SMTPSender",
    "SendResult",
    "SendStatus",
    "Sender",
    "SignatureError",
    "WebhookSender",
    "drain",
    "parse_retry_after",
]
