"""Every outcome goes through the commit step: a dispatch's summary and `tidings stats` agree.

One workspace produces every skip reason through real requests (duplicate
recipients included); for each source, the summaries of its dispatches add up
to what the stats read back from the ledger.
"""

import typing
from datetime import UTC, datetime, timedelta

import pytest

import tidings
from tidings.models.records import SkipReason
from tidings.stats import source_stats

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 12:00 UTC


def _profiles():
    people = [
        {"identity": "ok", "email": "ok@example.com", "push_tokens": ["t"], "timezone": "UTC"},
        {"identity": "ok2", "email": "ok2@example.com", "push_tokens": ["t2"], "timezone": "UTC"},
        {"identity": "ok3", "email": "ok3@example.com"},
        {"identity": "held", "email": "held@example.com", "push_tokens": ["t"]},
        {"identity": "silver", "email": "s@example.com", "properties": {"plan": "silver"}},
        {"identity": "bare"},
        {
            "identity": "optout",
            "email": "o@example.com",
            "properties": {"plan": "gold"} | {"MSG-email": False},
        },
        {"identity": "tokyo", "push_tokens": ["t"], "timezone": "Asia/Tokyo"},  # 21:00 there
    ]
    for person in people:
        person.setdefault("properties", {"plan": "gold"})
    return people


def _workspace(kind, tmp_path):
    clock = lambda: NOW  # noqa: E731 - a fixed clock
    ws = (
        tidings.Workspace(clock=clock)
        if kind == "memory"
        else tidings.Workspace.sqlite(tmp_path / "ws.db", clock=clock)
    )
    ws.upsert_profiles(_profiles())
    # A row that reached the store without validation (an old database, a trusted load).
    bad_email = tidings.UserProfile.model_construct(
        identity="badmail",
        name=None,
        email="v@x.test\r\nBcc: all@evil.test",
        push_tokens=(),
        timezone=None,
        properties={"plan": "gold"},
    )
    ws.store.upsert_profiles([bad_email])
    ws.configure({"frequency_caps": [{"limit": 1, "period": "day", "channel": "email"}]})
    ws.define_control_group({"name": "g", "identities": ["held"]})
    return ws


def _requests(ws):
    """Requests that together produce every skip reason; returns the summaries by source."""
    mail = ws.publish_campaign(
        {
            "name": "mail",
            "message": {
                "channel": "email",
                "subject": "s",
                "html": "<p>{{ ExternalTrigger.x }}</p>",
            },
            "filters": [{"kind": "property", "property": "plan", "op": "eq", "value": "gold"}],
            "control_group": {"kind": "custom", "group": "g"},
            "max_trigger_bytes": 60,
        }
    )

    def campaign(name, message, **extra):
        return ws.publish_campaign({"name": name, "message": message, **extra})

    push = campaign("push", {"channel": "push", "title": "t", "body": "{{ ExternalTrigger.t }}"})
    late = campaign(
        "late",
        {"channel": "push", "title": "t", "body": "b"},
        delivery={"local_send_time": "23:30"},
        schedule={"cutoff": (NOW + timedelta(hours=2)).isoformat()},
    )
    loop = campaign(
        "loop",
        {
            "channel": "push",
            "title": "t",
            "body": "{% for i in (1..ExternalTrigger.n) %}x{% endfor %}",
        },
    )
    hook = campaign(
        "hook",
        {
            "channel": "webhook",
            "url": "https://h.example/",
            "body": '{"a": {{ ExternalTrigger.v | raw }}}',
        },
    )
    ws.define_business_event({"name": "Launch", "properties": ["what"]})
    ws.record_events(
        {"identity": i, "name": "Seen", "properties": {"what": "x"}, "timestamp": NOW.isoformat()}
        for i in ("ok", "ok2", "tokyo")
    )
    match = [{"business_property": "what", "event": "Seen", "event_property": "what"}]
    for bulletin_id, delivery, extra in [
        ("quiet", {"dnd": {"start": "20:00", "end": "23:00", "action": "discard"}}, {}),
        (
            "delayed",
            {"dnd": {"start": "20:00", "end": "23:00", "action": "delay"}},
            {"ttl_seconds": 60},
        ),
        ("capped", {}, {"targeting_cap": 1}),
    ]:
        ws.publish_bulletin(
            {
                "id": bulletin_id,
                "name": bulletin_id,
                "business_event": "Launch",
                "match": match,
                "message": {"channel": "push", "title": "t", "body": "{{ BusinessEvent.what }}"},
                "delivery": delivery,
                "published": True,
                **extra,
            }
        )
    summaries = {}

    def add(source, result):
        assert result.response["status"] == "success", result.response
        summaries.setdefault(source, tidings.Summary()).merge(result.summary)

    data = {"x": "hi", "n": 3}
    to = [
        {"identity": "ghost", "ExternalTrigger": data},  # unknown_identity
        {"identity": "ok", "ExternalTrigger": data},
        {"identity": "ok", "ExternalTrigger": data},  # duplicate_recipient
        {"identity": "ok", "ExternalTrigger": data},  # duplicate_recipient, again
        {"identity": "silver", "ExternalTrigger": data},  # filtered_out
        {"identity": "held", "ExternalTrigger": data},  # control_group
        {"identity": "bare", "ExternalTrigger": data},  # no_email
        {"identity": "badmail", "ExternalTrigger": data},  # invalid_email
        {"identity": "optout", "ExternalTrigger": data},  # unsubscribed
        {"identity": "ok2", "ExternalTrigger": {"x": "y" * 80, "n": 1}},  # trigger_too_large
        {"identity": "ok3", "ExternalTrigger": {"n": 1}},  # missing_trigger_key
    ]
    add(mail, ws.trigger_campaign({"campaign_id": mail, "to": to, "idempotency_key": "m1"}))
    add(mail, ws.trigger_campaign({"campaign_id": mail, "to": to, "idempotency_key": "m1"}))
    again = [{"identity": "ok", "ExternalTrigger": data}]  # frequency_cap (1 email a day)
    add(mail, ws.trigger_campaign({"campaign_id": mail, "to": again}))
    # payload_too_large, no_push_token, duplicate_recipient
    big = {"t": "x" * 5000}
    who = {"identity": ["ok", "bare", "ok"]}
    add(push, ws.trigger_campaign({"campaign_id": push, "to": who, "ExternalTrigger": big}))
    add(late, ws.trigger_campaign({"campaign_id": late, "to": who}))  # past_cutoff
    data = {"n": 10**9}
    add(loop, ws.trigger_campaign({"campaign_id": loop, "to": who, "ExternalTrigger": data}))
    data = {"v": "}"}
    add(hook, ws.trigger_campaign({"campaign_id": hook, "to": who, "ExternalTrigger": data}))
    result = ws.raise_business_event(
        {"business_event": "Launch", "name": "l", "properties": {"what": "x"}, "c-by": "me"}
        | {"when": "now", "idempotency_key": "l1"}
    )  # dnd_discard, ttl_expired, targeting_cap
    for bulletin_id, summary in result.summaries.items():
        summaries.setdefault(bulletin_id, tidings.Summary()).merge(summary)
    return summaries


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_dispatch_summaries_and_stats_agree_for_every_skip_reason(kind, tmp_path):
    ws = _workspace(kind, tmp_path)
    summaries = _requests(ws)
    seen: set[str] = set()
    for source, summary in summaries.items():
        stats = source_stats(ws, source)
        assert stats.counts.to_dict() == summary.to_dict(), source
        seen |= set(summary.skipped)
    ws.close()
    assert seen == set(typing.get_args(SkipReason))
