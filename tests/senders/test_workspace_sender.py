"""`Workspace(sender=...)`: a dispatch queues its deliveries and sends them before returning."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import tidings
from tidings.errors import ArgumentError
from tidings.senders import Backoff, WebhookSender

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _workspace(sender, url, path=None):
    ws = (
        tidings.Workspace.sqlite(path, clock=lambda: NOW, sender=sender)
        if path is not None
        else tidings.Workspace(clock=lambda: NOW, sender=sender)
    )
    ws.upsert_profiles([{"identity": f"u{i}", "push_tokens": [f"t{i}"]} for i in range(5)])
    hook = ws.publish_campaign(
        {
            "name": "Hook",
            "message": {
                "channel": "webhook",
                "url": url,
                "body": '{"who": "{{ Profile.identity }}"}',
            },
        }
    )
    push = ws.publish_campaign(
        {"name": "Push", "message": {"channel": "push", "title": "t", "body": "b"}}
    )
    return ws, hook, push


@pytest.mark.parametrize("durable", [False, True])
def test_a_dispatch_sends_its_webhook_deliveries(receiver, tmp_path, durable):
    receiver.script = {"/h": [(503, {}, "")]}
    sender = WebhookSender(backoff=Backoff(base=0.01, cap=0.01))
    ws, hook, push = _workspace(sender, receiver.url + "/h", tmp_path / "w.db" if durable else None)
    result = ws.trigger_campaign({"campaign_id": hook, "to": {"identity": ["u0", "u1", "u2"]}})
    assert result.ok
    assert len(list(result.deliveries)) == 3  # still kept on the result
    assert ws.last_send is not None
    assert ws.last_send.delivered == 3
    assert sorted(json.loads(a.body)["who"] for a in receiver.arrivals if a.status == 200) == [
        "u0",
        "u1",
        "u2",
    ]
    # push deliveries are not the webhook sender's: not queued, not sent
    ws.trigger_campaign({"campaign_id": push, "to": {"identity": ["u3"]}})
    assert ws.ledger.delivery_counts(push)["pending"] == 0
    assert ws.ledger.delivery_counts(hook)["delivered"] == 3
    # the same request again (same idempotency keys) sends nothing twice
    before = len(receiver.arrivals)
    ws.send()
    assert len(receiver.arrivals) == before
    sender.close()
    ws.close()


def test_records_still_reach_a_sink(receiver):
    sender = WebhookSender()
    ws, hook, _ = _workspace(sender, receiver.url + "/h")
    seen = []
    ws.trigger_campaign({"campaign_id": hook, "to": {"identity": ["u0"]}}, sink=seen.append)
    assert [r.identity for r in seen] == ["u0"]
    assert receiver.accepted.total() == 1
    sender.close()


def test_send_without_a_sender_is_an_argument_error():
    with pytest.raises(ArgumentError, match="sender"):
        tidings.Workspace().send()
