"""The vendor's documented External Trigger bodies: email recipients, integer ids, /2 calls.

The vendor's sample (External Trigger API page) sends ``{"to": {"email": [...]},
"campaign_id": ..., "ExternalTrigger": {...}}``; clients send the id as a number
too. ``/2/send/externaltrigger.json`` takes ``campaign_id_list`` (same recipients)
or ``d`` (each campaign its own recipients), at most 5 campaigns.
"""

import pytest

import tidings

ORDER = {
    "id": "1695721550",
    "name": "Order summary",
    "message": {
        "channel": "email",
        "subject": "Order {{ ExternalTrigger.order_id }}",
        "html": "<p>Hi {{ Profile.name }}, {{ ExternalTrigger.Name | default: 'x' }}</p>",
    },
}
POINTS = {
    "id": "77",
    "name": "Loyalty points",
    "message": {"channel": "email", "subject": "Points", "html": "<p>{{ Profile.name }}</p>"},
}
PROFILES = [
    {"identity": "u1", "name": "Ann", "email": "ann@example.com"},
    {"identity": "u2", "name": "Bob", "email": "bob@example.com"},
    {"identity": "u3", "name": "Cy", "email": "bob@example.com"},  # two profiles, one address
    {
        "identity": "carol@example.com",
        "name": "Carol",
        "email": "carol@work.example.com",
    },  # identity is an address
]


@pytest.fixture
def ws():
    workspace = tidings.Workspace()
    workspace.upsert_profiles(PROFILES)
    workspace.publish_campaign(ORDER)
    workspace.publish_campaign(POINTS)
    return workspace


def _fail(error):
    return {"status": "fail", "error": error, "code": 400}


def test_the_vendors_sample_body_with_email_recipients(ws):
    result = ws.trigger_campaign(
        {
            "to": {"email": ["ann@example.com"]},
            "campaign_id": "1695721550",
            "ExternalTrigger": {"Name": "John Doe", "order_id": "A-1"},
        }
    )
    assert result.response == {
        "status": "success",
        "campaign_id": "1695721550",
        "processed": 1,
        "sent": 1,
        "skipped": 0,
    }
    [delivery] = result.deliveries
    assert delivery.identity == "u1"
    assert delivery.payload["subject"] == "Order A-1"
    assert "John Doe" in delivery.payload["html"]


def test_an_integer_campaign_id_names_the_same_campaign(ws):
    result = ws.trigger_campaign(
        {
            "to": {"email": ["ann@example.com"]},
            "campaign_id": 1695721550,
            "ExternalTrigger": {"order_id": "A"},
        }
    )
    assert result.ok
    assert result.response["campaign_id"] == "1695721550"


def test_an_email_reaches_every_profile_holding_it_and_unknown_ones_are_skipped(ws):
    result = ws.trigger_campaign(
        {
            "to": {"email": ["bob@EXAMPLE.com", "carol@example.com", "nobody@example.com"]},
            "campaign_id": 77,
        }
    )
    assert sorted(d.identity for d in result.deliveries) == ["carol@example.com", "u2", "u3"]
    assert [(s.identity, s.reason) for s in result.skips] == [
        ("nobody@example.com", "unknown_identity")
    ]
    assert result.response["processed"] == 4


def test_identity_and_email_lists_together_and_a_single_string(ws):
    result = ws.trigger_campaign(
        {"to": {"identity": "u1", "email": "bob@example.com"}, "campaign_id": "77"}
    )
    assert sorted(d.identity for d in result.deliveries) == ["u1", "u2", "u3"]


def test_per_recipient_entries_may_name_an_email(ws):
    result = ws.trigger_campaign(
        {
            "to": [
                {"email": "ann@example.com", "ExternalTrigger": {"order_id": "A"}},
                {"identity": "u2", "ExternalTrigger": {"order_id": "B"}},
            ],
            "campaign_id": 1695721550,
        }
    )
    subjects = {d.identity: d.payload["subject"] for d in result.deliveries}
    assert subjects == {"u1": "Order A", "u2": "Order B"}


def test_identity_lists_keep_working(ws):
    result = ws.trigger_campaign({"to": {"identity": ["u1", "ghost"]}, "campaign_id": "77"})
    assert result.response["sent"] == 1
    assert [(s.identity, s.reason) for s in result.skips] == [("ghost", "unknown_identity")]


@pytest.mark.parametrize(
    ("to", "error"),
    [
        ({"email": []}, '"to.email" has an incorrect value - []'),
        ({"email": ["not-an-address"]}, '"to.email" has an incorrect value - not-an-address'),
        ({"email": [3]}, '"to.email" has an incorrect value - 3'),
        (
            {"objectId": ["x"]},
            '"to.objectId" is not supported: name recipients by "identity" or "email"',
        ),
        ({}, '"to.identity" has an incorrect value - null'),
        ([{"email": 5}], '"to[0].email" has an incorrect value - 5'),
        ([{"email": "bad"}], '"to[0].email" has an incorrect value - bad'),
    ],
)
def test_bad_recipients_are_refused_naming_the_field(ws, to, error):
    assert ws.trigger_campaign({"to": to, "campaign_id": 77}).response == _fail(error)


def test_recipients_per_call_counts_emails_too(ws):
    ws.publish_campaign({**POINTS, "id": "small", "max_recipients_per_call": 2})
    body = {"to": {"identity": ["u1"], "email": ["a@example.com", "b@example.com"]}}
    result = ws.trigger_campaign({**body, "campaign_id": "small"})
    assert result.response == _fail("Too many recipients: 3 (at most 2 per call)")


# -- /2/send/externaltrigger.json ---------------------------------------------------------


def test_campaign_id_list_sends_each_campaign_to_the_same_recipients(ws):
    result = ws.trigger_campaigns(
        {
            "to": {"email": ["ann@example.com"]},
            "campaign_id_list": [1695721550, 77],
            "ExternalTrigger": {"order_id": "Z"},
        }
    )
    assert result.response == {
        "status": "success",
        "processed": 2,
        "sent": 2,
        "skipped": 0,
        "campaigns": [
            {"campaign_id": "1695721550", "processed": 1, "sent": 1, "skipped": 0},
            {"campaign_id": "77", "processed": 1, "sent": 1, "skipped": 0},
        ],
    }
    assert sorted(d.source_id for d in result.deliveries) == ["1695721550", "77"]
    assert set(result.summaries) == {"1695721550", "77"}


def test_d_sends_each_campaign_to_its_own_recipients(ws):
    result = ws.trigger_campaigns(
        {
            "d": [
                {
                    "to": {"identity": ["u1"]},
                    "campaign_id": 1695721550,
                    "ExternalTrigger": {"order_id": "1"},
                },
                {"to": {"email": ["bob@example.com"]}, "campaign_id": "77"},
            ]
        }
    )
    assert result.ok
    sent = sorted((d.source_id, d.identity) for d in result.deliveries)
    assert sent == [("1695721550", "u1"), ("77", "u2"), ("77", "u3")]
    assert result.response["sent"] == 3
    assert result.summary.sent == 3


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"campaign_id_list": [77] * 6, "to": {"identity": "u1"}},
            "Too many campaigns: 6 (at most 5 per call)",
        ),
        (
            {"d": [{"to": {"identity": "u1"}, "campaign_id": 77}] * 6},
            "Too many campaigns: 6 (at most 5 per call)",
        ),
        (
            {"campaign_id_list": [77, 404], "to": {"identity": "u1"}},
            "campaign_id_list[1]: Campaign Not Found",
        ),
        (
            {"d": [{"to": {"identity": "u1"}, "campaign_id": 77}, {"to": {}, "campaign_id": 77}]},
            'd[1]: "to.identity" has an incorrect value - null',
        ),
        (
            {"d": [{"to": {"identity": "u1"}, "campaign_id": 77}, 3]},
            '"d[1]" has an incorrect value - must be an object',
        ),
        (
            {"campaign_id_list": [77, "77"], "to": {"identity": "u1"}},
            '"campaign_id_list" names campaign 77 twice',
        ),
        (
            {"campaign_id_list": [], "to": {"identity": "u1"}},
            '"campaign_id_list" has an incorrect value - []',
        ),
        ({"d": {}}, '"d" has an incorrect value - {}'),
        ({"to": {"identity": "u1"}, "campaign_id": 77}, '"d" or "campaign_id_list" is required'),
    ],
)
def test_a_refused_multi_campaign_call_sends_nothing(ws, body, error):
    result = ws.trigger_campaigns(body)
    assert result.response == _fail(error)
    assert list(result.deliveries) == []
    assert ws.trigger_campaign({"to": {"identity": "u1"}, "campaign_id": 77}).response["sent"] == 1


def test_a_multi_campaign_call_replays_under_its_idempotency_key(ws):
    body = {
        "to": {"identity": ["u1"]},
        "campaign_id_list": [77, 1695721550],
        "ExternalTrigger": {"order_id": "A"},
        "idempotency_key": "k1",
    }
    first = ws.trigger_campaigns(body)
    again = ws.trigger_campaigns(body)
    assert again.response == first.response
    assert len(list(first.deliveries)) == 2
    assert list(again.deliveries) == []
