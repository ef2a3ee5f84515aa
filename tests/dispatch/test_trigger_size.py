"""One measure of ExternalTrigger data: shared and per-recipient data meet the same limit."""

import json

import pytest

import tidings
from tidings.models.trigger import trigger_size


@pytest.mark.parametrize(
    "data",
    [{}, {"a": 1}, {"k": "é", "n": [1, 2.5, None]}, {"nested": {"x": '"quoted"', "y": []}}],
)
def test_size_is_compact_utf8_json(data):
    compact = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    assert trigger_size(data) == len(compact.encode())


def _workspace():
    ws = tidings.Workspace()
    ws.upsert_profiles([{"identity": "u1", "push_tokens": ["t"]}])
    campaign = ws.publish_campaign(
        {
            "name": "c",
            "message": {"channel": "push", "title": "t", "body": "{{ ExternalTrigger.note }}"},
            "max_trigger_bytes": 40,
        }
    )
    return ws, campaign


@pytest.mark.parametrize("extra", [0, 1])
def test_shared_and_per_recipient_data_meet_the_same_limit(extra):
    ws, campaign = _workspace()
    data = {"note": "x" * (40 - len('{"note":""}') + extra)}
    shared = ws.trigger_campaign(
        {"campaign_id": campaign, "to": {"identity": ["u1"]}, "ExternalTrigger": data}
    )
    own = ws.trigger_campaign(
        {"campaign_id": campaign, "to": [{"identity": "u1", "ExternalTrigger": data}]}
    )
    if extra == 0:  # exactly at the limit: both are sent
        assert shared.response["sent"] == own.response["sent"] == 1
    else:  # one byte over: refused as a request, skipped as a recipient
        assert shared.response["error"] == (
            "ExternalTrigger data is 41 bytes, over the limit of 40 bytes"
        )
        skips = list(own.skips)
        assert [s.reason for s in skips] == ["trigger_too_large"]
        assert "41 bytes" in skips[0].detail
