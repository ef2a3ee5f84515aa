"""PushMessage: shape, plain-text and URL escaping, size limit, errors with fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

import tidings
from tidings import PushMessage, PushPayload

PROFILE = {"name": "Ann", "city": "Paris"}


def test_render_shape_and_ttl_carried():
    message = PushMessage(
        title="Hi {{ Profile.name }}",
        body="Your order {{ ExternalTrigger.order }} shipped",
        deep_link="myapp://orders/{{ ExternalTrigger.order }}",
        image_url="https://cdn.example.com/{{ ExternalTrigger.image }}",
        extras={"order": "{{ ExternalTrigger.order }}", "kind": "shipping"},
        ttl_seconds=3600,
    )
    payload = message.render(PROFILE, {"order": "A-1", "image": "box.png"})
    assert isinstance(payload, PushPayload)
    assert payload.title == "Hi Ann"
    assert payload.body == "Your order A-1 shipped"
    assert payload.deep_link == "myapp://orders/A-1"
    assert payload.image_url == "https://cdn.example.com/box.png"
    assert payload.extras == {"order": "A-1", "kind": "shipping"}
    assert payload.ttl_seconds == 3600
    assert payload.to_dict() == {
        "title": "Hi Ann",
        "body": "Your order A-1 shipped",
        "deep_link": "myapp://orders/A-1",
        "image_url": "https://cdn.example.com/box.png",
        "extras": {"order": "A-1", "kind": "shipping"},
        "ttl_seconds": 3600,
    }


def test_to_json_is_compact_and_in_a_stable_key_order():
    message = PushMessage(title="T", body="B", extras={"z": "1", "a": "2"})
    text = message.render({}, {}).to_json()
    assert text == (
        '{"title":"T","body":"B","deep_link":null,"image_url":null,'
        '"extras":{"z":"1","a":"2"},"ttl_seconds":null}'
    )
    assert text == message.render({}, {}).to_json()


def test_defaults():
    message = PushMessage(title="T", body="B")
    assert message.channel == "push"
    assert message.max_payload_bytes == 4096
    payload = message.render()
    assert (payload.deep_link, payload.image_url, payload.extras, payload.ttl_seconds) == (
        None,
        None,
        {},
        None,
    )


@pytest.mark.parametrize(
    ("field", "template", "value", "expected"),
    [
        # Plain text: nothing is escaped.
        ("title", "{{ ExternalTrigger.v }}", '<b>Tom & "Jerry"</b>', '<b>Tom & "Jerry"</b>'),
        ("body", "Hello {{ ExternalTrigger.v }}", "a\nb", "Hello a\nb"),
        # URLs: interpolated values are percent-encoded, literal text kept.
        (
            "deep_link",
            "myapp://p/{{ ExternalTrigger.v }}",
            "a b/c?d=1&e",
            "myapp://p/a%20b%2Fc%3Fd%3D1%26e",
        ),
        (
            "deep_link",
            "https://x.test/s?q={{ ExternalTrigger.v }}",
            "café",
            "https://x.test/s?q=caf%C3%A9",
        ),
        (
            "image_url",
            "https://cdn.test/{{ ExternalTrigger.v }}.png",
            "../x",
            "https://cdn.test/..%2Fx.png",
        ),
        # `raw` inserts a trusted URL as it is.
        ("deep_link", "{{ ExternalTrigger.v | raw }}", "myapp://a/b?c=d", "myapp://a/b?c=d"),
    ],
)
def test_escaping_per_field(field: str, template: str, value: str, expected: str):
    fields: dict[str, Any] = {"title": "T", "body": "B", field: template}
    payload = PushMessage(**fields).render({}, {"v": value})
    assert getattr(payload, field) == expected


def test_extras_values_are_plain_text():
    message = PushMessage(title="T", body="B", extras={"html": "{{ ExternalTrigger.v }}"})
    assert message.render({}, {"v": "<i>&</i>"}).extras == {"html": "<i>&</i>"}


def test_optional_link_that_renders_empty_becomes_none():
    message = PushMessage(
        title="T",
        body="B",
        deep_link="{% if ExternalTrigger.id %}myapp://p/{{ ExternalTrigger.id }}{% endif %}",
    )
    assert message.render({}, {}).deep_link is None
    assert message.render({}, {"id": 7}).deep_link == "myapp://p/7"


def test_payload_at_the_limit_passes_and_one_byte_more_fails():
    empty = PushMessage(title="", body="").render().to_json()
    room = 4096 - len(empty.encode())
    message = PushMessage(title="", body="{{ ExternalTrigger.text }}")
    assert len(message.render({}, {"text": "x" * room}).to_json().encode()) == 4096
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"text": "x" * (room + 1)})
    assert (info.value.size, info.value.limit, info.value.field) == (4097, 4096, "push")
    assert "4097 bytes" in str(info.value)
    assert "4096" in str(info.value)


def test_size_is_counted_in_utf8_bytes():
    message = PushMessage(title="T", body="{{ ExternalTrigger.text }}", max_payload_bytes=200)
    # 50 emoji: 50 characters but 200 bytes of UTF-8.
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"text": "\U0001f600" * 50})
    expected = len(PushMessage(title="T", body="\U0001f600" * 50).render().to_json().encode())
    assert info.value.size == expected
    assert isinstance(info.value, tidings.ChannelError)


def test_size_limit_is_configurable():
    message = PushMessage(title="T", body="{{ ExternalTrigger.text }}", max_payload_bytes=10_000)
    payload = message.render({}, {"text": "x" * 5000})
    assert len(payload.body) == 5000


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"title": "T", "body": "B", "ttl_seconds": -1}, "ttl_seconds"),
        ({"title": "T", "body": "B", "max_payload_bytes": 0}, "max_payload_bytes"),
        ({"title": "T", "body": "B", "sound": "ding"}, "sound"),
        ({"title": "T"}, "body"),
        ({"title": "T", "body": "B", "channel": "email"}, "channel"),
    ],
)
def test_invalid_definitions_are_definition_errors(fields: dict[str, Any], loc: str):
    with pytest.raises(tidings.DefinitionError) as info:
        PushMessage(**fields)
    assert info.value.errors[0]["loc"][0] == loc
    assert info.value.field == loc
    assert isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    ("fields", "field", "line", "column", "error"),
    [
        ({"body": "line one\n{% if %}"}, "push.body", 2, 4, tidings.TemplateSyntaxError),
        ({"deep_link": "x://{{ Profle.id }}"}, "push.deep_link", 1, 8, tidings.UnknownNameError),
        (
            {"image_url": "{{ Profile.a | nope }}"},
            "push.image_url",
            1,
            16,
            tidings.UnknownFilterError,
        ),
        (
            {"extras": {"k": "ok", "id": "\n\n  {{ Oops }}"}},
            "push.extras.id",
            3,
            6,
            tidings.UnknownNameError,
        ),
    ],
)
def test_compile_errors_name_the_field_with_line_and_column(
    fields: dict[str, Any], field: str, line: int, column: int, error: type[tidings.TemplateError]
):
    with pytest.raises(tidings.TemplateError) as info:
        PushMessage(**{"title": "T", "body": "B", **fields})
    assert type(info.value) is error
    assert (info.value.field, info.value.line, info.value.column) == (field, line, column)
    assert str(info.value).endswith(f"({field}:{line}:{column})")
    assert f"--> {field}:{line}:{column}" in info.value.detailed_message()


@pytest.mark.parametrize("source", ["Hi {{ Profile.name ", "a\n{% for x in %}", "{% if true %}x"])
def test_compile_error_keeps_the_core_location(source: str):
    with pytest.raises(tidings.TemplateError) as core:
        tidings.compile_template(source)
    with pytest.raises(tidings.TemplateError) as info:
        PushMessage(title=source, body="B")
    assert type(info.value) is type(core.value)
    assert info.value.field == "push.title"
    assert (info.value.line, info.value.column, info.value.source_line) == (
        core.value.line,
        core.value.column,
        core.value.source_line,
    )
    assert isinstance(info.value.__cause__, Exception)


def test_render_error_names_the_field_with_line_and_column():
    message = PushMessage(
        title="T", body="B", extras={"n": "x\n{{ ExternalTrigger.n | divided_by: 0 }}"}
    )
    with pytest.raises(tidings.RenderError) as info:
        message.render({}, {"n": 1})
    assert (info.value.field, info.value.line, info.value.column) == ("push.extras.n", 2, 24)


def test_missing_trigger_key_names_every_key_and_the_first_field():
    message = PushMessage(
        title="Hi {{ Profile.name }}",
        body="{{ ExternalTrigger.order }} {{ ExternalTrigger.eta }}",
        deep_link="myapp://{{ ExternalTrigger.order }}",
    )
    assert message.required_trigger_keys == {"order", "eta"}
    with pytest.raises(tidings.MissingTriggerKeyError) as info:
        message.render(PROFILE, {"eta": None})
    assert info.value.keys == ["eta", "order"]
    assert info.value.field == "push.body"
    with pytest.raises(tidings.MissingTriggerKeyError):
        message.check_trigger({"order": 1})
    message.check_trigger({"order": 1, "eta": "soon"})


def test_payload_round_trips_through_json():
    payload = PushMessage(title="«T»", body="B", extras={"a": "1"}).render()
    assert json.loads(payload.to_json()) == payload.to_dict()
