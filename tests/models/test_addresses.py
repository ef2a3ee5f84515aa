"""Email addresses: one valid address or a refusal, at the edge and before each delivery."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

import tidings
from tidings.errors import ProfileError
from tidings.models.addresses import _PLAIN, _plain, email_problem, normalize_email

BAD = [
    "v@x.test\r\nBcc: all@evil.test",
    "a@example.com, b@evil.example.com",
    "a@example.com\nb@example.com",
    "Ann <ann@example.com>",
    "ann",
    "ann@",
    "@example.com",
    "ann@localhost",
    "ann@x.test",
    "ann@[127.0.0.1]",
    '"a b"@example.com',
    "a..b@example.com",
    "ann@example..com",
    "ann @example.com",
    "",
    "ann@" + "x" * 64 + ".com",
]


@pytest.mark.parametrize("address", BAD)
def test_bad_addresses_are_refused_at_the_edge(address):
    assert email_problem(address)
    with pytest.raises(ProfileError) as info:
        tidings.UserProfile(identity="u", email=address)
    assert info.value.field == "email"


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Ann.Lee+tag@Example.COM", "Ann.Lee+tag@example.com"),
        ("ünï@exämple.com", "ünï@exämple.com"),
    ],
)
def test_good_addresses_are_kept_normalized(address, normalized):
    assert email_problem(address) is None
    assert tidings.UserProfile(identity="u", email=address).email == normalized


@given(st.from_regex(_PLAIN, fullmatch=True))
def test_plain_fast_path_accepts_only_what_email_validator_accepts_unchanged(address):
    if not _plain(address):
        return
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:  # pragma: no cover - a failure of the fast path
        pytest.fail(f"fast path accepted {address!r}, email-validator refuses: {exc}")
    assert result.normalized == address
    assert normalize_email(address) == address


def test_a_bad_address_already_in_the_store_is_a_skip_not_a_delivery():
    ws = tidings.Workspace()
    good = tidings.UserProfile(identity="good", email="good@example.com")
    # A row that reached the store without validation (an old database, a trusted load).
    bad = tidings.UserProfile.model_construct(
        identity="bad",
        name=None,
        email="v@x.test\r\nBcc: all@evil.test",
        push_tokens=(),
        timezone=None,
        properties={},
    )
    ws.store.upsert_profiles([good, bad])
    campaign_id = ws.publish_campaign(
        {"name": "c", "message": {"channel": "email", "subject": "Hi", "html": "<p>Hi</p>"}}
    )
    result = ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": ["good", "bad"]}})
    assert [d.to for d in result.deliveries] == [("good@example.com",)]
    (skip,) = result.skips
    assert skip.identity == "bad"
    assert skip.reason == "invalid_email"
    assert "invalid characters" in skip.detail
