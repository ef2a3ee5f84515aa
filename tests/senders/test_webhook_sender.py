"""The webhook sender against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import random

import pytest
from standardwebhooks.webhooks import Webhook
from tests.senders.conftest import body_of, webhook_delivery

from tidings.errors import ArgumentError
from tidings.senders import Backoff, WebhookSender, parse_retry_after
from tidings.senders.signature import SignatureError, verify

FAST = Backoff(base=0.01, cap=0.05, retries=4, max_wait=5.0)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        import time

        self.append(seconds)
        time.sleep(seconds)


def test_transient_failures_are_retried_and_each_delivery_arrives_once(receiver):
    receiver.script = {
        "/a": [(503, {}, "busy"), (503, {}, "busy")],
        "/b": [(429, {"Retry-After": "1"}, "slow down")],
        "/c": [],
    }
    deliveries = [
        webhook_delivery(f"{receiver.url}/{path}", n) for n, path in enumerate(["a", "b", "c"] * 4)
    ]
    sleeps = Sleeps()
    with WebhookSender(backoff=FAST, concurrency=4, sleep=sleeps, rng=random.Random(1)) as sender:
        results = sender.send(deliveries)
    assert [r.key for r in results] == [d.idempotency_key for d in deliveries]
    assert {r.status for r in results} == {"delivered"}
    assert [r.attempts for r in results] == [3, 2, 1] * 4
    # every delivery accepted exactly once, none lost
    assert receiver.accepted == {d.idempotency_key: 1 for d in deliveries}
    # Retry-After honoured: the retry of each /b delivery came a second later
    for d in deliveries[1::3]:
        first, second = receiver.times(d.idempotency_key)
        assert second - first >= 0.95
    assert sleeps.count(1.0) == 4
    # jittered backoff for the 503s stays under its ceilings
    assert all(s <= 0.05 for s in sleeps if s != 1.0)


def test_body_method_and_headers_come_from_the_payload(receiver):
    delivery = webhook_delivery(f"{receiver.url}/put", 7, method="PUT", body={"x": [1, "é"]})
    with WebhookSender(backoff=FAST) as sender:
        (result,) = sender.send([delivery])
    assert result.status == "delivered"
    (arrival,) = receiver.arrivals
    assert arrival.method == "PUT"
    assert arrival.headers["x-campaign"] == "c1"
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.headers["idempotency-key"] == delivery.idempotency_key
    assert body_of(arrival) == {"x": [1, "é"]}


def test_a_permanent_400_is_failed_with_its_body_and_not_retried(receiver):
    receiver.script = {"/bad": [(400, {}, '{"error":"unknown user"}')]}
    with WebhookSender(backoff=FAST) as sender:
        (result,) = sender.send([webhook_delivery(f"{receiver.url}/bad", 1)])
    assert result.status == "failed"
    assert result.code == 400
    assert '{"error":"unknown user"}' in result.answer
    assert len(receiver.arrivals) == 1


def test_retries_are_bounded_and_end_in_retry_later(receiver):
    receiver.script = {"/down": [(500, {}, "boom")] * 10}
    with WebhookSender(backoff=Backoff(base=0.01, cap=0.01, retries=2)) as sender:
        (result,) = sender.send([webhook_delivery(f"{receiver.url}/down", 1)])
    assert result.status == "retry"
    assert result.attempts == 3
    assert result.code == 500
    assert len(receiver.arrivals) == 3


def test_a_long_retry_after_is_left_to_a_later_run(receiver):
    receiver.script = {"/later": [(429, {"Retry-After": "3600"}, "")]}
    with WebhookSender(backoff=FAST) as sender:
        (result,) = sender.send([webhook_delivery(f"{receiver.url}/later", 1)])
    assert result.status == "retry"
    assert result.retry_after == 3600.0
    assert len(receiver.arrivals) == 1


def test_network_errors_are_retried_then_reported():
    # a port nobody listens on (bound, then closed)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with WebhookSender(backoff=Backoff(base=0.01, cap=0.01, retries=1), timeout=2) as sender:
        (result,) = sender.send([webhook_delivery(f"http://127.0.0.1:{port}/x", 1)])
    assert result.status == "retry"
    assert result.code is None
    assert "ConnectError" in result.answer
    assert result.attempts == 2


def test_a_slow_receiver_hits_the_timeout(receiver):
    receiver.delay = 1.0
    with WebhookSender(backoff=Backoff(retries=0), timeout=0.2) as sender:
        (result,) = sender.send([webhook_delivery(f"{receiver.url}/slow", 1)])
    assert result.status == "retry"
    assert "Timeout" in result.answer


def test_signature_verifies_with_the_reference_library_and_ours(receiver):
    receiver.script = {"/s": [(503, {}, "")]}
    delivery = webhook_delivery(f"{receiver.url}/s", 3)
    with WebhookSender(backoff=FAST, secret=SECRET) as sender:
        (result,) = sender.send([delivery])
    assert result.status == "delivered"
    assert len(receiver.arrivals) == 2
    for arrival in receiver.arrivals:
        assert arrival.headers["webhook-id"] == delivery.idempotency_key
        assert arrival.headers["webhook-signature"].startswith("v1,")
        assert verify(SECRET, arrival.headers, arrival.body) == delivery.idempotency_key
        # the Standard Webhooks reference implementation agrees
        assert Webhook(SECRET).verify(arrival.body, arrival.headers) == body_of(arrival)
    tampered = receiver.arrivals[0].body.replace(b"3", b"4")
    with pytest.raises(SignatureError):
        verify(SECRET, receiver.arrivals[0].headers, tampered)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, receiver.arrivals[0].headers, receiver.arrivals[0].body, now=0)


def test_concurrency_is_bounded(receiver):
    import threading

    receiver.delay = 0.05
    live, peak, lock = [0], [0], threading.Lock()
    original = receiver.answer

    def counting(*args):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        try:
            return original(*args)
        finally:
            with lock:
                live[0] -= 1

    receiver.answer = counting
    deliveries = [webhook_delivery(f"{receiver.url}/p", n) for n in range(20)]
    with WebhookSender(concurrency=3) as sender:
        assert {r.status for r in sender.send(deliveries)} == {"delivered"}
    assert 1 <= peak[0] <= 3


@pytest.mark.parametrize(
    ("value", "expect"),
    [("5", 5.0), (None, None), ("soon", None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)],
)
def test_parse_retry_after(value, expect):
    assert parse_retry_after(value) == expect


def test_bad_settings_are_refused():
    with pytest.raises(ArgumentError, match="concurrency"):
        WebhookSender(concurrency=0)
    with pytest.raises(ArgumentError, match="timeout"):
        WebhookSender(timeout=0)
    with pytest.raises(ArgumentError, match="secret"):
        WebhookSender(secret="short")  # noqa: S106 - a test value


def test_a_payload_without_an_http_url_fails_without_a_request():
    bad = webhook_delivery("ftp://example.invalid/x", 1)
    with WebhookSender() as sender:
        (result,) = sender.send([bad])
    assert result.status == "failed"
    assert result.attempts == 0
