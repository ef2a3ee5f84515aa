"""The sender contract: a batch of deliveries in, one :class:`SendResult` per delivery out."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, Protocol, runtime_checkable

from ..models.records import Delivery

__all__ = ["Backoff", "SendResult", "SendStatus", "Sender", "parse_retry_after"]

SendStatus = Literal["delivered", "retry", "failed"]
"""What became of one delivery: accepted by the provider, worth another try later,
or refused for good (a 4xx other than 429, a rejected address, a bad payload)."""

ANSWER_CHARS = 2_000
"""How much of a provider's answer a result keeps (the rest is cut)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of sending one delivery, with the provider's answer.

    Attributes:
        key: The delivery's idempotency key.
        status: ``delivered``, ``retry`` (try again later) or ``failed`` (permanently).
        answer: The provider's answer: ``"503 Service Unavailable: <body>"``, an SMTP
            reply, or the network error; cut to :data:`ANSWER_CHARS` characters.
        code: The HTTP status or SMTP reply code, when there was one.
        attempts: Requests made for this delivery in this call (retries included).
        retry_after: For ``retry``: seconds the provider asked to wait, if it did.
    """

    key: str
    status: SendStatus
    answer: str = ""
    code: int | None = None
    attempts: int = 1
    retry_after: float | None = None

    @classmethod
    def make(
        cls,
        key: str,
        status: SendStatus,
        answer: str,
        *,
        code: int | None = None,
        attempts: int = 1,
        retry_after: float | None = None,
    ) -> SendResult:
        """A result whose answer is cut to :data:`ANSWER_CHARS` characters."""
        return cls(key, status, answer[:ANSWER_CHARS], code, attempts, retry_after)


@runtime_checkable
class Sender(Protocol):
    """Sends deliveries of some channels to a provider.

    A sender never raises for a delivery's failure: every delivery of the batch
    gets exactly one :class:`SendResult`, in the batch's order. Implementations
    bound everything (timeouts, retries, concurrency).
    """

    channels: frozenset[str]
    """The delivery channels this sender handles (``webhook``, ``email``, ``push``)."""

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        """Send a batch; one result per delivery, in order."""
        ...

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, bounded.

    The wait before retry ``n`` (1-based) is uniform in
    ``[0, min(cap, base * 2 ** (n - 1))]`` ("full jitter"), so clients that failed
    together do not come back together. A provider's ``Retry-After`` overrides it.

    Attributes:
        base: Seconds of the first backoff ceiling.
        cap: The largest ceiling, in seconds.
        retries: Retries after the first attempt (so ``retries + 1`` requests at most).
        max_wait: The longest wait spent in-process; a longer ``Retry-After`` ends
            the call with a ``retry`` result for a later run instead of sleeping.
    """

    base: float = 0.5
    cap: float = 30.0
    retries: int = 4
    max_wait: float = 60.0

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.cap, self.base * 2 ** (retry - 1))
        return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None.

    A malformed value is ignored (None); a date in the past is zero seconds.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
