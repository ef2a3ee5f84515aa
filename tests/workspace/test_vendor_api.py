"""Every documented vendor error string and limit of the Bulletins API."""

import pytest


@pytest.fixture
def ws(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    workspace.publish_bulletin(story.GENRE_BULLETIN)
    return workspace


def _fail(error):
    return {"status": "fail", "error": error, "code": 400}


def test_success_shape(ws, story):
    assert ws.raise_business_event(story.RAISE_BODY).response == {
        "status": "success",
        "targets": 1,
    }


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"business_event": "Episode Release"}, "Business Event Not Found"),
        ({"business_event": None}, "Business Event Not Found"),
        ({"when": None}, '"when" has an incorrect value - null'),
        ({"when": "yesterday-ish"}, '"when" has an incorrect value - yesterday-ish'),
        ({"name": None}, '"name" has an incorrect value - null'),
        ({"c-by": None}, '"c-by" has an incorrect value - null'),
        ({"properties": None}, '"properties" has an incorrect value - null'),
    ],
)
def test_documented_errors(ws, story, change, error):
    body = {**story.RAISE_BODY, **change}
    result = ws.raise_business_event(body)
    assert result.response == _fail(error)
    assert not result.ok
    assert list(result.deliveries) == []


def test_missing_when_key_is_null(ws, story):
    body = dict(story.RAISE_BODY)
    del body["when"]
    assert ws.raise_business_event(body).response == _fail('"when" has an incorrect value - null')


def test_missing_property(ws, story):
    body = dict(story.RAISE_BODY, properties={"program_id": "1", "language": "Hindi"})
    assert ws.raise_business_event(body).response == _fail("Property genre missing")


def test_property_values_must_be_strings(ws, story):
    body = dict(story.RAISE_BODY, properties={**story.RAISE_BODY["properties"], "genre": 7})
    assert ws.raise_business_event(body).response == _fail("Property genre must be a string")


def test_property_value_limit_is_512_bytes(ws, story):
    props = dict(story.RAISE_BODY["properties"])
    props["program_id"] = "é" * 256  # 512 bytes: allowed
    assert ws.raise_business_event(dict(story.RAISE_BODY, properties=props)).ok
    props["program_id"] = "é" * 256 + "x"  # 513 bytes
    result = ws.raise_business_event(dict(story.RAISE_BODY, properties=props))
    assert result.response == _fail("Property program_id value exceeds 512 bytes")


def test_event_key_limit_is_120_characters(ws, story):
    props = dict(story.RAISE_BODY["properties"])
    props["k" * 120] = "ok"
    assert ws.raise_business_event(dict(story.RAISE_BODY, properties=props)).ok
    props["k" * 121] = "too long"
    result = ws.raise_business_event(dict(story.RAISE_BODY, properties=props))
    assert result.response["status"] == "fail"
    assert "exceeds 120 characters" in result.response["error"]


def test_malformed_body(ws):
    assert ws.raise_business_event(["not", "an", "object"]).response["status"] == "fail"


@pytest.mark.parametrize("when", ["2026-11-27T12:00:00+00:00", 1795780800, "now"])
def test_when_accepts_now_or_a_timestamp(ws, story, when):
    assert ws.raise_business_event(dict(story.RAISE_BODY, when=when)).ok


def test_replay_with_idempotency_key_sends_nothing_new(ws, story):
    body = dict(story.RAISE_BODY, idempotency_key="once")
    first = ws.raise_business_event(body)
    again = ws.raise_business_event(body)
    assert again.response == first.response
    assert list(again.deliveries) == []
    assert len(ws.activity_log()) == 1
