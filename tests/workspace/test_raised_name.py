"""The raised bulletin's name is BusinessEvent.name; its type is BusinessEvent.event (issue 11, 2)."""

import pytest

import tidings


@pytest.fixture(params=["memory", "sqlite"])
def ws(request, tmp_path):
    if request.param == "memory":
        workspace = tidings.Workspace()
    else:
        workspace = tidings.Workspace.sqlite(tmp_path / "ws.db")
    workspace.upsert_profiles([{"identity": "u1", "push_tokens": ["t1"]}])
    workspace.record_events(
        [
            {
                "identity": "u1",
                "name": "Movie Watched",
                "properties": {"genre": "Drama"},
                "timestamp": "2026-01-01T00:00:00+00:00",
            }
        ]
    )
    workspace.define_business_event({"name": "Program Released", "properties": ["genre"]})
    yield workspace
    workspace.close()


def _publish(ws, title: str) -> None:
    ws.publish_bulletin(
        {
            "id": "b1",
            "name": "New in your genre",
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {"channel": "push", "title": title, "body": "{{ BusinessEvent.genre }}"},
            "published": True,
        }
    )


BODY = {
    "business_event": "Program Released",
    "name": "Sa Re Ga Ma episode 12",
    "properties": {"genre": "Drama"},
    "c-by": "jdoe@example.com",
    "when": "now",
}


def test_name_is_the_raised_name_and_event_the_type(ws):
    _publish(ws, "{{ BusinessEvent.name }} ({{ BusinessEvent.event }})")
    result = ws.raise_business_event(BODY)
    [delivery] = list(result.deliveries)
    assert delivery.payload["title"] == "Sa Re Ga Ma episode 12 (Program Released)"
    assert delivery.payload["body"] == "Drama"


def test_activity_log_shows_both(ws):
    _publish(ws, "{{ BusinessEvent.name }}")
    ws.raise_business_event(BODY)
    [entry] = ws.activity_log()
    assert entry["name"] == "Sa Re Ga Ma episode 12"
    assert entry["business_event"] == "Program Released"


def test_a_property_called_name_wins(ws):
    ws.define_business_event({"name": "Launch", "properties": ["name"]})
    ws.publish_bulletin(
        {
            "id": "b2",
            "name": "Launch",
            "business_event": "Launch",
            "match": [
                {"business_property": "name", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {
                "channel": "push",
                "title": "{{ BusinessEvent.name }}",
                "body": "{{ BusinessEvent.event }}",
            },
            "published": True,
        }
    )
    body = dict(BODY, business_event="Launch", properties={"name": "Drama"})
    [delivery] = list(ws.raise_business_event(body).deliveries)
    assert delivery.payload == {**delivery.payload, "title": "Drama", "body": "Launch"}


def test_other_business_event_keys_are_refused_at_publish(ws):
    with pytest.raises(tidings.DefinitionError, match="did you mean 'event'"):
        _publish(ws, "{{ BusinessEvent.evnt }}")
