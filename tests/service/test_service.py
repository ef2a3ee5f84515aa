"""The HTTP service against a live uvicorn server: vendor bodies, auth, limits, idempotency."""

import json
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

SEEDS = Path("/work/shared/seeds/bulletins-api.txt")


def _headers(account=("acme", "acme-passcode"), **extra):
    return {
        "X-CleverTap-Account-Id": account[0],
        "X-CleverTap-Passcode": account[1],
        "Content-Type": "application/json",
        **extra,
    }


def _fail(error, code=400):
    return {"status": "fail", "error": error, "code": code}


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        yield client


def test_healthz_needs_no_credentials(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_raise_business_event_answers_like_the_vendor(client, live):
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    response = client.post("/1/targets/trigger.json", headers=_headers(), json=live.raise_body)
    assert response.status_code == 200
    assert response.json() == {"status": "success", "targets": 1}
    written = [json.loads(line) for line in _lines(sink)[before:]]
    assert len(written) == 5
    assert {record["identity"] for record in written} == {f"user-{i}" for i in range(5)}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"business_event": "Episode Release"}, "Business Event Not Found"),
        ({"when": None}, '"when" has an incorrect value - null'),
        ({"properties": {"program_id": "1"}}, "Property language missing"),
    ],
)
def test_vendor_errors_are_400_with_the_fail_body(client, live, change, error):
    body = {**live.raise_body, **change}
    response = client.post("/1/targets/trigger.json", headers=_headers(), json=body)
    assert response.status_code == 400
    assert response.json() == _fail(error)


@pytest.mark.parametrize(
    ("content", "content_type", "error"),
    [
        (b'{"business_event":true"}', "application/json", "Request body is not valid JSON"),
        (b"[1, 2]", "application/json", "Request body must be a JSON object"),
        (b'"text"', "application/json", "Request body must be a JSON object"),
        (b'{"a": NaN}', "application/json", "Request body is not valid JSON"),
        (b"\xff\xfe", "application/json", "Request body is not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", None),
        (b"{}", "text/plain", "Content-Type must be application/json"),
        (b"{}", None, "Content-Type must be application/json"),
    ],
)
def test_bad_bodies_get_the_fail_body_never_a_500(client, content, content_type, error):
    headers = _headers()
    if content_type is None:
        del headers["Content-Type"]
    else:
        headers["Content-Type"] = content_type
    response = client.post("/1/targets/trigger.json", headers=headers, content=content)
    body = response.json()
    if len(content) > 65536:
        assert response.status_code == 413
        assert body["code"] == 413
        return
    assert response.status_code == 400
    assert body["status"] == "fail"
    assert body["code"] == 400
    assert body["error"].startswith(error)


def test_body_over_the_limit_is_413_even_without_content_length(client, live):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = client.post("/1/targets/trigger.json", headers=_headers(), content=chunks())
    assert response.status_code == 413
    assert response.json() == _fail("Request body is larger than 65536 bytes", 413)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"X-CleverTap-Account-Id": "acme", "Content-Type": "application/json"},
        _headers(("acme", "wrong")),
        _headers(("acme", "globex-passcode")),
        _headers(("nobody", "acme-passcode")),
        _headers(("acme", "")),
    ],
    ids=["no headers", "no passcode", "wrong passcode", "other account's", "no account", "empty"],
)
def test_bad_credentials_are_401_and_send_nothing(client, live, headers):
    sink = live.config.accounts["acme"].sink
    before = len(_lines(sink))
    response = client.post("/1/targets/trigger.json", headers=headers, json=live.raise_body)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "fail"
    assert body["code"] == 401
    assert len(_lines(sink)) == before


def test_accounts_see_only_their_own_campaigns(client, live):
    """Account B's credentials on account A's campaign: refused, nothing sent."""
    acme_id, globex_id = live.campaigns["acme"], live.campaigns["globex"]
    body = {"to": {"identity": ["user-0"]}, "campaign_id": acme_id, "ExternalTrigger": {}}
    if acme_id != globex_id:  # ids are per workspace; only a foreign id is "not found"
        response = client.post(
            "/1/send/externaltrigger.json",
            headers=_headers(("globex", "globex-passcode")),
            json=body,
        )
        assert response.status_code == 400
        assert response.json() == _fail("Campaign Not Found")
    globex_sink = live.config.accounts["globex"].sink
    before = len(_lines(globex_sink))
    response = client.post(
        "/1/targets/trigger.json",
        headers=_headers(("globex", "globex-passcode")),
        json=live.raise_body,
    )
    assert response.json() == {"status": "success", "targets": 1}
    identities = {json.loads(line)["identity"] for line in _lines(globex_sink)[before:]}
    assert identities == {"user-0", "user-1", "user-2"}  # globex's 3 users, not acme's 5


def test_trigger_campaign(client, live):
    body = {
        "to": {"identity": ["user-1", "user-2"]},
        "campaign_id": live.campaigns["acme"],
        "ExternalTrigger": {"order_id": "A-17"},
    }
    response = client.post("/1/send/externaltrigger.json", headers=_headers(), json=body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["status"] == "success"
    assert answer["sent"] == 2


def test_unknown_campaign_is_the_vendor_fail(client):
    body = {"to": {"identity": ["user-1"]}, "campaign_id": "nope", "ExternalTrigger": {}}
    response = client.post("/1/send/externaltrigger.json", headers=_headers(), json=body)
    assert response.status_code == 400
    assert response.json() == _fail("Campaign Not Found")


def test_idempotency_key_replays_the_first_answer_and_sends_nothing_twice(client, live):
    sink = live.config.accounts["acme"].sink
    body = {
        "to": {"identity": ["user-3"]},
        "campaign_id": live.campaigns["acme"],
        "ExternalTrigger": {"order_id": "B-1"},
    }
    headers = _headers(**{"Idempotency-Key": "order-B-1"})
    before = len(_lines(sink))
    first = client.post("/1/send/externaltrigger.json", headers=headers, json=body)
    after_first = len(_lines(sink))
    again = client.post(
        "/1/send/externaltrigger.json",
        headers=headers,
        content=json.dumps(body, indent=2, sort_keys=True),  # same body, other spelling
    )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert first.json()["sent"] == 1
    assert after_first == before + 1
    assert len(_lines(sink)) == after_first
    other = client.post(
        "/1/send/externaltrigger.json",
        headers=headers,
        json={**body, "ExternalTrigger": {"order_id": "B-2"}},
    )
    assert other.status_code == 409
    assert other.json()["code"] == 409
    assert "order-B-1" in other.json()["error"]
    assert len(_lines(sink)) == after_first


def test_idempotency_keys_are_per_endpoint_and_checked(client, live):
    headers = _headers(**{"Idempotency-Key": "x" * 256})
    response = client.post("/1/targets/trigger.json", headers=headers, json=live.raise_body)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]


def test_unknown_paths_and_methods_answer_json(client):
    missing = client.get("/1/nothing.json")
    assert missing.status_code == 404
    assert missing.json()["status"] == "fail"
    wrong_method = client.get("/1/targets/trigger.json")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == 405


def test_openapi_document_lists_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/1/targets/trigger.json", "/1/send/externaltrigger.json", "/healthz"} <= set(paths)


def _seed_curl_command():
    """The seed's curl snippet (continuation lines joined), as the docs show it."""
    text = SEEDS.read_text(encoding="utf-8")
    start = text.index("curl -X POST")
    lines = []
    for line in text[start:].splitlines():
        lines.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    return " ".join(lines)


def _as_client(command, live, account, passcode):
    return (
        command.replace("https://location.api.clevertap.com", live.url)
        .replace("ACCOUNT_ID", account)
        .replace("PASSCODE", passcode)
    )


def test_seed_curl_snippet_runs_unchanged_but_for_url_and_credentials(live):
    command = _as_client(_seed_curl_command(), live, "acme", "acme-passcode")
    args = [*shlex.split(command), "--silent", "--show-error", "--write-out", "\n%{http_code}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    body, status = done.stdout.rsplit("\n", 1)
    # The seed's example body is itself malformed JSON: the vendor-style 400 answer.
    assert status == "400"
    answer = json.loads(body)
    assert answer["status"] == "fail"
    assert answer["error"].startswith("Request body is not valid JSON")
    good = shlex.split(command.replace(_seed_body(command), json.dumps(live.raise_body)))
    done = subprocess.run(
        [*good, "--silent", "--show-error"], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == {"status": "success", "targets": 1}


def _seed_body(command):
    return shlex.split(command)[shlex.split(command).index("-d") + 1]


def _seed_python_snippet():
    """The seed's Python ``requests`` snippet, exactly as the docs show it."""
    text = SEEDS.read_text(encoding="utf-8")
    start = text.index("import requests")
    end = text.index("\n", text.index("response = requests.post", start))
    return text[start:end]


def test_seed_python_requests_snippet_runs_unchanged_but_for_url_and_credentials(live):
    """The seed's snippet run with ``requests``: its own body, then a valid one."""
    source = _as_client(_seed_python_snippet(), live, "acme", "acme-passcode")
    namespace = {}
    exec(compile(source, "bulletins-api.txt", "exec"), namespace)  # noqa: S102 - the seed's own code
    response = namespace["response"]
    assert response.status_code == 400
    assert response.json() == _fail("Business Event Not Found")
    good = source.replace(
        """data = '{"user_type":true}'""", f"data = {json.dumps(live.raise_body)!r}"
    )
    assert good != source
    namespace = {}
    exec(compile(good, "bulletins-api.txt", "exec"), namespace)  # noqa: S102 - the seed's own code
    assert namespace["response"].status_code == 200
    assert namespace["response"].json() == {"status": "success", "targets": 1}


def test_external_trigger_with_requests(live):
    """The vendor's External Trigger sample body, sent the way the seed's snippet sends."""
    import requests

    headers = {
        "X-CleverTap-Account-Id": "acme",
        "X-CleverTap-Passcode": "acme-passcode",
        "Content-Type": "application/json",
    }
    data = json.dumps(
        {
            "to": {"email": ["user3@example.com"]},
            "campaign_id": int(live.campaigns["acme"]),
            "ExternalTrigger": {"Name": "John Doe", "order_id": "R-1"},
        }
    )
    response = requests.post(
        f"{live.url}/1/send/externaltrigger.json", headers=headers, data=data, timeout=30
    )
    assert response.status_code == 200
    assert response.json()["sent"] == 1
