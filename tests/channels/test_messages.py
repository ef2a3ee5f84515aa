"""Behaviour shared by every channel message: the union, JSON definitions, compile-once."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import tidings
import tidings.channels
from tidings import EmailMessage, Message, PushMessage, WebhookMessage, message_from_dict

DEFINITIONS: list[dict[str, Any]] = [
    {"channel": "push", "title": "Hi {{ Profile.name }}", "body": "b", "ttl_seconds": 60},
    {"channel": "email", "subject": "Hi {{ Profile.name }}", "html": "<p>x</p>"},
    {"channel": "webhook", "url": "https://x.test", "body": '{"a": "{{ Profile.name }}"}'},
]
BAD_TEMPLATES = [
    ({"channel": "push", "title": "ok", "body": "x\n{% if %}"}, "push.body", 2, 4),
    ({"channel": "email", "subject": "{{ Nope }}", "html": "h"}, "email.subject", 1, 4),
    (
        {"channel": "webhook", "url": "https://x.test", "headers": {"X-A": "{% for %}"}},
        "webhook.headers.X-A",
        1,
        4,
    ),
]


@pytest.mark.parametrize(
    ("definition", "cls"),
    list(zip(DEFINITIONS, [PushMessage, EmailMessage, WebhookMessage], strict=True)),
)
def test_message_from_dict_picks_the_channel(definition: dict[str, Any], cls: type[BaseModel]):
    message = message_from_dict(definition)
    assert type(message) is cls
    assert isinstance(message, Message)
    assert message.channel == definition["channel"]
    assert message.model_dump(exclude_defaults=True) == {
        k: v for k, v in definition.items() if k != "channel"
    }
    assert message_from_dict(message.model_dump()) == message
    assert message.render({"name": "Ann"}, {}).to_dict()


@pytest.mark.parametrize(
    "definition",
    [
        {"channel": "sms", "text": "x"},
        {"title": "no channel", "body": "b"},
        {"channel": "push", "title": "t"},
        {"channel": "email", "subject": "s", "html": "h", "bcc": "x"},
    ],
)
def test_malformed_definitions_are_definition_errors(definition: dict[str, Any]):
    with pytest.raises(tidings.DefinitionError) as info:
        message_from_dict(definition)
    assert isinstance(info.value.__cause__, ValidationError)  # pydantic's error is kept
    assert info.value.errors


@pytest.mark.parametrize(("definition", "field", "line", "column"), BAD_TEMPLATES)
def test_every_entry_point_raises_template_error_not_validation_error(
    definition: dict[str, Any], field: str, line: int, column: int
):
    cls = {"push": PushMessage, "email": EmailMessage, "webhook": WebhookMessage}[
        definition["channel"]
    ]
    attempts = [
        lambda: message_from_dict(definition),
        lambda: cls(**definition),
        lambda: cls.model_validate(definition),
        lambda: cls.model_validate_json(json.dumps(definition)),
    ]
    for attempt in attempts:
        with pytest.raises(tidings.TemplateError) as info:
            attempt()
        assert not isinstance(info.value, ValidationError)
        assert (info.value.field, info.value.line, info.value.column) == (field, line, column)
        assert f"--> {field}:{line}:{column}" in info.value.detailed_message()


def test_inside_another_model_the_template_error_can_be_found():
    class Campaign(BaseModel):
        messages: list[tidings.MessageField]

    with pytest.raises(ValidationError) as info:
        Campaign(messages=[DEFINITIONS[0], BAD_TEMPLATES[1][0]])
    error = tidings.channels.template_error_from(info.value)
    assert error is not None
    assert (error.field, error.line) == ("email.subject", 1)
    assert info.value.errors()[0]["loc"][:2] == ("messages", 1)
    ok = Campaign(messages=DEFINITIONS)
    assert [m.channel for m in ok.messages] == ["push", "email", "webhook"]


def test_template_error_from_returns_none_for_other_errors():
    with pytest.raises(tidings.DefinitionError) as info:
        PushMessage(title="t")
    assert info.value.field == "body"
    assert isinstance(info.value.__cause__, ValidationError)
    assert tidings.channels.template_error_from(info.value.__cause__) is None


def test_messages_are_frozen_and_forbid_extra_fields():
    message = PushMessage(title="t", body="b")
    with pytest.raises(ValidationError):
        message.title = "other"  # type: ignore[misc]
    with pytest.raises(tidings.DefinitionError):
        PushMessage(title="t", body="b", colour="red")


def test_templates_are_compiled_once_and_shared():
    first = EmailMessage(subject="S {{ Profile.a }}", html="<p>{{ Profile.a }}</p>")
    second = EmailMessage(subject="S {{ Profile.a }}", html="<p>{{ Profile.a }}</p>")
    assert first == second
    assert first._compiled.by_key["html"].template is second._compiled.by_key["html"].template
    assert first._compiled.by_key["html"].template.escape == "html"
    assert first._compiled.by_key["subject"].template.escape == "text"


def test_equality_follows_the_fields():
    assert PushMessage(title="a", body="b") != PushMessage(title="a", body="c")
    assert PushMessage(title="a", body="b") != EmailMessage(subject="a", html="b")


def test_model_copy_with_update_recompiles():
    message = PushMessage(title="Hi {{ Profile.name }}", body="b")
    changed = message.model_copy(update={"title": "Bye {{ Profile.name }}"})
    assert changed.render({"name": "Ann"}).title == "Bye Ann"
    assert message.render({"name": "Ann"}).title == "Hi Ann"
    assert message.model_copy() == message
    with pytest.raises(tidings.TemplateError) as info:
        message.model_copy(update={"body": "{{ Oops }}"})
    assert info.value.field == "push.body"


def test_business_event_and_campaign_namespaces_reach_every_field():
    message = WebhookMessage(
        url="https://x.test/{{ Campaign.id }}",
        headers={"X-Event": "{{ BusinessEvent.name }}"},
        body='{"campaign": "{{ Campaign.name }}", "price": {{ BusinessEvent.price }}}',
    )
    payload = message.render(
        {},
        {},
        BusinessEvent={"name": "price_drop", "price": 9.5},
        Campaign={"id": 7, "name": "Drop"},
    )
    assert payload.url == "https://x.test/7"
    assert payload.headers == {"X-Event": "price_drop"}
    assert payload.body == {"campaign": "Drop", "price": 9.5}


def test_trigger_that_is_not_an_object_names_the_channel():
    message = PushMessage(title="{{ ExternalTrigger.a }}", body="b")
    with pytest.raises(tidings.TriggerDataError) as info:
        message.render({}, ["not", "a", "dict"])  # type: ignore[arg-type]
    assert info.value.field == "push"


def test_rendering_is_pure():
    message = EmailMessage(subject="{{ ExternalTrigger.s }}", html="<b>{{ ExternalTrigger.s }}</b>")
    trigger = {"s": "<x>"}
    assert message.render({}, trigger) == message.render({}, trigger)
    assert trigger == {"s": "<x>"}


@pytest.mark.parametrize(
    "name",
    [
        "EmailMessage",
        "EmailPayload",
        "Message",
        "MessageField",
        "Payload",
        "PushMessage",
        "PushPayload",
        "WebhookMessage",
        "WebhookPayload",
        "message_from_dict",
    ],
)
def test_public_names_are_exported(name: str):
    assert name in tidings.__all__
    assert getattr(tidings, name) is getattr(tidings.channels, name)


def test_channels_all_names_exist():
    for name in tidings.channels.__all__:
        assert hasattr(tidings.channels, name)


@pytest.mark.parametrize("definition", DEFINITIONS)
def test_messages_pickle_and_render_the_same(definition: dict[str, Any]):
    message = message_from_dict(definition)
    clone = pickle.loads(pickle.dumps(message))  # noqa: S301 - our own bytes, just made
    assert clone == message
    assert clone.render({"name": "Ann"}, {}) == message.render({"name": "Ann"}, {})
