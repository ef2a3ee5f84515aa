"""Goals with property conditions (issue 11, point 6): "purchased worth at least X"."""

from datetime import timedelta

import pytest

import tidings
from tidings.stats import compute_stats, source_stats

PUSH = {"channel": "push", "title": "Sale", "body": "Everything -20%"}


def _charged(identity: str, at, amount) -> dict:
    return {
        "identity": identity,
        "name": "Charged",
        "timestamp": at.isoformat(),
        "properties": {"amount": amount, "currency": "INR"},
    }


@pytest.fixture(params=["memory", "sqlite"])
def ws(request, story, tmp_path):
    workspace = story.make_workspace(request.param, tmp_path, users=10)
    yield workspace
    workspace.close()


def test_goal_counts_only_events_whose_properties_satisfy_its_conditions(ws, story):
    cid = ws.publish_campaign(
        {
            "name": "Sale",
            "message": PUSH,
            "goal": {
                "event": "Charged",
                "window_hours": 48,
                "where": [
                    {"property": "amount", "op": "gte", "value": 500},
                    {"property": "currency", "op": "eq", "value": "INR"},
                ],
            },
        }
    )
    users = [f"user-{i:04d}" for i in range(1, 5)]
    result = ws.trigger_campaign({"to": {"identity": users}, "campaign_id": cid})
    assert result.summary.sent == 4
    later = story.NOW + timedelta(hours=2)
    ws.record_events(
        [
            _charged("user-0001", later, 500),  # exactly X: converted
            _charged("user-0002", later, 499.5),  # below X
            _charged("user-0003", later, "900"),  # a string is not a number: no
            _charged("user-0004", later, 120),  # below X ...
            _charged("user-0004", later + timedelta(hours=1), 2500),  # ... then above: converted
        ]
    )
    conversion = source_stats(ws, cid).conversion
    assert conversion is not None
    assert conversion.target == tidings.stats.Rate(2, 4)
    assert conversion.goal_where == (
        {"property": "amount", "op": "gte", "value": 500},
        {"property": "currency", "op": "eq", "value": "INR"},
    )
    printed = compute_stats(ws).to_dict()["sources"][0]["conversion"]
    assert printed["goal_where"][0] == {"property": "amount", "op": "gte", "value": 500}


def test_a_goal_without_conditions_counts_every_such_event(ws, story):
    cid = ws.publish_campaign({"name": "Sale", "message": PUSH, "goal": {"event": "Charged"}})
    ws.trigger_campaign({"to": {"identity": ["user-0001", "user-0002"]}, "campaign_id": cid})
    ws.record_events([_charged("user-0002", story.NOW + timedelta(hours=1), 1)])
    conversion = source_stats(ws, cid).conversion
    assert conversion is not None
    assert conversion.target == tidings.stats.Rate(1, 2)
    assert conversion.goal_where == ()


def test_a_goal_condition_needs_a_valid_operator_and_operand():
    with pytest.raises(tidings.DefinitionError) as info:
        tidings.Goal(event="Charged", where=[{"property": "amount", "op": "gte", "value": [1]}])
    assert info.value.field is not None
    assert info.value.field.startswith("where.0")
