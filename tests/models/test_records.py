"""Delivery keys and the delivery's dict: one definition each, whatever path builds them."""

import hashlib
from datetime import UTC, datetime

import pytest

from tidings.models.records import Delivery, delivery_dict, delivery_key, delivery_keys


@pytest.mark.parametrize("identity", ["u1", "", "Élodie-☃", "user-0000001"])
def test_delivery_key_is_the_sha256_of_the_nul_separated_parts(identity: str) -> None:
    raw = f"c1\x00dispatch-9\x00{identity}".encode()
    expected = hashlib.sha256(raw).hexdigest()[:32]
    assert delivery_key("c1", "dispatch-9", identity) == expected
    assert delivery_keys("c1", "dispatch-9")(identity) == expected


def test_keys_of_one_dispatch_do_not_leak_into_each_other() -> None:
    key = delivery_keys("c1", "k")
    first, second, again = key("a"), key("b"), key("a")
    assert first == again != second
    assert second == delivery_key("c1", "k", "b")


def test_delivery_to_dict_is_the_dict_of_its_parts() -> None:
    send_at = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
    payload = {"title": "t", "body": "b"}
    delivery = Delivery("bulletin", "b1", "u1", "push", payload, send_at, "k" * 32, ("t1", "t2"))
    assert delivery.to_dict() == delivery_dict(
        "bulletin", "b1", "u1", "push", payload, "2026-11-29T09:30:00+00:00", "k" * 32, ("t1", "t2")
    )
    assert list(delivery.to_dict()) == [
        "type", "source", "source_id", "identity", "channel", "payload", "send_at",
        "idempotency_key", "to",
    ]  # fmt: skip
