"""Invariants of dispatch that hold for any request."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tidings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
identities = st.sampled_from([f"user-{i:04d}" for i in range(40)] + ["ghost-1", "ghost-2"])
recipient = st.fixed_dictionaries(
    {"identity": identities},
    optional={
        "ExternalTrigger": st.dictionaries(
            st.sampled_from(["productDetails", "coupon", "n"]), json_values, max_size=3
        )
    },
)

TEMPLATE = (
    "{% for p in ExternalTrigger.productDetails %}{{ p.productName | default: 'item' }}"
    "{% endfor %}{{ ExternalTrigger.coupon | upcase }}{{ 100 | divided_by: ExternalTrigger.n }}"
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    recipients=st.lists(recipient, min_size=1, max_size=30), percent=st.sampled_from([0, 30, 100])
)
def test_every_candidate_ends_in_exactly_one_delivery_or_skip(story, tmp_path, recipients, percent):
    ws = story.make_workspace("memory", tmp_path, users=40)
    campaign_id = ws.publish_campaign(
        {
            "name": "p",
            "message": {
                "channel": "webhook",
                "url": "https://x.example/{{ Profile.identity }}",
                "body": '{"t": "' + TEMPLATE + '"}',
            },
            "control_group": {"kind": "campaign", "percent": percent},
            "targeting_cap": 100,
        }
    )
    result = ws.trigger_campaign({"campaign_id": campaign_id, "to": recipients})
    assert result.ok
    records = list(result.deliveries) + list(result.skips)
    assert len(records) == len(recipients)
    assert sorted(r.identity for r in records) == sorted(r["identity"] for r in recipients)
    delivered = [d.identity for d in result.deliveries]
    assert len(delivered) == len(set(delivered))  # nobody twice
    summary = result.summary
    assert summary.candidates == len(recipients)
    assert summary.sent + sum(summary.skipped.values()) == summary.candidates
    for delivery in result.deliveries:
        assert isinstance(delivery.payload["body"], dict)  # the webhook body is valid JSON
    for skip in result.skips:
        assert skip.reason in tidings.models.records.SkipReason.__args__
