"""External Trigger over HTTP: the vendor's documented bodies, /1 and /2, with real clients."""

import json
import subprocess

import httpx
import pytest


def _headers(account=("acme", "acme-passcode")):
    return {
        "X-CleverTap-Account-Id": account[0],
        "X-CleverTap-Passcode": account[1],
        "Content-Type": "application/json",
    }


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_the_vendors_curl_sample_with_email_recipients(live):
    """The External Trigger API page's curl sample: only base URL, credentials and data changed."""
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    body = {
        "to": {"email": ["user4@example.com"]},
        "campaign_id": int(live.campaigns["acme"]),
        "ExternalTrigger": {"Name": "John Doe", "order_id": "C-9"},
    }
    done = subprocess.run(
        [
            "curl",
            "--location",
            f"{live.url}/1/send/externaltrigger.json",
            "--header",
            "X-CleverTap-Account-Id: acme",
            "--header",
            "X-CleverTap-Passcode: acme-passcode",
            "--header",
            "Content-Type: application/json",
            "--data-raw",
            json.dumps(body, indent=4),
            "--silent",
            "--show-error",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {
        "status": "success",
        "campaign_id": live.campaigns["acme"],
        "processed": 1,
        "sent": 1,
        "skipped": 0,
    }
    [line] = _lines(sink)[before:]
    record = json.loads(line)
    assert record["identity"] == "user-4"
    assert "C-9" in json.dumps(record)


def test_two_campaign_ids_in_one_call(client, live):
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    body = {
        "d": [
            {
                "to": {"identity": ["user-0"]},
                "campaign_id": live.campaigns["acme"],
                "ExternalTrigger": {"order_id": "D-1"},
            },
            {
                "to": {"email": ["user1@example.com", "user2@example.com"]},
                "campaign_id": int(live.campaigns["acme"]),
                "ExternalTrigger": {"order_id": "D-2"},
            },
        ]
    }
    response = client.post(
        "/2/send/externaltrigger.json",
        headers={**_headers(), "X-CleverTap-Token": "accepted-and-ignored"},
        json=body,
    )
    assert response.status_code == 200
    answer = response.json()
    assert (answer["status"], answer["processed"], answer["sent"]) == ("success", 3, 3)
    assert [c["sent"] for c in answer["campaigns"]] == [1, 2]
    written = [json.loads(line) for line in _lines(sink)[before:]]
    assert sorted(r["identity"] for r in written) == ["user-0", "user-1", "user-2"]


def test_more_than_five_campaigns_is_the_vendor_fail_and_sends_nothing(client, live):
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    body = {
        "to": {"identity": ["user-0"]},
        "campaign_id_list": [live.campaigns["acme"]] * 6,
        "ExternalTrigger": {"order_id": "E"},
    }
    response = client.post("/2/send/externaltrigger.json", headers=_headers(), json=body)
    assert response.status_code == 400
    assert response.json() == {
        "status": "fail",
        "error": "Too many campaigns: 6 (at most 5 per call)",
        "code": 400,
    }
    assert len(_lines(sink)) == before


def test_an_unknown_campaign_in_a_multi_call_is_not_found(client, live):
    body = {
        "to": {"identity": ["user-0"]},
        "campaign_id_list": ["no-such-campaign"],
        "ExternalTrigger": {"order_id": "F"},
    }
    response = client.post(
        "/2/send/externaltrigger.json", headers=_headers(("globex", "globex-passcode")), json=body
    )
    assert response.status_code == 400
    assert response.json()["error"] == "campaign_id_list[0]: Campaign Not Found"


def test_openapi_lists_the_multi_campaign_endpoint(client):
    assert "/2/send/externaltrigger.json" in client.get("/openapi.json").json()["paths"]
