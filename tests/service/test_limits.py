"""Limits: the token bucket, its config, 429 with Retry-After, recipients per call."""

import httpx
import pytest

from tidings.errors import ArgumentError
from tidings.service import load_config
from tidings.service._limits import RateLimit, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_bucket_grants_its_burst_then_says_how_long_to_wait():
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=2.0, burst=3), clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(0.5)


def test_a_bucket_never_holds_more_than_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=10.0, burst=2), clock)
    clock.now += 3600
    assert [bucket.take() for _ in range(3)][-1] > 0


def test_granted_requests_never_exceed_burst_plus_rate_times_time():
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=5.0, burst=4), clock)
    granted = 0
    for _ in range(1000):
        clock.now += 0.01
        granted += bucket.take() == 0.0
    assert granted <= 4 + 5.0 * 10 + 1
    assert granted >= 5.0 * 10 - 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (float("nan"), 1), (1, 0)])
def test_a_rate_limit_must_be_positive(rate, burst):
    with pytest.raises(ArgumentError):
        RateLimit(rate=rate, burst=burst)


def _config(tmp_path, service="", account=""):
    from tidings.service import hash_passcode

    path = tmp_path / "service.toml"
    path.write_text(
        f'[service]\n{service}[[accounts]]\nid = "a"\npasscode = "{hash_passcode("p")}"\n{account}',
        encoding="utf-8",
    )
    return load_config(path)


def test_config_defaults_and_overrides(tmp_path):
    default = _config(tmp_path)
    assert default.accounts["a"].rate_limit == RateLimit(rate=100.0, burst=200)
    assert default.max_recipients_per_call == 1000
    tuned = _config(tmp_path, "rate_limit = 5\nmax_recipients_per_call = 10\n", "rate_limit = 50\n")
    assert tuned.accounts["a"].rate_limit == RateLimit(rate=50.0, burst=200)
    assert tuned.max_recipients_per_call == 10
    assert _config(tmp_path, "rate_limit = 0\n").accounts["a"].rate_limit is None
    assert _config(tmp_path, "", "rate_limit = 0\n").accounts["a"].rate_limit is None


@pytest.mark.parametrize(
    ("service", "field"),
    [
        ("rate_limit = -1\n", "service.rate_limit"),
        ('rate_limit = "fast"\n', "service.rate_limit"),
        ("rate_burst = 0\n", "service.rate_burst"),
        ("max_recipients_per_call = 0\n", "service.max_recipients_per_call"),
    ],
)
def test_bad_limits_name_their_field(tmp_path, service, field):
    with pytest.raises(ArgumentError, match=field):
        _config(tmp_path, service)


def _headers(account=("acme", "acme-passcode")):
    return {
        "X-CleverTap-Account-Id": account[0],
        "X-CleverTap-Passcode": account[1],
        "Content-Type": "application/json",
    }


def test_past_the_rate_limit_is_429_with_retry_after_and_other_accounts_go_on(limited):
    with httpx.Client(base_url=limited.url, timeout=30) as client:
        answers = [client.get("/1/activity.json", headers=_headers()) for _ in range(6)]
        codes = [a.status_code for a in answers]
        assert codes[:3] == [200, 200, 200]
        refused = [a for a in answers if a.status_code == 429]
        assert refused, codes
        body = refused[0].json()
        assert (body["status"], body["code"]) == ("fail", 429)
        assert int(refused[0].headers["Retry-After"]) >= 1
        # Another account has its own bucket.
        other = client.get("/1/activity.json", headers=_headers(("globex", "globex-passcode")))
        assert other.status_code == 200


def test_more_recipients_than_the_service_allows_is_refused_before_sending(limited):
    campaign = limited.campaigns["globex"]
    body = {
        "to": {"identity": ["user-0", "user-1"]},
        "campaign_id_list": [campaign, campaign],
        "ExternalTrigger": {"order_id": "x"},
    }
    headers = _headers(("globex", "globex-passcode"))
    with httpx.Client(base_url=limited.url, timeout=30) as client:
        response = client.post("/2/send/externaltrigger.json", headers=headers, json=body)
    assert response.status_code == 400
    assert response.json() == {
        "status": "fail",
        "error": "Too many recipients: 4 (at most 3 per call)",
        "code": 400,
    }
    sink = limited.config.accounts["globex"].sink
    assert not sink.exists() or sink.read_text(encoding="utf-8") == ""
