"""Create Campaign, Message via Identity, uploads, stats and the activity log over HTTP."""

import json

import httpx
import pytest


def _headers(account=("acme", "acme-passcode"), content_type="application/json"):
    return {
        "X-CleverTap-Account-Id": account[0],
        "X-CleverTap-Passcode": account[1],
        "Content-Type": content_type,
    }


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_create_campaign_publishes_and_the_campaign_can_be_triggered(client):
    body = {
        "name": "Welcome",
        "channel": "push",
        "content": {"title": "Hi {{ Profile.name }}", "body": "{{ ExternalTrigger.code }}"},
    }
    created = client.post("/1/targets/create.json", headers=_headers(), json=body)
    assert created.status_code == 200
    answer = created.json()
    assert answer["status"] == "success"
    trigger = {
        "to": {"identity": ["user-0"]},
        "campaign_id": answer["id"],
        "ExternalTrigger": {"code": "42"},
    }
    sent = client.post("/1/send/externaltrigger.json", headers=_headers(), json=trigger)
    assert sent.json()["sent"] == 1


def test_create_campaign_with_a_bad_template_names_the_problem(client):
    body = {
        "name": "Broken",
        "channel": "push",
        "content": {"title": "{{ Profle.name }}", "body": "x"},
    }
    response = client.post("/1/targets/create.json", headers=_headers(), json=body)
    assert response.status_code == 400
    answer = response.json()
    assert (answer["status"], answer["code"]) == ("fail", 400)
    assert "Profle" in answer["error"]


def test_message_via_identity_takes_the_channel_from_the_path(client, live):
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    body = {
        "to": {"Identity": ["user-1"]},
        "content": {"title": "Hello {{ Profile.name }}", "body": "From the API"},
    }
    response = client.post("/1/send/push.json", headers=_headers(), json=body)
    assert response.status_code == 200
    assert response.json()["sent"] == 1
    [record] = [json.loads(line) for line in _lines(sink)[before:]]
    assert record["identity"] == "user-1"
    assert record["channel"] == "push"
    assert "User 1" in json.dumps(record)


def test_an_unknown_channel_is_a_fail_body(client):
    response = client.post("/1/send/fax.json", headers=_headers(), json={"to": {}})
    assert response.status_code == 400
    assert response.json()["status"] == "fail"


def test_upload_json_profiles_and_events(client, live):
    body = {
        "d": [
            {
                "identity": "new-1",
                "type": "profile",
                "profileData": {"Name": "Nia", "Email": "nia@example.com", "Tier": "Gold"},
            },
            {
                "identity": "new-1",
                "type": "event",
                "evtName": "Charged",
                "evtData": {"Amount": 3},
                "ts": 1767225600,
            },
            {"identity": "new-2", "type": "profile", "profileData": {"Email": "not an address"}},
        ]
    }
    response = client.post("/1/upload", headers=_headers(), json=body)
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["processed"]) == ("partial", 2)
    [bad] = answer["unprocessed"]
    assert (bad["index"], bad["code"], bad["status"]) == (2, 400, "fail")
    assert "email" in bad["error"]
    # The uploaded profile is reachable by email at once.
    trigger = {
        "to": {"email": ["nia@example.com"]},
        "campaign_id": live.campaigns["acme"],
        "ExternalTrigger": {"order_id": "U-1"},
    }
    assert (
        client.post("/1/send/externaltrigger.json", headers=_headers(), json=trigger).json()["sent"]
        == 1
    )


def test_upload_json_lines(client):
    lines = "\n".join(
        json.dumps({"identity": f"jl-{i}", "type": "profile", "profileData": {"Name": f"J{i}"}})
        for i in range(3)
    )
    response = client.post(
        "/1/upload", headers=_headers(content_type="application/x-ndjson"), content=lines + "\n\n"
    )
    assert response.json() == {"status": "success", "processed": 3, "unprocessed": []}


def test_upload_json_lines_with_a_broken_line_names_it(client):
    content = '{"identity": "a", "type": "profile", "profileData": {}}\n{"identity": \n'
    response = client.post(
        "/1/upload", headers=_headers(content_type="application/jsonl"), content=content
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Request body is not valid JSON: line 2:")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"d": []}, '"d" has an incorrect value - []'),
        ({"d": [{}] * 1001}, "Too many records: 1001 (at most 1000 per call)"),
        ({"x": 1}, '"d" has an incorrect value - null'),
    ],
)
def test_upload_refusals(client, body, error):
    response = client.post("/1/upload", headers=_headers(), json=body)
    assert response.status_code == 400
    assert response.json() == {"status": "fail", "error": error, "code": 400}


def test_stats_per_campaign_and_bulletin(client, live):
    client.post("/1/targets/trigger.json", headers=_headers(), json=live.raise_body)
    response = client.get("/1/stats.json", headers=_headers())
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "success"
    by_id = {s["source_id"]: s for s in answer["sources"]}
    assert by_id["new-episode"]["kind"] == "bulletin"
    assert by_id["new-episode"]["sent"] >= 5
    only = client.get(
        "/1/stats.json", headers=_headers(), params={"id": live.campaigns["acme"]}
    ).json()
    assert [s["source_id"] for s in only["sources"]] == [live.campaigns["acme"]]


def test_activity_log_as_json(client, live):
    client.post("/1/targets/trigger.json", headers=_headers(), json=live.raise_body)
    answer = client.get("/1/activity.json", headers=_headers()).json()
    assert answer["status"] == "success"
    entry = answer["activity"][0]
    assert (entry["business_event"], entry["bulletin_id"]) == ("Program Released", "new-episode")
    none = client.get(
        "/1/activity.json", headers=_headers(), params={"business_event": "Other"}
    ).json()
    assert none["activity"] == []
    bad = client.get("/1/activity.json", headers=_headers(), params={"since": "soon"})
    assert bad.status_code == 400
    assert bad.json()["error"] == '"since" has an incorrect value - soon'


def test_reads_need_credentials_and_see_one_account(client, live):
    assert client.get("/1/stats.json").status_code == 401
    assert client.get("/1/activity.json", headers=_headers(("acme", "nope"))).status_code == 401
    body = {"name": "Acme only", "channel": "push", "content": {"title": "t", "body": "b"}}
    client.post("/1/targets/create.json", headers=_headers(), json=body)
    globex = client.get("/1/stats.json", headers=_headers(("globex", "globex-passcode"))).json()
    acme = client.get("/1/stats.json", headers=_headers()).json()
    assert "Acme only" in {s["name"] for s in acme["sources"]}
    assert "Acme only" not in {s["name"] for s in globex["sources"]}


def test_create_campaign_with_an_idempotency_key_is_answered_once(client):
    body = {"name": "Once", "channel": "push", "content": {"title": "t", "body": "b"}}
    headers = {**_headers(), "Idempotency-Key": "create-once"}
    first = client.post("/1/targets/create.json", headers=headers, json=body)
    again = client.post("/1/targets/create.json", headers=headers, json=body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()


def test_upload_with_an_idempotency_key_is_answered_once(client):
    body = {"d": [{"identity": "idem-1", "type": "profile", "profileData": {"Name": "I"}}]}
    headers = {**_headers(), "Idempotency-Key": "upload-once"}
    first = client.post("/1/upload", headers=headers, json=body)
    again = client.post("/1/upload", headers=headers, json=body)
    assert first.json() == again.json() == {"status": "success", "processed": 1, "unprocessed": []}
