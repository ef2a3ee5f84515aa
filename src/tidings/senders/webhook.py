"""The webhook sender: each delivery's rendered request, made with httpx.

One pooled :class:`httpx.Client` (keep-alive) shared by a bounded pool of
threads; per delivery, bounded retries with exponential backoff and full jitter
on 429, 5xx and network errors, honouring ``Retry-After``; any other status is
final (2xx delivered, anything else failed with the provider's answer).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ..errors import ArgumentError
from ..models.records import Delivery
from ._base import Backoff, SendResult, parse_retry_after
from .signature import secret_key, signature_headers

__all__ = ["WebhookSender"]

logger = logging.getLogger(__name__)

_BODY_CHARS = 1_000


def _answer(response: httpx.Response) -> str:
    text = response.text[:_BODY_CHARS]
    return f"{response.status_code} {response.reason_phrase}: {text}".rstrip(": ")


class WebhookSender:
    """Makes each webhook delivery's HTTP request.

    Args:
        timeout: Seconds for connecting, and for each read and write.
        concurrency: Requests in flight at most (threads and pooled connections).
        backoff: Retry policy (count, ceilings, the longest in-process wait).
        secret: Signs every request with the Standard Webhooks headers
            (see :mod:`tidings.senders.signature`); None sends no signature.
        user_agent: The ``User-Agent`` header.
        idempotency_header: Without a ``secret``, the header that carries the
            delivery's idempotency key (None: no such header).
        http2: Use HTTP/2 where the server offers it (needs the ``h2`` package:
            ``pip install 'httpx[http2]'``; APNs requires it).
        transport: An httpx transport (tests, proxies); the default makes real requests.
        sleep: How to wait between retries (tests pass a recorder).
        rng: Jitter source (seeded in tests).

    Raises:
        ArgumentError: ``timeout`` or ``concurrency`` is not positive, or the secret is unusable.
    """

    channels = frozenset({"webhook"})

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        concurrency: int = 16,
        backoff: Backoff | None = None,
        secret: str | bytes | None = None,
        user_agent: str = "tidings-webhook/1",
        idempotency_header: str | None = "Idempotency-Key",
        http2: bool = False,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not timeout > 0:
            raise ArgumentError("must be a positive number of seconds", field="timeout")
        if not 1 <= concurrency <= 1_000:
            raise ArgumentError("must be between 1 and 1000", field="concurrency")
        self.backoff = backoff or Backoff()
        self.concurrency = concurrency
        self._key = secret_key(secret) if secret is not None else None
        self._idempotency_header = idempotency_header
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self._rng_lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": user_agent},
            follow_redirects=False,
            http2=http2,
            transport=transport,
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._closed = False

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        """Send a batch concurrently; one result per delivery, in order."""
        return list(self._pool.map(self._deliver, deliveries))

    def close(self) -> None:
        """Close the connection pool and the threads. Idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.shutdown(wait=True)
            self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request_parts(self, delivery: Delivery) -> tuple[str, str, dict[str, str], bytes]:
        payload: dict[str, Any] = delivery.payload
        url = str(payload.get("url") or (delivery.to[0] if delivery.to else ""))
        method = str(payload.get("method") or "POST")
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
        body_value = payload.get("body")
        body = b""
        if body_value is not None:
            body = json.dumps(body_value, ensure_ascii=False, separators=(",", ":")).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        return method, url, headers, body

    def _deliver(self, delivery: Delivery) -> SendResult:
        key = delivery.idempotency_key
        try:
            method, url, headers, body = self._request_parts(delivery)
        except (TypeError, ValueError, AttributeError) as exc:
            return SendResult.make(key, "failed", f"unusable webhook payload: {exc}", attempts=0)
        if not url.startswith(("http://", "https://")):
            return SendResult.make(key, "failed", f"not an http(s) URL: {url!r}", attempts=0)
        policy = self.backoff
        attempt = 0
        while True:
            attempt += 1
            sent = dict(headers)
            if self._key is not None:
                sent.update(signature_headers(self._key, key, body))
            elif self._idempotency_header is not None:
                sent.setdefault(self._idempotency_header, key)
            retry_after: float | None = None
            try:
                response = self._client.request(method, url, headers=sent, content=body or None)
            except httpx.HTTPError as exc:
                answer, code = f"{type(exc).__name__}: {exc}", None
            else:
                code = response.status_code
                answer = _answer(response)
                if 200 <= code < 300:
                    return SendResult.make(key, "delivered", answer, code=code, attempts=attempt)
                if code != 429 and code < 500:
                    return SendResult.make(key, "failed", answer, code=code, attempts=attempt)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if attempt > policy.retries:
                return SendResult.make(
                    key, "retry", answer, code=code, attempts=attempt, retry_after=retry_after
                )
            if retry_after is not None:
                wait = retry_after
            else:
                with self._rng_lock:
                    wait = policy.delay(attempt, self._rng)
            if wait > policy.max_wait:
                return SendResult.make(
                    key, "retry", answer, code=code, attempts=attempt, retry_after=wait
                )
            logger.debug("webhook %s: %s; retry %d in %.2fs", key, answer, attempt, wait)
            self._sleep(wait)
