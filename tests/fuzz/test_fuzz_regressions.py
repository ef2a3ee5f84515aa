"""Crashes the fuzz targets and the contract table found, each kept as a regression test."""

import json

import pytest
from tests.fuzz.targets import _workspace

import tidings


def test_a_lone_surrogate_in_a_template_source_is_refused_at_publish():
    # Found by the `definitions` target: a bulletin body "\ud800" was published, then
    # every delivery failed to encode (UnicodeEncodeError in the sink).
    ws = _workspace()
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_campaign(
            {"name": "c", "message": {"channel": "push", "title": "t", "body": "ok\n\ud800"}}
        )
    (problem,) = info.value.problems
    assert (problem.field, problem.line, problem.column) == ("message.body", 2, 1)
    cause = info.value.__cause__
    assert isinstance(cause, tidings.TemplateSyntaxError)
    assert (cause.field, cause.line, cause.column) == ("push.body", 2, 1)
    info.value.detailed_message().encode("utf-8", "replace")
    cause.detailed_message().encode("utf-8", "replace")


def test_an_unhashable_template_source_is_an_argument_error():
    # Found by the contract table: the compile cache raised TypeError("unhashable type").
    with pytest.raises(tidings.ArgumentError):
        tidings.compile_template(["{{ x }}"])  # type: ignore[arg-type]
    with pytest.raises(tidings.ArgumentError):
        tidings.compile_template("x", escape=["html"])  # type: ignore[arg-type]


def test_an_event_time_at_the_end_of_the_calendar_is_refused():
    # Found by the contract table: "when" in year 9999 at -12:00 cannot be converted to UTC.
    ws = _workspace()
    ws.publish_bulletin(
        {
            "id": "b",
            "name": "B",
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {"channel": "push", "title": "t", "body": "b"},
            "published": True,
        }
    )
    for when in ("9999-12-31T23:59:59-12:00", 1e30, "0001-01-01T00:00:00+14:00"):
        result = ws.raise_business_event(
            {
                "business_event": "Program Released",
                "name": "R",
                "c-by": "ops",
                "when": when,
                "properties": {"genre": "Drama"},
            }
        )
        assert result.response["status"] == "fail"
        assert '"when" has an incorrect value' in result.response["error"]


def test_trigger_data_no_json_encoder_accepts_is_refused_before_dispatch():
    # The probe: UnicodeEncodeError, RecursionError, ValueError and TypeError
    # escaped trigger_campaign for these; now each is a fail answer naming the path.
    ws = _workspace()
    campaign_id = ws.publish_campaign(
        {
            "name": "c",
            "message": {"channel": "email", "subject": "s", "html": "{{ ExternalTrigger.v }}"},
        }
    )
    cyclic: dict = {}
    cyclic["v"] = cyclic
    deep: list = []
    node = deep
    for _ in range(1000):
        node.append([])
        node = node[0]
    for data, path in [
        ({"v": "\ud800"}, "ExternalTrigger.v"),
        ({"v": deep}, "ExternalTrigger.v"),
        (cyclic, "ExternalTrigger.v"),
        ({"v": 10**5000}, "ExternalTrigger.v"),
        ({("a", 1): 1, "v": 1}, "ExternalTrigger"),
    ]:
        result = ws.trigger_campaign(
            {"campaign_id": campaign_id, "to": {"identity": ["u1"]}, "ExternalTrigger": data}
        )
        assert result.response["status"] == "fail"
        assert isinstance(result.error, tidings.DataError)
        assert result.error.field is not None
        assert result.error.field.startswith(path)
        json.dumps(result.response)


def test_a_nested_definition_error_names_the_full_path():
    with pytest.raises(tidings.DefinitionError) as info:
        tidings.ExternalTriggerCampaign(
            name="c",
            message={"channel": "push", "title": "t", "body": "b"},
            goal={"event": "Buy", "window_hours": 0},
        )
    assert info.value.field == "goal.window_hours"
    assert info.value.errors[0]["loc"] == ("goal", "window_hours")
