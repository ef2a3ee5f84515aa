"""Push: FCM HTTP v1 and APNs requests built from a rendered push payload, sent over HTTP.

:func:`fcm_message` and :func:`apns_request` build what the providers document;
:class:`PushSender` sends one request per device token through a
:class:`~tidings.senders.WebhookSender` (same pooling, timeouts and retries) to a
configurable endpoint, with the credentials the caller supplies:

- FCM: ``https://fcm.googleapis.com/v1/projects/{project}/messages:send`` with an
  OAuth 2 access token of a service account (``Authorization: Bearer ...``);
- APNs: ``https://api.push.apple.com/3/device/{token}`` (sandbox:
  ``api.sandbox.push.apple.com``) with a provider JWT (``authorization: bearer ...``),
  the app's bundle id as ``apns-topic``, over HTTP/2.

tidings does not mint those tokens: pass a callable that returns a fresh one
(``google-auth`` for FCM; an ES256 JWT signed with the ``.p8`` key for APNs,
renewed at least hourly).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

from ..errors import ArgumentError
from ..models.records import Delivery
from ._base import Backoff, SendResult
from .webhook import WebhookSender

__all__ = ["APNS_ENDPOINT", "FCM_ENDPOINT", "PushSender", "apns_request", "fcm_message"]

FCM_ENDPOINT = "https://fcm.googleapis.com/v1/projects/{project}/messages:send"
"""The FCM HTTP v1 send URL (``{project}``: the Firebase project id)."""
APNS_ENDPOINT = "https://api.push.apple.com/3/device/{token}"
"""The APNs production URL (``{token}``: the device token)."""

Provider = Literal["fcm", "apns"]


def _text(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


def fcm_message(payload: dict[str, Any], token: str) -> dict[str, Any]:
    """The FCM HTTP v1 request body for one device token.

    ``title``/``body``/``image_url`` become the ``notification``; ``extras`` and
    ``deep_link`` the ``data`` map (string values, as FCM requires);
    ``ttl_seconds`` the Android ``ttl`` and the APNs expiration of the message.
    """
    notification = {
        "title": str(payload.get("title") or ""),
        "body": str(payload.get("body") or ""),
    }
    image = _text(payload, "image_url")
    if image:
        notification["image"] = image
    data = {str(k): str(v) for k, v in (payload.get("extras") or {}).items()}
    link = _text(payload, "deep_link")
    if link:
        data["deep_link"] = link
    message: dict[str, Any] = {"token": token, "notification": notification}
    if data:
        message["data"] = data
    ttl = payload.get("ttl_seconds")
    if isinstance(ttl, int) and ttl >= 0:
        message["android"] = {"ttl": f"{ttl}s"}
    return {"message": message}


def apns_request(
    payload: dict[str, Any], *, topic: str, key: str, now: float
) -> tuple[dict[str, str], dict[str, Any]]:
    """The APNs headers and JSON body for one notification.

    The body is ``{"aps": {"alert": {"title", "body"}, "sound": "default"}}`` with
    ``mutable-content`` when there is an image (a notification service extension
    shows it), and the extras, ``deep_link`` and ``image_url`` as custom keys.
    ``apns-id`` is the idempotency key as a UUID (the same on every retry);
    ``apns-expiration`` is ``now + ttl_seconds`` (0: deliver now or never).
    """
    aps: dict[str, Any] = {
        "alert": {"title": str(payload.get("title") or ""), "body": str(payload.get("body") or "")},
        "sound": "default",
    }
    body: dict[str, Any] = {str(k): str(v) for k, v in (payload.get("extras") or {}).items()}
    for name in ("deep_link", "image_url"):
        value = _text(payload, name)
        if value:
            body[name] = value
    if _text(payload, "image_url"):
        aps["mutable-content"] = 1
    body["aps"] = aps
    headers = {
        "apns-topic": topic,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-id": str(uuid.UUID(hex=key[:32].ljust(32, "0"))),
    }
    ttl = payload.get("ttl_seconds")
    if isinstance(ttl, int) and ttl >= 0:
        headers["apns-expiration"] = str(int(now) + ttl if ttl else 0)
    return headers, body


class PushSender:
    """Sends push deliveries to FCM HTTP v1 or APNs, one request per device token.

    A delivery is ``delivered`` when any of its tokens was accepted; otherwise
    ``retry`` if a token may succeed later (429, 5xx, network), else ``failed``
    with each token's answer (an unregistered token is 404 on FCM, 410 on APNs).

    Args:
        provider: ``fcm`` or ``apns``.
        endpoint: The URL template (``{project}`` for FCM, ``{token}`` for APNs);
            defaults to the production endpoint. Tests and proxies pass their own.
        credentials: Returns the current bearer token (called per batch).
        project: The Firebase project id (FCM).
        topic: The app's bundle id (APNs ``apns-topic``).
        timeout, concurrency, backoff: As for :class:`~tidings.senders.WebhookSender`.
        http2: HTTP/2 (needs ``pip install 'httpx[http2]'``; APNs requires it).
        clock: Seconds since the epoch (for ``apns-expiration``).

    Raises:
        ArgumentError: A required setting of the provider is missing.
    """

    channels = frozenset({"push"})

    def __init__(
        self,
        provider: Provider,
        *,
        credentials: Callable[[], str],
        endpoint: str | None = None,
        project: str | None = None,
        topic: str | None = None,
        timeout: float = 10.0,
        concurrency: int = 16,
        backoff: Backoff | None = None,
        http2: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if provider not in ("fcm", "apns"):
            raise ArgumentError("must be fcm or apns", field="provider")
        if provider == "fcm" and not project:
            raise ArgumentError("FCM needs the Firebase project id", field="project")
        if provider == "apns" and not topic:
            raise ArgumentError("APNs needs the app's bundle id", field="topic")
        import time

        self.provider = provider
        self.endpoint = endpoint or (FCM_ENDPOINT if provider == "fcm" else APNS_ENDPOINT)
        self.project = project or ""
        self.topic = topic or ""
        self.credentials = credentials
        self.clock = clock or time.time
        try:
            self._http = WebhookSender(
                timeout=timeout,
                concurrency=concurrency,
                backoff=backoff,
                idempotency_header=None,
                http2=http2,
                user_agent="tidings-push/1",
            )
        except ImportError as exc:  # httpx without its http2 extra
            raise ArgumentError(
                "HTTP/2 needs the h2 package: pip install 'tidings[push]'", field="http2"
            ) from exc

    def _request(self, delivery: Delivery, token: str, index: int, bearer: str) -> Delivery:
        key = f"{delivery.idempotency_key}:{index}"
        if self.provider == "fcm":
            url = self.endpoint.format(project=self.project)
            headers = {"Authorization": f"Bearer {bearer}"}
            body = fcm_message(delivery.payload, token)
        else:
            url = self.endpoint.format(token=token)
            headers, body = apns_request(
                delivery.payload, topic=self.topic, key=delivery.idempotency_key, now=self.clock()
            )
            headers["authorization"] = f"bearer {bearer}"
        payload = {"url": url, "method": "POST", "headers": headers, "body": body}
        return replace(delivery, channel="webhook", payload=payload, idempotency_key=key, to=(url,))

    def send(self, deliveries: Sequence[Delivery]) -> list[SendResult]:
        """One request per token; one combined result per delivery, in order."""
        bearer = self.credentials()
        requests: list[Delivery] = []
        owners: list[int] = []
        for position, delivery in enumerate(deliveries):
            for index, token in enumerate(delivery.to):
                requests.append(self._request(delivery, token, index, bearer))
                owners.append(position)
        answers: list[list[SendResult]] = [[] for _ in deliveries]
        for owner, result in zip(owners, self._http.send(requests), strict=True):
            answers[owner].append(result)
        return [_combine(d, found) for d, found in zip(deliveries, answers, strict=True)]

    def close(self) -> None:
        """Close the connection pool. Idempotent."""
        self._http.close()


def _combine(delivery: Delivery, results: list[SendResult]) -> SendResult:
    key = delivery.idempotency_key
    if not results:
        return SendResult.make(key, "failed", "no push token", attempts=0)
    answer = "; ".join(f"token {i}: {r.answer}" for i, r in enumerate(results))
    attempts = sum(r.attempts for r in results)
    delivered = [r for r in results if r.status == "delivered"]
    if delivered:
        return SendResult.make(key, "delivered", answer, code=delivered[0].code, attempts=attempts)
    retry = [r for r in results if r.status == "retry"]
    if retry:
        waits = [r.retry_after for r in retry if r.retry_after is not None]
        return SendResult.make(
            key, "retry", answer, code=retry[0].code, attempts=attempts,
            retry_after=max(waits) if waits else None,
        )  # fmt: skip
    return SendResult.make(key, "failed", answer, code=results[0].code, attempts=attempts)
