"""BatchRender: a message rendered for many users gives exactly what render() gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import json_values, keys

from tidings import EmailMessage, PushMessage, TidingsError, WebhookMessage
from tidings.channels._batch import BatchRender

EVENT = {"name": "launch", "genre": "Drama", "title": "Sa Re Ga Ma", "program_id": "4 2"}
CAMPAIGN = {"id": "c1", "name": "Launch"}

MESSAGES: list[tuple[str, Any, frozenset[str]]] = [
    (
        "push, two constant fields",
        PushMessage(
            title="New {{ BusinessEvent.genre }}: {{ BusinessEvent.title }}",
            body="Hi {{ Profile.name | default: 'there' }}{% if Profile.plan == 'premium' %}"
            " in HD{% endif %}, {{ ExternalTrigger.note }}",
            deep_link="app://program/{{ BusinessEvent.program_id }}",
            extras={"c": "{{ Campaign.name }}", "u": "{{ Profile.identity }}"},
            max_payload_bytes=300,
        ),
        frozenset({"title", "deep_link", "extras.c"}),
    ),
    (
        "push reading the clock",
        PushMessage(
            title="{{ BusinessEvent.title | date: '%Y' }}", body="{{ 'now' | date: '%Y' }}"
        ),
        frozenset(),
    ),
    (
        "email with a required trigger key",
        EmailMessage(
            subject="{{ BusinessEvent.title }}",
            html="<p>{{ Profile.name }} {{ ExternalTrigger.code }}</p>",
            from_name="{{ Profile.sender }}",
            max_html_bytes=200,
        ),
        frozenset({"subject"}),
    ),
    (
        "webhook with a JSON body",
        WebhookMessage(
            url="https://example.com/{{ Campaign.id }}/{{ Profile.identity }}",
            headers={"X-Event": "{{ BusinessEvent.name }}"},
            body='{"name": "{{ Profile.name }}", "items": {{ ExternalTrigger.items | json }}}',
            max_body_bytes=400,
        ),
        frozenset({"headers.X-Event"}),
    ),
]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "payload", fn()
    except TidingsError as exc:
        return type(exc).__name__, (str(exc), exc.field)


@pytest.mark.parametrize(("name", "message", "constant"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_constant_fields_are_those_reading_only_fixed_namespaces(
    name: str, message: Any, constant: frozenset[str]
) -> None:
    batch = BatchRender(message, {"BusinessEvent": EVENT, "Campaign": CAMPAIGN})
    assert batch.constant_keys == constant


@pytest.mark.parametrize(("name", "message", "constant"), MESSAGES, ids=[m[0] for m in MESSAGES])
@given(
    profile=st.dictionaries(keys, json_values, max_size=4)
    | st.fixed_dictionaries({"name": json_values, "plan": st.sampled_from(["premium", "free"])}),
    trigger=st.none() | st.dictionaries(st.sampled_from(["note", "code", "items"]), json_values),
)
def test_batch_render_is_render(
    name: str, message: Any, constant: frozenset[str], profile: Any, trigger: Any
) -> None:
    namespaces = {"BusinessEvent": EVENT, "Campaign": CAMPAIGN}
    batch = BatchRender(message, namespaces)
    expected = _outcome(lambda: message.render(profile, trigger, **namespaces).to_dict())
    assert _outcome(lambda: batch(profile, trigger)) == expected


def test_batch_render_reports_bad_namespaces_as_render_does() -> None:
    message = PushMessage(title="{{ BusinessEvent.x }}", body="b")
    batch = BatchRender(message, {"Nope": {}})
    with pytest.raises(TidingsError) as caught:
        batch({}, None)
    with pytest.raises(TidingsError) as expected:
        message.render({}, None, Nope={})
    assert str(caught.value) == str(expected.value)


def test_constant_fields_render_once_not_per_user() -> None:
    message = PushMessage(title="{{ BusinessEvent.title }}", body="{{ Profile.name }}")
    batch = BatchRender(message, {"BusinessEvent": EVENT})
    first = batch({"name": "Ann"}, None)
    second = batch({"name": "Bo"}, None)
    assert first["title"] is second["title"]
    assert (first["body"], second["body"]) == ("Ann", "Bo")
