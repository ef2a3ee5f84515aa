"""External Trigger campaigns end to end: the order-confirmation story of external-trigger.txt."""

import copy
from datetime import timedelta

import pytest

import tidings

ORDER = {
    "productDetails": [
        {
            "productName": "Trail Shoe",
            "pricingDetails": [
                {"name": "Cost", "value": "89.00"},
                {"name": "Shipping", "value": "4.99"},
            ],
        }
    ]
}


def _publish(ws, story, **changes):
    campaign = copy.deepcopy(story.ORDER_CAMPAIGN)
    campaign.update(changes)
    return ws.publish_campaign(campaign)


def test_publish_assigns_an_id_and_trigger_renders_the_order(workspace, story):
    campaign_id = _publish(workspace, story)
    assert campaign_id == "1"
    result = workspace.trigger_campaign(
        {"to": {"identity": ["user-0001"]}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
    )
    assert result.response == {
        "status": "success",
        "campaign_id": "1",
        "processed": 1,
        "sent": 1,
        "skipped": 0,
    }
    (delivery,) = result.deliveries
    assert delivery.channel == "email"
    assert delivery.to == ("viewer1@example.com",)
    html = delivery.payload["html"]
    assert html.startswith("Hey Viewer 1\nThank you for shopping with us!")
    assert "Name: Trail Shoe" in html
    assert "Shipping : 4.99" in html
    assert delivery.payload["subject"] == "Your order"


def test_per_recipient_trigger_data(workspace, story):
    campaign_id = _publish(workspace, story)
    other = {"productDetails": [{"productName": "Tent", "pricingDetails": []}]}
    result = workspace.trigger_campaign(
        {
            "campaign_id": campaign_id,
            "to": [
                {"identity": "user-0001", "ExternalTrigger": ORDER},
                {"identity": "user-0002", "ExternalTrigger": other},
            ],
        }
    )
    by_user = {d.identity: d.payload["html"] for d in result.deliveries}
    assert "Trail Shoe" in by_user["user-0001"]
    assert "Tent" in by_user["user-0002"]
    assert "Trail Shoe" not in by_user["user-0002"]


def test_unknown_identities_and_unreachable_users_are_skips(workspace, story):
    campaign_id = _publish(workspace, story)
    result = workspace.trigger_campaign(
        {
            "to": {"identity": ["user-0001", "ghost", "user-0007", "user-0001"]},
            "campaign_id": campaign_id,
            "ExternalTrigger": ORDER,
        }
    )
    reasons = {(s.identity, s.reason) for s in result.skips}
    assert reasons == {
        ("ghost", "unknown_identity"),
        ("user-0007", "no_email"),  # every 7th viewer has no email address
        ("user-0001", "duplicate_recipient"),
    }
    assert [d.identity for d in result.deliveries] == ["user-0001"]
    assert result.response["processed"] == 4


def test_missing_required_key_per_recipient_is_a_skip(workspace, story):
    campaign_id = _publish(workspace, story)
    result = workspace.trigger_campaign(
        {
            "campaign_id": campaign_id,
            "to": [{"identity": "user-0001", "ExternalTrigger": {}}, {"identity": "user-0002"}],
            "ExternalTrigger": ORDER,
        }
    )
    skips = {s.identity: s for s in result.skips}
    assert skips["user-0001"].reason == "missing_trigger_key"
    assert "productDetails" in skips["user-0001"].detail
    assert [d.identity for d in result.deliveries] == ["user-0002"]


def test_missing_required_key_in_shared_data_is_a_request_error(workspace, story):
    campaign_id = _publish(workspace, story)
    result = workspace.trigger_campaign(
        {"to": {"identity": ["user-0001"]}, "campaign_id": campaign_id, "ExternalTrigger": {}}
    )
    assert result.response == {
        "status": "fail",
        "error": "ExternalTrigger key missing: productDetails",
        "code": 400,
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"campaign_id": "404", "to": {"identity": ["user-0001"]}}, "Campaign Not Found"),
        ({"campaign_id": "1"}, '"to" has an incorrect value - null'),
        ({"campaign_id": "1", "to": {"identity": []}}, '"to.identity" has an incorrect value - []'),
        (
            {"campaign_id": "1", "to": {"identity": ["a"]}, "ExternalTrigger": [1]},
            '"ExternalTrigger" has an incorrect value - must be an object',
        ),
    ],
)
def test_request_level_errors(workspace, story, body, error):
    _publish(workspace, story)
    assert workspace.trigger_campaign(body).response == {
        "status": "fail",
        "error": error,
        "code": 400,
    }


def test_more_recipients_than_the_per_call_limit(workspace, story):
    campaign_id = _publish(workspace, story)
    ids = [f"user-{i:04d}" for i in range(1001)]
    result = workspace.trigger_campaign(
        {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
    )
    assert result.response["error"] == "Too many recipients: 1001 (at most 1000 per call)"


def test_oversize_shared_data_is_refused(workspace, story):
    campaign_id = _publish(workspace, story, max_trigger_bytes=200)
    big = {"productDetails": [{"productName": "x" * 500}]}
    result = workspace.trigger_campaign(
        {"to": {"identity": ["user-0001"]}, "campaign_id": campaign_id, "ExternalTrigger": big}
    )
    assert result.response["status"] == "fail"
    assert "over the limit of 200 bytes" in result.response["error"]


def test_schedule_outside_window_is_refused(workspace, story):
    start = (story.NOW + timedelta(days=1)).isoformat()
    campaign_id = _publish(workspace, story, schedule={"start": start})
    result = workspace.trigger_campaign(
        {"to": {"identity": ["user-0001"]}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
    )
    assert result.response["status"] == "fail"
    assert "has not started" in result.response["error"]


def test_targeting_cap_below_100_is_rejected(workspace, story):
    with pytest.raises(tidings.DefinitionError, match="100 or more") as info:
        _publish(workspace, story, targeting_cap=99)
    assert info.value.field == "targeting_cap"


def test_schedule_end_must_follow_start(workspace, story):
    with pytest.raises(tidings.DefinitionError, match="end must be after"):
        _publish(
            workspace,
            story,
            schedule={"start": story.NOW.isoformat(), "end": story.NOW.isoformat()},
        )


def test_audience_filter_narrows_the_trigger(workspace, story):
    campaign_id = _publish(
        workspace,
        story,
        filters=[{"kind": "property", "property": "plan", "op": "eq", "value": "gold"}],
    )
    ids = [f"user-{i:04d}" for i in range(1, 13)]
    result = workspace.trigger_campaign(
        {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
    )
    sent = {d.identity for d in result.deliveries}
    assert sent == {"user-0004", "user-0008", "user-0012"}
    assert result.summary.filtered == 9


def test_targeting_cap_holds_across_triggers(workspace, story):
    campaign_id = _publish(workspace, story)  # cap 100
    sent = set()
    for start in range(0, 400, 50):
        ids = [f"user-{i:04d}" for i in range(start, start + 50)]
        result = workspace.trigger_campaign(
            {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
        )
        sent |= {d.identity for d in result.deliveries}
    assert len(sent) == 100


def test_create_campaign_api_body(workspace, story):
    campaign_id = workspace.publish_campaign(
        {
            "name": "Fitness milestone",
            "channel": "push",
            "content": {"title": "15k steps!", "body": "{{ ExternalTrigger.steps }} steps today"},
            "audience": {"filters": []},
        }
    )
    result = workspace.trigger_campaign(
        {
            "to": {"identity": ["user-0001"]},
            "campaign_id": campaign_id,
            "ExternalTrigger": {"steps": 15000},
        }
    )
    assert result.deliveries[0].payload["body"] == "15000 steps today"


def test_message_via_identity(workspace):
    result = workspace.message_via_identity(
        {
            "to": {"identity": ["user-0001", "user-0002"]},
            "content": {
                "channel": "webhook",
                "url": "https://hooks.example.com/upgrade/{{ Profile.identity }}",
                "body": '{"user": "{{ Profile.name }}", "plan": "{{ ExternalTrigger.plan }}"}',
            },
            "ExternalTrigger": {"plan": 'Pro "Max"'},
        }
    )
    assert result.response["sent"] == 2
    first = result.deliveries[0]
    assert first.payload["body"] == {"user": "Viewer 1", "plan": 'Pro "Max"'}
    assert first.payload["url"] == "https://hooks.example.com/upgrade/user-0001"


def test_message_via_identity_with_bad_template_is_a_request_error(workspace):
    result = workspace.message_via_identity(
        {
            "to": {"identity": ["user-0001"]},
            "content": {"channel": "push", "title": "{{ Profile.name | nope }}", "body": "x"},
        }
    )
    assert result.response["status"] == "fail"
    assert "nope" in result.response["error"]


def test_render_error_for_one_user_does_not_stop_the_batch(workspace, story):
    campaign_id = workspace.publish_campaign(
        {
            "name": "Division",
            "message": {
                "channel": "push",
                "title": "x",
                "body": "{{ 10 | divided_by: ExternalTrigger.n }}",
            },
        }
    )
    result = workspace.trigger_campaign(
        {
            "campaign_id": campaign_id,
            "to": [
                {"identity": "user-0001", "ExternalTrigger": {"n": 0}},
                {"identity": "user-0002", "ExternalTrigger": {"n": 5}},
            ],
        }
    )
    (skip,) = result.skips
    assert (skip.identity, skip.reason, skip.field) == ("user-0001", "render_error", "push.body")
    assert [d.payload["body"] for d in result.deliveries] == ["2"]
    assert result.summary.errors == 1


def test_replaying_a_trigger_with_the_same_key_sends_nothing_twice(workspace, story):
    campaign_id = _publish(workspace, story)
    body = {
        "to": {"identity": ["user-0001"]},
        "campaign_id": campaign_id,
        "ExternalTrigger": ORDER,
        "idempotency_key": "order-77",
    }
    first = workspace.trigger_campaign(body)
    again = workspace.trigger_campaign(body)
    assert again.response == first.response
    assert list(again.deliveries) == []


def test_custom_control_group_is_shared_by_every_campaign_that_chooses_it(workspace, story):
    workspace.define_control_group(
        {"name": "global-holdout", "percent": 20, "identities": ["user-0001"]}
    )
    control = {"kind": "custom", "group": "global-holdout"}
    first = _publish(workspace, story, control_group=control)
    second = workspace.publish_campaign(
        {
            "name": "Other",
            "message": {"channel": "webhook", "url": "https://x.example/h", "body": "{}"},
            "control_group": control,
        }
    )
    ids = [f"user-{i:04d}" for i in range(1, 200) if i % 7]
    held = []
    for campaign_id in (first, second):
        result = workspace.trigger_campaign(
            {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
        )
        held.append({s.identity for s in result.skips if s.reason == "control_group"})
        assert result.summary.held_out == len(held[-1])
    assert held[0] == held[1]  # the same users are held out of both campaigns
    assert "user-0001" in held[0]  # explicit members always
    assert 0.1 < len(held[0]) / len(ids) < 0.3


def test_unknown_custom_control_group_is_rejected(workspace, story):
    with pytest.raises(tidings.DefinitionError, match="not defined"):
        _publish(workspace, story, control_group={"kind": "custom", "group": "nope"})


def test_campaign_control_group_is_stable_across_triggers(workspace, story):
    campaign_id = _publish(workspace, story, control_group={"kind": "campaign", "percent": 30})
    ids = [f"user-{i:04d}" for i in range(1, 100) if i % 7]
    runs = []
    for _ in range(2):
        result = workspace.trigger_campaign(
            {"to": {"identity": ids}, "campaign_id": campaign_id, "ExternalTrigger": ORDER}
        )
        runs.append({s.identity for s in result.skips if s.reason == "control_group"})
    assert runs[0] == runs[1]
    assert runs[0]
