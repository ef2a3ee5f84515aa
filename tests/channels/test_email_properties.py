"""Properties of email HTML: no interpolated value can open a tag or leave an attribute."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings import EmailMessage, HeaderInjectionError

SETTINGS = settings(max_examples=150, deadline=None)

# Text biased towards the characters that matter in HTML.
html_text = st.text(
    alphabet=st.sampled_from("<>&\"'/=ab \n") | st.characters(exclude_categories=["Cs"]),
    max_size=40,
)

MESSAGE = EmailMessage(
    subject="Hi",
    html=(
        '<p>{{ ExternalTrigger.s }}</p><a title="{{ ExternalTrigger.s | upcase }}">'
        "{{ ExternalTrigger.items }}</a>"
    ),
)


@SETTINGS
@given(s=html_text)
def test_no_interpolated_string_produces_an_unescaped_tag(s: str):
    rendered = (
        EmailMessage(subject="Hi", html="<p>{{ ExternalTrigger.s }}</p>").render({}, {"s": s}).html
    )
    assert rendered.count("<") == 2
    assert rendered.count(">") == 2
    assert rendered.startswith("<p>")
    assert rendered.endswith("</p>")
    assert html.unescape(rendered[3:-4]) == s


@SETTINGS
@given(s=html_text, items=st.lists(html_text, max_size=4))
def test_values_cannot_break_out_of_attributes_or_open_tags(s: str, items: list[str]):
    rendered = MESSAGE.render({}, {"s": s, "items": items}).html
    assert rendered.count("<") == 4
    assert rendered.count(">") == 4
    assert rendered.count('"') == 2
    assert "'" not in rendered


@SETTINGS
@given(s=html_text)
def test_raw_is_the_only_way_to_insert_markup(s: str):
    message = EmailMessage(subject="Hi", html="{{ ExternalTrigger.s | raw }}")
    assert message.render({}, {"s": s}).html == s


@SETTINGS
@given(s=st.text())
def test_subject_never_carries_a_line_break(s: str):
    message = EmailMessage(subject="Re: {{ ExternalTrigger.s }}", html="h")
    if "\r" in s or "\n" in s:
        with pytest.raises(HeaderInjectionError) as info:
            message.render({}, {"s": s})
        assert info.value.field == "email.subject"
    else:
        assert message.render({}, {"s": s}).subject == f"Re: {s}"
