"""Push: FCM HTTP v1 and APNs request shapes, sent to a real local endpoint."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from tidings import Delivery
from tidings.errors import ArgumentError
from tidings.senders import Backoff
from tidings.senders.push import APNS_ENDPOINT, FCM_ENDPOINT, PushSender, apns_request, fcm_message

PAYLOAD = {
    "title": "Zoë, your order shipped",
    "body": "Arrives Tuesday",
    "deep_link": "shop://orders/42",
    "image_url": "https://cdn.example/p.png",
    "extras": {"order": "42"},
    "ttl_seconds": 3600,
}
KEY = "0123456789abcdef0123456789abcdef"


def _push(tokens, n=1):
    return Delivery(
        "campaign", "c9", f"u{n}", "push", dict(PAYLOAD),
        datetime(2026, 1, 1, tzinfo=UTC), f"{KEY[:-2]}{n:02d}", tuple(tokens),
    )  # fmt: skip


def test_fcm_v1_message_shape():
    assert fcm_message(PAYLOAD, "tok-1") == {
        "message": {
            "token": "tok-1",
            "notification": {
                "title": "Zoë, your order shipped",
                "body": "Arrives Tuesday",
                "image": "https://cdn.example/p.png",
            },
            "data": {"order": "42", "deep_link": "shop://orders/42"},
            "android": {"ttl": "3600s"},
        }
    }


def test_apns_request_shape():
    headers, body = apns_request(PAYLOAD, topic="com.example.shop", key=KEY, now=1_000_000)
    assert headers == {
        "apns-topic": "com.example.shop",
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-id": str(uuid.UUID(KEY)),
        "apns-expiration": str(1_000_000 + 3600),
    }
    assert body == {
        "aps": {
            "alert": {"title": "Zoë, your order shipped", "body": "Arrives Tuesday"},
            "sound": "default",
            "mutable-content": 1,
        },
        "order": "42",
        "deep_link": "shop://orders/42",
        "image_url": "https://cdn.example/p.png",
    }


def test_fcm_sender_posts_one_message_per_token(receiver):
    sender = PushSender(
        "fcm",
        project="shop-prod",
        credentials=lambda: "ya29.token",
        endpoint=receiver.url + "/v1/projects/{project}/messages:send",
        backoff=Backoff(base=0.01, cap=0.01),
    )
    (result,) = sender.send([_push(["a", "b"])])
    sender.close()
    assert result.status == "delivered"
    assert [a.path for a in receiver.arrivals] == ["/v1/projects/shop-prod/messages:send"] * 2
    assert {json.loads(a.body)["message"]["token"] for a in receiver.arrivals} == {"a", "b"}
    assert {a.headers["authorization"] for a in receiver.arrivals} == {"Bearer ya29.token"}


def test_apns_unregistered_token_fails_and_partial_success_is_delivered(receiver):
    receiver.script = {
        "/3/device/dead": [(410, {}, '{"reason":"Unregistered"}')] * 5,
        "/3/device/busy": [(503, {}, "")] * 5,
    }
    sender = PushSender(
        "apns",
        topic="com.example.shop",
        credentials=lambda: "jwt",
        endpoint=receiver.url + "/3/device/{token}",
        backoff=Backoff(base=0.01, cap=0.01, retries=1),
        clock=lambda: 1_000_000.0,
    )
    dead, mixed, busy = sender.send(
        [_push(["dead"], 1), _push(["dead", "live"], 2), _push(["busy"], 3)]
    )
    sender.close()
    assert dead.status == "failed"
    assert dead.code == 410
    assert "Unregistered" in dead.answer
    assert mixed.status == "delivered"
    assert busy.status == "retry"
    live = [a for a in receiver.arrivals if a.path == "/3/device/live"]
    assert live[0].headers["apns-topic"] == "com.example.shop"
    assert live[0].headers["authorization"] == "bearer jwt"
    assert json.loads(live[0].body)["aps"]["alert"]["title"] == "Zoë, your order shipped"


def test_push_settings_are_checked():
    assert "{project}" in FCM_ENDPOINT
    assert "{token}" in APNS_ENDPOINT
    with pytest.raises(ArgumentError, match="project"):
        PushSender("fcm", credentials=lambda: "x")
    with pytest.raises(ArgumentError, match="topic"):
        PushSender("apns", credentials=lambda: "x")
    sender = PushSender("fcm", project="p", credentials=lambda: "x")
    (result,) = sender.send([_push([])])
    sender.close()
    assert result.status == "failed"
