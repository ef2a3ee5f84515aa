"""EmailMessage: shape, HTML autoescape and opt-out, header injection, size limit, fields."""

from __future__ import annotations

from typing import Any

import pytest

import tidings
from tidings import EmailMessage, EmailPayload

PROFILE = {"name": "Ann"}


def test_render_shape():
    message = EmailMessage(
        subject="Your order {{ ExternalTrigger.order }}",
        html="<p>Hi {{ Profile.name }}</p>",
        text="Hi {{ Profile.name }}",
        from_name="{{ ExternalTrigger.shop }} team",
        reply_to="help@example.com",
    )
    payload = message.render(PROFILE, {"order": "A-1", "shop": "Acme"})
    assert isinstance(payload, EmailPayload)
    assert payload.to_dict() == {
        "subject": "Your order A-1",
        "html": "<p>Hi Ann</p>",
        "text": "Hi Ann",
        "from_name": "Acme team",
        "reply_to": "help@example.com",
    }
    assert message.channel == "email"
    assert message.max_html_bytes == 1_000_000


def test_optional_fields_default_to_none_and_empty_renders_become_none():
    payload = EmailMessage(subject="S", html="<p>x</p>").render()
    assert (payload.text, payload.from_name, payload.reply_to) == (None, None, None)
    guarded = EmailMessage(
        subject="S", html="h", text="{% if ExternalTrigger.t %}{{ ExternalTrigger.t }}{% endif %}"
    )
    assert guarded.render({}, {}).text is None
    assert guarded.render({}, {"t": "plain"}).text == "plain"


@pytest.mark.parametrize(
    ("html", "value", "expected"),
    [
        (
            "<p>{{ ExternalTrigger.v }}</p>",
            "<script>alert(1)</script>",
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        ),
        (
            '<a title="{{ ExternalTrigger.v }}">',
            "\" onclick='x'",
            '<a title="&#34; onclick=&#39;x&#39;">',
        ),
        ("<p>{{ ExternalTrigger.v }}</p>", "Tom & Jerry", "<p>Tom &amp; Jerry</p>"),
        ("<p>{{ ExternalTrigger.v | raw }}</p>", "<b>bold</b>", "<p><b>bold</b></p>"),
        ("<p>{{ ExternalTrigger.v | safe }}</p>", "<i>it</i>", "<p><i>it</i></p>"),
        ("<p>{{ ExternalTrigger.v | upcase }}</p>", "<b>", "<p>&lt;B&gt;</p>"),
        # The template's own markup and string literals are the author's: not escaped.
        ("<h1 class=\"x\">{{ '<b>A&B</b>' }}</h1>", "", '<h1 class="x"><b>A&B</b></h1>'),
    ],
)
def test_html_autoescapes_and_raw_opts_out(html: str, value: str, expected: str):
    payload = EmailMessage(subject="S", html=html).render({}, {"v": value})
    assert payload.html == expected


@pytest.mark.parametrize("field", ["subject", "text", "from_name", "reply_to"])
def test_text_fields_are_not_html_escaped(field: str):
    fields: dict[str, Any] = {"subject": "S", "html": "h", field: "{{ ExternalTrigger.v }}"}
    payload = EmailMessage(**fields).render({}, {"v": "Tom & <Jerry>"})
    assert getattr(payload, field) == "Tom & <Jerry>"


@pytest.mark.parametrize("field", ["subject", "from_name", "reply_to"])
@pytest.mark.parametrize("value", ["a\nBcc: victim@example.com", "a\r\nBcc: x", "a\rb", "\n"])
def test_header_injection_from_data_is_refused(field: str, value: str):
    fields: dict[str, Any] = {"subject": "S", "html": "h", field: "Hi {{ ExternalTrigger.v }}"}
    with pytest.raises(tidings.HeaderInjectionError) as info:
        EmailMessage(**fields).render({}, {"v": value})
    assert info.value.field == f"email.{field}"
    assert isinstance(info.value, tidings.ChannelError)
    assert str(info.value).startswith(f"email.{field}: ")


def test_header_injection_from_the_template_text_is_refused_at_render():
    message = EmailMessage(subject="Line one\nLine two", html="h")
    with pytest.raises(tidings.HeaderInjectionError) as info:
        message.render()
    assert info.value.field == "email.subject"


def test_whitespace_control_keeps_a_multiline_subject_template_on_one_line():
    message = EmailMessage(
        subject="{%- if ExternalTrigger.vip -%}\nVIP offer\n{%- else -%}\nOffer\n{%- endif -%}",
        html="h",
    )
    assert message.render({}, {"vip": True}).subject == "VIP offer"


def test_line_breaks_are_fine_in_html_and_text():
    payload = EmailMessage(
        subject="S", html="{{ ExternalTrigger.v }}", text="{{ ExternalTrigger.v }}"
    ).render({}, {"v": "a\r\nb"})
    assert (payload.html, payload.text) == ("a\r\nb", "a\r\nb")


def test_html_size_limit_reports_the_size():
    message = EmailMessage(subject="S", html="<p>{{ ExternalTrigger.v }}</p>", max_html_bytes=100)
    assert len(message.render({}, {"v": "x" * 93}).html) == 100
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"v": "é" * 50})  # 2 bytes each in UTF-8
    assert (info.value.size, info.value.limit, info.value.field) == (107, 100, "email.html")
    assert "107 bytes" in str(info.value)


def test_text_part_shares_the_body_limit():
    message = EmailMessage(subject="S", html="h", text="{{ ExternalTrigger.v }}", max_html_bytes=10)
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"v": "x" * 11})
    assert info.value.field == "email.text"


def test_default_limit_is_one_megabyte():
    message = EmailMessage(subject="S", html="{{ ExternalTrigger.v }}")
    assert len(message.render({}, {"v": "x" * 1_000_000}).html) == 1_000_000
    with pytest.raises(tidings.PayloadTooLargeError) as info:
        message.render({}, {"v": "x" * 1_000_001})
    assert info.value.size == 1_000_001


def test_a_larger_limit_is_honoured_past_the_engine_default():
    message = EmailMessage(subject="S", html="{{ ExternalTrigger.v }}", max_html_bytes=3_000_000)
    assert len(message.render({}, {"v": "x" * 2_000_000}).html) == 2_000_000


@pytest.mark.parametrize(
    ("fields", "field", "line", "column", "error"),
    [
        ({"subject": "Hi {{ Profle.name }}"}, "email.subject", 1, 7, tidings.UnknownNameError),
        (
            {"html": "<p>\n  {{ Profile.x | nope }}</p>"},
            "email.html",
            2,
            18,
            tidings.UnknownFilterError,
        ),
        ({"text": "a\nb\n{% if %}"}, "email.text", 3, 4, tidings.TemplateSyntaxError),
        ({"from_name": "{{ Who }}"}, "email.from_name", 1, 4, tidings.UnknownNameError),
        ({"reply_to": "x {% for %}"}, "email.reply_to", 1, 6, tidings.TemplateSyntaxError),
    ],
)
def test_compile_errors_name_the_field_with_line_and_column(
    fields: dict[str, Any], field: str, line: int, column: int, error: type[tidings.TemplateError]
):
    with pytest.raises(tidings.TemplateError) as info:
        EmailMessage(**{"subject": "S", "html": "h", **fields})
    assert type(info.value) is error
    assert (info.value.field, info.value.line, info.value.column) == (field, line, column)


def test_render_errors_name_the_field_with_line_and_column():
    message = EmailMessage(subject="S", html="<p>\n{{ ExternalTrigger.n | divided_by: 0 }}</p>")
    with pytest.raises(tidings.RenderError) as info:
        message.render({}, {"n": 4})
    assert (info.value.field, info.value.line, info.value.column) == ("email.html", 2, 24)
    assert "email.html:2:24" in str(info.value)


def test_missing_trigger_key_names_the_first_field_that_needs_it():
    message = EmailMessage(
        subject="Hello", html="{{ ExternalTrigger.order }}", text="{{ ExternalTrigger.order }}"
    )
    with pytest.raises(tidings.MissingTriggerKeyError) as info:
        message.render({}, {})
    assert (info.value.keys, info.value.field) == (["order"], "email.html")
    assert isinstance(info.value, LookupError)
