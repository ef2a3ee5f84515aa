"""WebhookMessage: shape, URL encoding, header injection, JSON body, limits, fields."""

from __future__ import annotations

from typing import Any

import pytest

import tidings
from tidings import WebhookMessage, WebhookPayload

BODY = (
    '{"name": "{{ ExternalTrigger.name }}", "items": {{ ExternalTrigger.items | json }}, '
    '"n": {{ ExternalTrigger.n }}}'
)


def test_render_shape():
    message = WebhookMessage(
        url="https://hooks.example.com/u/{{ Profile.id }}",
        method="PUT",
        headers={"Authorization": "Bearer {{ ExternalTrigger.token }}", "X-Source": "tidings"},
        body=BODY,
    )
    payload = message.render(
        {"id": "u 1"}, {"token": "abc", "name": "Ann", "items": [1, {"a": None}], "n": 2.5}
    )
    assert isinstance(payload, WebhookPayload)
    assert payload.to_dict() == {
        "url": "https://hooks.example.com/u/u%201",
        "method": "PUT",
        "headers": {"Authorization": "Bearer abc", "X-Source": "tidings"},
        "body": {"name": "Ann", "items": [1, {"a": None}], "n": 2.5},
    }
    assert payload.body_json() == '{"name":"Ann","items":[1,{"a":null}],"n":2.5}'
    assert message.channel == "webhook"
    assert message.max_body_bytes == 1_000_000


def test_defaults_and_no_body():
    message = WebhookMessage(url="https://x.test/ping", method="get")
    assert message.method == "GET"
    payload = message.render()
    assert (payload.method, payload.headers, payload.body) == ("GET", {}, None)
    assert WebhookMessage(url="https://x.test", body="{}").method == "POST"


@pytest.mark.parametrize(
    ("body", "data", "expected"),
    [
        (
            '{"s": "{{ ExternalTrigger.v }}"}',
            {"v": 'say "hi" \\ \n\t\x00'},
            {"s": 'say "hi" \\ \n\t\x00'},
        ),
        ('{"s": "Hello {{ ExternalTrigger.v }}!"}', {"v": "</script>"}, {"s": "Hello </script>!"}),
        ('{"v": {{ ExternalTrigger.v }}}', {"v": 'quote"'}, {"v": 'quote"'}),
        (
            '{"v": {{ ExternalTrigger.v }}}',
            {"v": [1, "two", None, True]},
            {"v": [1, "two", None, True]},
        ),
        (
            '{"v": {{ ExternalTrigger.v }}}',
            {"v": {"k": {"deep": 1.5}}},
            {"v": {"k": {"deep": 1.5}}},
        ),
        ('{"v": {{ ExternalTrigger.v | json }}}', {"v": False}, {"v": False}),
        ('{"v": {{ ExternalTrigger.missing | default: nil }}}', {}, {"v": None}),
        ('{"v": {{ ExternalTrigger.v }}}', {"v": float("nan")}, {"v": None}),
        (
            "[{% for x in ExternalTrigger.v %}{{ x }}"
            "{% unless forloop.last %},{% endunless %}{% endfor %}]",
            {"v": ["a", 1]},
            ["a", 1],
        ),
        ('"{{ ExternalTrigger.v }}"', {"v": "top-level string"}, "top-level string"),
    ],
)
def test_body_is_valid_json_whatever_the_data(body: str, data: dict[str, Any], expected: Any):
    payload = WebhookMessage(url="https://x.test", body=body).render({}, data)
    assert payload.body == expected


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"a": 1 "b": 2}', "line 1, column 9"),
        ('{"a": 1,\n "b": }', "line 2, column 7"),
        ('{"a": NaN}', "NaN"),
        ("", "line 1, column 1"),
    ],
)
def test_a_body_that_is_not_json_says_where_it_broke(body: str, where: str):
    with pytest.raises(tidings.InvalidWebhookBodyError) as info:
        WebhookMessage(url="https://x.test", body=body).render()
    assert info.value.field == "webhook.body"
    assert where in str(info.value)
    assert isinstance(info.value, tidings.ChannelError)


@pytest.mark.parametrize(
    ("url", "data", "expected"),
    [
        (
            "https://x.test/u/{{ ExternalTrigger.v }}",
            {"v": "a b/../c?d#e"},
            "https://x.test/u/a%20b%2F..%2Fc%3Fd%23e",
        ),
        (
            "https://x.test/s?q={{ ExternalTrigger.v }}&x=1",
            {"v": "a&x=2"},
            "https://x.test/s?q=a%26x%3D2&x=1",
        ),
        ("http://x.test/{{ ExternalTrigger.v }}", {"v": "ünï"}, "http://x.test/%C3%BCn%C3%AF"),
        (
            "{{ ExternalTrigger.v | raw }}",
            {"v": "https://trusted.test/a?b=c"},
            "https://trusted.test/a?b=c",
        ),
        ("HTTPS://X.test/", {}, "HTTPS://X.test/"),
    ],
)
def test_url_values_are_percent_encoded(url: str, data: dict[str, Any], expected: str):
    assert WebhookMessage(url=url).render({}, data).url == expected


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("{{ ExternalTrigger.v }}", {"v": ""}, "empty"),
        (
            "{{ ExternalTrigger.v }}",
            {"v": "https://x.test"},
            "http:// or https://",
        ),  # encoded: https%3A...
        ("ftp://x.test/file", {}, "http:// or https://"),
        ("javascript:alert(1)", {}, "http:// or https://"),
        ("https:///path", {}, "no host"),
        ("https://x.test/a b", {}, "U+0020 SPACE"),
        ("https://x.test/{{ ExternalTrigger.v | raw }}", {"v": "a\r\nHost: evil"}, "U+000D"),
        ("https://[::1/", {}, "malformed"),
        ("https://x.test/files/{{ ExternalTrigger.v }}/view", {"v": ".."}, "'..' segment"),
        ("https://x.test/files/{{ ExternalTrigger.v }}/view", {"v": "."}, "'..' segment"),
        ("https://x.test/a/{{ ExternalTrigger.v | raw }}/b", {"v": "%2E%2e"}, "'..' segment"),
        ("https://x.test/a/{{ ExternalTrigger.v | raw }}", {"v": ".%2E"}, "'..' segment"),
    ],
)
def test_url_must_be_http_with_a_host(url: str, data: dict[str, Any], message: str):
    with pytest.raises(tidings.ChannelError) as info:
        WebhookMessage(url=url).render({}, data)
    assert type(info.value) is tidings.ChannelError
    assert info.value.field == "webhook.url"
    assert message in str(info.value)


def test_header_values_are_plain_text():
    message = WebhookMessage(url="https://x.test", headers={"X-Name": "{{ ExternalTrigger.v }}"})
    assert message.render({}, {"v": '<Tom & "Jerry">'}).headers == {"X-Name": '<Tom & "Jerry">'}


@pytest.mark.parametrize("value", ["x\r\nX-Admin: 1", "x\ny", "x\r"])
def test_header_injection_is_refused(value: str):
    message = WebhookMessage(url="https://x.test", headers={"X-Token": "t {{ ExternalTrigger.v }}"})
    with pytest.raises(tidings.HeaderInjectionError) as info:
        message.render({}, {"v": value})
    assert info.value.field == "webhook.headers.X-Token"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Bad Name": "x"}, "not a valid header name"),
        ({"X-A\r\n": "x"}, "not a valid header name"),
        ({"": "x"}, "not a valid header name"),
        ({"X-Id": "1", "x-id": "2"}, "repeats"),
    ],
)
def test_header_names_are_checked_at_construction(headers: dict[str, str], message: str):
    with pytest.raises(tidings.DefinitionError, match=message):
        WebhookMessage(url="https://x.test", headers=headers)


@pytest.mark.parametrize("method", ["HEAD", "CONNECT", "", "po st"])
def test_only_known_methods(method: str):
    with pytest.raises(tidings.DefinitionError):
        WebhookMessage(url="https://x.test", method=method)


def test_body_size_limit():
    message = WebhookMessage(
        url="https://x.test", body='"{{ ExternalTrigger.v }}"', max_body_bytes=12
    )
    assert message.render({}, {"v": "x" * 10}).body == "x" * 10
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"v": "x" * 11})
    assert (info.value.size, info.value.limit, info.value.field) == (13, 12, "webhook.body")
    assert "13 bytes" in str(info.value)


def test_default_body_limit_is_one_megabyte():
    message = WebhookMessage(url="https://x.test", body='"{{ ExternalTrigger.v }}"')
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"v": "x" * 1_000_000})
    assert (info.value.size, info.value.limit) == (1_000_002, 1_000_000)


@pytest.mark.parametrize(
    ("fields", "field", "line", "column", "error"),
    [
        ({"url": "https://x.test/{{ Profle.id }}"}, "webhook.url", 1, 19, tidings.UnknownNameError),
        (
            {"headers": {"X-A": "ok", "X-B": "{{ Profile.x | nope }}"}},
            "webhook.headers.X-B",
            1,
            16,
            tidings.UnknownFilterError,
        ),
        (
            {"body": '{\n  "a": {% if %}1{% endif %}\n}'},
            "webhook.body",
            2,
            11,
            tidings.TemplateSyntaxError,
        ),
    ],
)
def test_compile_errors_name_the_field_with_line_and_column(
    fields: dict[str, Any], field: str, line: int, column: int, error: type[tidings.TemplateError]
):
    with pytest.raises(tidings.TemplateError) as info:
        WebhookMessage(**{"url": "https://x.test", **fields})
    assert type(info.value) is error
    assert (info.value.field, info.value.line, info.value.column) == (field, line, column)


def test_render_error_names_the_field_with_line_and_column():
    message = WebhookMessage(
        url="https://x.test", body='{\n"n": {{ ExternalTrigger.n | divided_by: 0 }}\n}'
    )
    with pytest.raises(tidings.RenderError) as info:
        message.render({}, {"n": 1})
    assert (info.value.field, info.value.line, info.value.column) == ("webhook.body", 2, 29)


def test_trigger_keys_are_the_union_over_templates():
    message = WebhookMessage(
        url="https://x.test/{{ ExternalTrigger.path }}",
        headers={"X-Id": "{{ ExternalTrigger.id | default: 'none' }}"},
        body=BODY,
    )
    assert message.trigger_keys == {"path", "id", "name", "items", "n"}
    assert message.required_trigger_keys == {"path", "name", "items", "n"}
    with pytest.raises(tidings.MissingTriggerKeyError) as info:
        message.check_trigger({"path": "p", "name": "x"})
    assert (info.value.keys, info.value.field) == (["items", "n"], "webhook.body")
    with pytest.raises(tidings.MissingTriggerKeyError) as info:
        message.render({}, {})
    assert info.value.field == "webhook.url"
