"""tidings.preview: rendered output, warnings, errors and the HTML page."""

import html
import json
import re

import pytest

from tidings.channels import EmailMessage, PushMessage
from tidings.preview import (
    Preview,
    preview_message,
    preview_template,
    render_index_html,
    render_preview_html,
)

EXAMPLE_1 = (
    'Hey {{ Profile.name | default: "User" }}\n'
    "Thank you for shopping with us!\n"
    'Name: {{ ExternalTrigger.Name | default: "defaultName" }}\n'
    'Price: {{ ExternalTrigger.Price | default: "defaultPrice" }}\n'
    'ImageUrl: {{ ExternalTrigger.ImageUrl | default: "defaultImageUrl" }}'
)

PUSH = {
    "channel": "push",
    "title": "15,000 steps, {{ Profile.name }}!",
    "body": "{{ ExternalTrigger.steps }} steps today",
    "deep_link": "fitapp://milestones/{{ ExternalTrigger.milestoneId }}",
    "image_url": "https://cdn.example.com/{{ ExternalTrigger.badge }}.png",
    "extras": {"milestone": "{{ ExternalTrigger.milestoneId }}"},
}

WEBHOOK = {
    "channel": "webhook",
    "url": "https://hooks.example.com/accounts/{{ ExternalTrigger.accountId }}",
    "method": "put",
    "headers": {"X-Plan": "{{ ExternalTrigger.plan.code }}"},
    "body": '{"plan": {{ ExternalTrigger.plan | json }}, "note": "{{ ExternalTrigger.note }}"}',
}


# --- preview_template ----------------------------------------------------------------


def test_template_renders_text_without_warnings_when_data_is_complete():
    result = preview_template(
        EXAMPLE_1,
        {"name": "Ann"},
        {"Name": "Boots", "Price": "$149", "ImageUrl": "https://cdn.example.com/b.jpg"},
    )
    assert result.ok
    assert result.kind == "template"
    assert result.text is not None
    assert result.text.splitlines() == [
        "Hey Ann",
        "Thank you for shopping with us!",
        "Name: Boots",
        "Price: $149",
        "ImageUrl: https://cdn.example.com/b.jpg",
    ]
    assert result.warnings == ()
    assert result.errors == ()


def test_template_warns_for_each_default_used_with_its_line():
    result = preview_template(EXAMPLE_1, {}, {"Name": "Boots"})
    assert result.text is not None
    assert "Hey User" in result.text
    fallbacks = [(w.expression, w.default, w.line) for w in result.warnings]
    assert fallbacks == [
        ("Profile.name", "User", 1),
        ("ExternalTrigger.Price", "defaultPrice", 4),
        ("ExternalTrigger.ImageUrl", "defaultImageUrl", 5),
    ]
    assert {w.kind for w in result.warnings} == {"fallback"}


def test_fallback_for_an_absent_trigger_key_names_the_key_once():
    result = preview_template(EXAMPLE_1, {"name": "Ann"}, {"Name": "Boots", "ImageUrl": "x"})
    [warning] = result.warnings
    assert warning.kind == "fallback"
    assert warning.key == "Price"
    assert warning.message == (
        'ExternalTrigger.Price is absent from the trigger data: used the default "defaultPrice"'
    )


def test_absent_key_guarded_by_if_is_a_warning():
    result = preview_template(
        "Hi{% if ExternalTrigger.coupon %} use {{ ExternalTrigger.coupon }}{% endif %}", {}, {}
    )
    assert result.ok
    assert result.text == "Hi"
    [warning] = result.warnings
    assert warning.kind == "absent_key"
    assert warning.key == "coupon"
    assert "ExternalTrigger.coupon" in warning.message


def test_fallback_in_a_loop_is_counted_not_repeated():
    source = "{% for p in ExternalTrigger.items %}{{ p.name | default: 'item' }} {% endfor %}"
    result = preview_template(source, {}, {"items": [{}, {}, {"name": "Mug"}]})
    assert result.text == "item item Mug "
    [warning] = result.warnings
    assert warning.count == 2
    assert warning.message.endswith("(2 times)")


def test_present_but_empty_value_falls_back_without_being_called_absent():
    result = preview_template("{{ ExternalTrigger.note | default: 'none' }}", {}, {"note": ""})
    [warning] = result.warnings
    assert warning.key is None
    assert warning.message == 'ExternalTrigger.note fell back to its default "none"'


@pytest.mark.parametrize(
    ("escape", "expected"),
    [
        ("text", "<b>&"),
        ("html", "&lt;b&gt;&amp;"),
        ("url", "%3Cb%3E%26"),
        ("json", '"<b>&"'),
    ],
)
def test_template_escapes_for_the_requested_context(escape, expected):
    result = preview_template("{{ ExternalTrigger.v }}", {}, {"v": "<b>&"}, escape=escape)
    assert result.text == expected
    assert result.escape == escape


def test_syntax_error_has_line_column_and_caret():
    result = preview_template("Hi\n{{ Profile.name | }}", {}, {}, name="greeting.liquid")
    assert not result.ok
    assert result.text is None
    [error] = result.errors
    assert error.code == "template_syntax"
    assert error.line == 2
    assert error.column is not None
    assert error.source_line == "{{ Profile.name | }}"
    assert "greeting.liquid:2:" in error.detail
    caret_line = error.detail.splitlines()[-1]
    assert caret_line.strip().endswith("^")


def test_unknown_name_points_at_the_typo():
    [error] = preview_template("Hey {{ Profle.name }}", {}, {}).errors
    assert error.code == "unknown_name"
    assert (error.line, error.column) == (1, 8)
    assert error.detail.splitlines()[-1] == "  |        ^"


def test_missing_required_trigger_key_is_an_error_without_location():
    [error] = preview_template("Order {{ ExternalTrigger.orderId }}", {}, {}).errors
    assert error.code == "missing_trigger_key"
    assert error.line is None
    assert "orderId" in error.message


def test_preview_to_dict_is_json_serialisable():
    result = preview_template(EXAMPLE_1, {}, {})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["ok"] is True
    assert data["kind"] == "template"
    assert len(data["warnings"]) == 4
    assert data["warnings"][0]["kind"] == "fallback"


# --- preview_message -----------------------------------------------------------------


def test_email_message_payload_and_warnings_per_field():
    definition = {
        "channel": "email",
        "subject": "Thanks {{ Profile.name | default: 'friend' }}",
        "html": "<p>{{ ExternalTrigger.note | default: 'Enjoy!' }}</p>",
        "text": "{{ ExternalTrigger.note | default: 'Enjoy!' }}",
    }
    result = preview_message(definition, {}, {})
    assert result.ok
    assert result.kind == "email"
    assert result.payload is not None
    assert result.payload["subject"] == "Thanks friend"
    assert result.payload["html"] == "<p>Enjoy!</p>"
    assert [(w.field, w.expression) for w in result.warnings] == [
        ("email.subject", "Profile.name"),
        ("email.html", "ExternalTrigger.note"),
        ("email.text", "ExternalTrigger.note"),
    ]


def test_message_object_is_accepted_as_well_as_a_dict():
    message = PushMessage(title="Hi {{ Profile.name }}", body="b")
    result = preview_message(message, {"name": "Ann"}, {})
    assert result.payload is not None
    assert result.payload["title"] == "Hi Ann"


def test_push_payload_url_encodes_the_deep_link_value():
    trigger = {"steps": 15342, "milestoneId": "15k/today", "badge": "gold"}
    result = preview_message(PUSH, {"name": "Jo"}, trigger)
    assert result.payload == {
        "title": "15,000 steps, Jo!",
        "body": "15342 steps today",
        "deep_link": "fitapp://milestones/15k%2Ftoday",
        "image_url": "https://cdn.example.com/gold.png",
        "extras": {"milestone": "15k/today"},
        "ttl_seconds": None,
    }


def test_webhook_payload_body_is_parsed_json():
    trigger = {"accountId": "A 1", "plan": {"code": "pro", "seats": [1, 2]}, "note": 'say "hi"'}
    result = preview_message(WEBHOOK, {}, trigger)
    assert result.payload is not None
    assert result.payload["url"] == "https://hooks.example.com/accounts/A%201"
    assert result.payload["method"] == "PUT"
    assert result.payload["headers"] == {"X-Plan": "pro"}
    assert result.payload["body"] == {"plan": {"code": "pro", "seats": [1, 2]}, "note": 'say "hi"'}


def test_every_failing_field_is_reported():
    definition = {
        "channel": "email",
        "subject": "Order {{ ExternalTrigger.orderId }}",
        "html": "<p>{{ ExternalTrigger.total }}</p>",
    }
    result = preview_message(definition, {}, {})
    assert [(e.field, e.code) for e in result.errors] == [
        ("email.subject", "missing_trigger_key"),
        ("email.html", "missing_trigger_key"),
    ]
    assert result.payload is None


def test_bad_template_in_a_definition_keeps_field_line_and_column():
    definition = {"channel": "email", "subject": "Hi", "html": "<p>\n{% if x %}</p>"}
    [error] = preview_message(definition, {}, {}).errors
    assert error.field == "email.html"
    assert error.line == 2
    assert "email.html:2:" in error.detail
    assert "^" in error.detail


def test_channel_rule_violation_is_an_error():
    definition = {"channel": "email", "subject": "Hi {{ ExternalTrigger.name }}", "html": "x"}
    [error] = preview_message(definition, {}, {"name": "Ann\nBcc: x@example.com"}).errors
    assert error.code == "header_injection"
    assert error.field == "email.subject"


def test_unknown_channel_and_missing_field_are_definition_errors():
    [unknown] = preview_message({"channel": "sms", "text": "hi"}, {}, {}).errors
    assert unknown.code == "invalid_definition"
    assert unknown.message == '"channel" must be one of push, email, webhook, not "sms"'
    missing = preview_message({"channel": "push", "title": "t"}, {}, {})
    assert missing.kind == "push"
    [error] = missing.errors
    assert (error.field, error.message) == ("push.body", "Field required")


def test_message_warnings_match_the_message_own_render():
    # The preview uses the message's compiled templates: same escaping as a real send.
    message = EmailMessage(subject="s", html="<p>{{ ExternalTrigger.v }}</p>")
    result = preview_message(message, {}, {"v": "<script>"})
    assert result.payload is not None
    assert result.payload["html"] == message.render({}, {"v": "<script>"}).html


# --- HTML page -----------------------------------------------------------------------

LIVE_SCRIPT = re.compile(r"<\s*script", re.IGNORECASE)


def _srcdoc(page: str) -> str:
    match = re.search(r'<iframe[^>]*\ssandbox\s[^>]*srcdoc="([^"]*)"', page)
    assert match is not None, "no sandboxed iframe with a srcdoc attribute"
    return html.unescape(match.group(1))


def test_email_page_puts_the_html_in_a_sandboxed_iframe_without_live_scripts():
    definition = {
        "channel": "email",
        "subject": "Hi {{ Profile.name }}",
        "html": '<p class="x">{{ ExternalTrigger.note }}</p>{{ ExternalTrigger.raw | raw }}',
        "text": "{{ ExternalTrigger.note }}",
    }
    hostile = {"note": "<script>alert(1)</script>", "raw": "<script>alert(2)</script>\"'"}
    result = preview_message(definition, {"name": "<img src=x onerror=alert(3)>"}, hostile)
    page = render_preview_html(result, title="order <email>")
    assert not LIVE_SCRIPT.search(page)
    assert "<img src=x" not in page
    assert '<iframe class="email" title="email body" sandbox srcdoc="' in page
    assert "allow-scripts" not in page
    # The srcdoc holds exactly the rendered email once the attribute is unescaped.
    assert result.payload is not None
    assert _srcdoc(page) == result.payload["html"]
    assert "&lt;script&gt;alert(1)" in result.payload["html"]
    assert "<title>order &lt;email&gt;</title>" in page
    assert "Content-Security-Policy" in page


def test_push_page_shows_the_notification_mock():
    trigger = {"steps": 15342, "milestoneId": "m1", "badge": "gold"}
    page = render_preview_html(preview_message(PUSH, {"name": "Jo"}, trigger))
    assert '<div class="push-title">15,000 steps, Jo!</div>' in page
    assert '<div class="push-body">15342 steps today</div>' in page
    assert 'class="push-image" src="https://cdn.example.com/gold.png"' in page
    assert "fitapp://milestones/m1" in page


def test_webhook_page_shows_method_url_headers_and_pretty_body():
    trigger = {"accountId": "A1", "plan": {"code": "pro"}, "note": "</pre><script>x</script>"}
    page = render_preview_html(preview_message(WEBHOOK, {}, trigger))
    assert '<span class="method">PUT</span> https://hooks.example.com/accounts/A1' in page
    assert "X-Plan: pro" in page
    assert "  &#34;plan&#34;: {\n    &#34;code&#34;: &#34;pro&#34;\n  }" in page
    assert not LIVE_SCRIPT.search(page)


def test_page_lists_warnings_and_shows_errors_with_caret():
    warned = render_preview_html(preview_template(EXAMPLE_1, {}, {}))
    assert "Warnings" in warned
    assert "ExternalTrigger.Price is absent from the trigger data" in warned
    failed = render_preview_html(preview_template("a\n{{ Profle.x }}", {}, {}, name="t.liquid"))
    assert "line 2, column 4" in failed
    assert "t.liquid:2:4" in failed
    assert "2 | {{ Profle.x }}\n  |    ^" in html.unescape(failed)


def test_html_template_preview_is_shown_in_a_sandboxed_frame():
    result = preview_template("<b>{{ ExternalTrigger.v }}</b>", {}, {"v": "<i>"}, escape="html")
    page = render_preview_html(result)
    assert _srcdoc(page) == "<b>&lt;i&gt;</b>"


def test_index_page_links_each_preview():
    ok = preview_template("x", {}, {})
    bad = preview_template("{{", {}, {})
    page = render_index_html([("a.push", "a.push.html", ok), ("b<c>", "b.html", bad)])
    assert '<a href="a.push.html">a.push</a>' in page
    assert "b&lt;c&gt;" in page
    assert "1 error" in page


def test_preview_is_a_comparable_value():
    result = preview_template("x", {}, {})
    assert isinstance(result, Preview)
    assert result == preview_template("x", {}, {})


def test_the_page_environment_is_built_once():
    from tidings.preview import page

    assert page._jinja_environment() is page._jinja_environment()
