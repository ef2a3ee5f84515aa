"""Every numeric field of every definition is bounded, and a definition at its bounds works."""

import typing
from datetime import UTC, datetime

import annotated_types
import pytest
from pydantic import BaseModel

import tidings
from tidings.campaigns import Bulletin, ExternalTriggerCampaign
from tidings.channels import EmailMessage, PushMessage, WebhookMessage
from tidings.models.definitions import (
    MAX_TARGETING_CAP,
    BusinessEventDefinition,
    ControlGroup,
    CustomControlGroup,
    Goal,
    Schedule,
    WorkspaceSettings,
)
from tidings.models.filters import MAX_COUNT, MAX_DAYS, EventFilter, MatchRule, Segment
from tidings.models.preferences import DeliveryPreferences, DoNotDisturb, FrequencyCap

DEFINITIONS = [
    Goal,
    BusinessEventDefinition,
    ControlGroup,
    CustomControlGroup,
    Schedule,
    Bulletin,
    ExternalTriggerCampaign,
    WorkspaceSettings,
    EventFilter,
    MatchRule,
    Segment,
    DeliveryPreferences,
    DoNotDisturb,
    FrequencyCap,
    EmailMessage,
    PushMessage,
    WebhookMessage,
]
LOWER_BOUND_BY_VALIDATOR = {
    # "targeting cap must be 100 or more": the vendor's own message, from a validator.
    ("ExternalTriggerCampaign", "targeting_cap"),
}
UNBOUNDED_ON_PURPOSE = {
    # A push TTL is only compared with a delay (never added to a time), so any size is safe.
    ("PushMessage", "ttl_seconds"),
}


def _numeric(annotation) -> bool:
    args = typing.get_args(annotation)
    if args:
        return any(_numeric(a) for a in args)
    return annotation in (int, float)


@pytest.mark.parametrize("model", DEFINITIONS, ids=lambda m: m.__name__)
def test_every_numeric_definition_field_is_bounded(model: type[BaseModel]):
    for name, info in model.model_fields.items():
        if not _numeric(info.annotation) or (model.__name__, name) in UNBOUNDED_ON_PURPOSE:
            continue
        kinds = {type(m) for m in info.metadata}
        assert kinds & {annotated_types.Le, annotated_types.Lt}, (
            f"{model.__name__}.{name} has no upper bound"
        )
        if (model.__name__, name) in LOWER_BOUND_BY_VALIDATOR:
            continue
        assert kinds & {annotated_types.Ge, annotated_types.Gt}, (
            f"{model.__name__}.{name} has no lower bound"
        )


def test_a_campaign_at_every_bound_dispatches():
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    ws = tidings.Workspace(clock=lambda: now)
    ws.upsert_profiles([{"identity": "u", "email": "u@example.com"}])
    ws.record_events([{"identity": "u", "name": "Order", "timestamp": now.isoformat()}])
    campaign_id = ws.publish_campaign(
        {
            "name": "bounds",
            "message": {"channel": "email", "subject": "s", "html": "h"},
            "filters": [
                {"kind": "event", "event": "Order", "within_days": MAX_DAYS, "min_count": 1},
                {"kind": "event", "event": "Never", "did": False, "min_count": MAX_COUNT},
            ],
            "targeting_cap": MAX_TARGETING_CAP,
            "max_recipients_per_call": 1_000_000,
            "schedule": {"start": "0001-01-05T00:00:00+00:00", "end": "9999-12-27T00:00:00+00:00"},
        }
    )
    result = ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": ["u"]}})
    assert result.response["sent"] == 1


def test_within_days_of_a_million_is_refused_at_publish():
    ws = tidings.Workspace()
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(
            {
                "name": "c",
                "message": {"channel": "push", "title": "t", "body": "b"},
                "filters": [{"kind": "event", "event": "x", "within_days": 1_000_000}],
            }
        )
    assert info.value.field == "filters.0.event.within_days"
    assert info.value.errors
    assert info.value.errors[0]["type"] == "less_than_equal"
