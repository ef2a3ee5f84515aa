"""CleverTap opt-outs: MSG-email / MSG-push false ends as Skip("unsubscribed") (issue 11, 5)."""

import pytest

import tidings
from tidings.stats import source_stats

EMAIL = {"channel": "email", "subject": "Hi", "html": "<p>Hi</p>"}
PUSH = {"channel": "push", "title": "Hi", "body": "there"}
WEBHOOK = {"channel": "webhook", "url": "https://hooks.example.com/x", "body": "{}"}


def _profile(identity: str, **flags) -> dict:
    return {
        "identity": identity,
        "email": f"{identity}@example.com",
        "push_tokens": [f"tok-{identity}"],
        "properties": dict(flags),
    }


@pytest.fixture(params=["memory", "sqlite"])
def ws(request, tmp_path):
    if request.param == "memory":
        workspace = tidings.Workspace()
    else:
        workspace = tidings.Workspace.sqlite(tmp_path / "ws.db")
    workspace.upsert_profiles(
        [
            _profile("subscribed", **{"MSG-email": True, "MSG-push": True}),
            _profile("no-email", **{"MSG-email": False}),
            _profile("no-push", **{"MSG-push": "false"}),
            _profile("no-flags"),
        ]
    )
    yield workspace
    workspace.close()


def _send(ws, message: dict) -> tidings.Dispatch:
    campaign_id = ws.publish_campaign({"name": "c", "message": message})
    recipients = ["subscribed", "no-email", "no-push", "no-flags"]
    return ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": recipients}})


@pytest.mark.parametrize(
    ("message", "opted_out"),
    [(EMAIL, {"no-email"}), (PUSH, {"no-push"}), (WEBHOOK, set())],
)
def test_opted_out_users_are_skipped_as_unsubscribed(ws, message, opted_out):
    result = _send(ws, message)
    skips = {s.identity: s.reason for s in result.skips}
    assert skips == dict.fromkeys(opted_out, "unsubscribed")
    assert {d.identity for d in result.deliveries} == (
        {"subscribed", "no-email", "no-push", "no-flags"} - opted_out
    )
    # counted with the non-technical errors, not the technical ones
    assert result.summary.non_technical_errors == len(opted_out)
    assert result.summary.errors == 0


def test_upsert_profiles_updates_the_flags(ws):
    ws.upsert_profiles([_profile("subscribed", **{"MSG-email": False})])
    assert {s.identity for s in _send(ws, EMAIL).skips} == {"subscribed", "no-email"}
    ws.upsert_profiles([_profile("subscribed", **{"MSG-email": True})])
    assert {s.identity for s in _send(ws, EMAIL).skips} == {"no-email"}


def test_stats_count_unsubscribed_as_non_technical(ws):
    campaign_id = ws.publish_campaign({"name": "c", "message": EMAIL})
    ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": ["no-email"]}})
    source = source_stats(ws, campaign_id)
    assert source.non_technical_errors == 1
    assert source.technical_errors == 0
