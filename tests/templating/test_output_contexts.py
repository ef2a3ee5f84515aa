"""Output contexts: every output-producing tag escapes for where it sits, or is refused.

Table-driven: a template, an escape mode, trigger data, and either the exact output
or the error class with its line and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

import tidings
from tidings.errors import TemplateSyntaxError, UnsafeOutputError
from tidings.templating import Template
from tidings.templating._escape import BLOCKED_URL, url_scheme

INJECT = 'x", "admin": true, "y": "z'


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    escape: str
    trigger: dict[str, Any] = field(default_factory=dict)
    expect: str | None = None
    error: type[Exception] | None = None
    at: tuple[int, int] | None = None


RENDERS = [
    Case(
        "json: cycle inside a string is string-escaped",
        '{"note": "{% cycle ExternalTrigger.v, \'b\' %}"}',
        "json",
        {"v": INJECT},
        '{"note": "x\\", \\"admin\\": true, \\"y\\": \\"z"}',
    ),
    Case(
        "json: cycle in value position is a JSON value",
        '{"note": {% cycle ExternalTrigger.v, "b" %}}',
        "json",
        {"v": INJECT},
        '{"note": "x\\", \\"admin\\": true, \\"y\\": \\"z"}',
    ),
    Case(
        "json: echo inside a liquid tag inside a string",
        '{"a": "{% liquid echo ExternalTrigger.v %}"}',
        "json",
        {"v": 'say "hi"'},
        '{"a": "say \\"hi\\""}',
    ),
    Case(
        "json: increment and decrement write numbers",
        '{"a": "{% increment n %}", "b": {% decrement m %}}',
        "json",
        {},
        '{"a": "0", "b": -1}',
    ),
    Case(
        "json: a quote in a comment does not count",
        '{% comment %}"{% endcomment %}{"a": {{ ExternalTrigger.v }}}',
        "json",
        {"v": INJECT},
        '{"a": "x\\", \\"admin\\": true, \\"y\\": \\"z"}',
    ),
    Case(
        "json: a capture is escaped once, where it is written",
        '{% capture c %}Hi {{ ExternalTrigger.v }}{% endcapture %}{"a": "{{ c }}", "b": {{ c }}}',
        "json",
        {"v": 'A "b"'},
        '{"a": "Hi A \\"b\\"", "b": "Hi A \\"b\\""}',
    ),
    Case(
        "json: ifchanged body",
        '{"a": "{% ifchanged %}{{ ExternalTrigger.v }}{% endifchanged %}"}',
        "json",
        {"v": INJECT},
        '{"a": "x\\", \\"admin\\": true, \\"y\\": \\"z"}',
    ),
    Case(
        "json: balanced quotes in a loop body",
        '[{% for i in (1..2) %}"{{ ExternalTrigger.v }}"{% unless forloop.last %},'
        "{% endunless %}{% endfor %}]",
        "json",
        {"v": '"'},
        '["\\"","\\""]',
    ),
    Case(
        "url: cycle is percent-encoded",
        "https://a.test/{% cycle ExternalTrigger.v, 'b' %}",
        "url",
        {"v": "@evil.test/x"},
        "https://a.test/%40evil.test%2Fx",
    ),
    Case(
        "url: a capture is encoded once",
        "https://a.test/?q={% capture c %}{{ ExternalTrigger.v }}{% endcapture %}{{ c }}",
        "url",
        {"v": "a b&c"},
        "https://a.test/?q=a%20b%26c",
    ),
    Case(
        "html: cycle is escaped",
        "<p>{% cycle ExternalTrigger.v, 'b' %}</p>",
        "html",
        {"v": "<b>"},
        "<p>&lt;b&gt;</p>",
    ),
    Case(
        "html: javascript URL from data is blocked",
        '<a href="{{ ExternalTrigger.u }}">x</a>',
        "html",
        {"u": "javascript:alert(1)"},
        f'<a href="{BLOCKED_URL}">x</a>',
    ),
    Case(
        "html: a scheme hidden by case, spaces and a tab is blocked",
        '<a href="{{ ExternalTrigger.u }}">x</a>',
        "html",
        {"u": " JaVa\tScRiPt:alert(1)"},
        f'<a href="{BLOCKED_URL}">x</a>',
    ),
    Case(
        "html: data URL in src is blocked",
        '<img src="{{ ExternalTrigger.u }}">',
        "html",
        {"u": "data:text/html,<script>alert(1)</script>"},
        f'<img src="{BLOCKED_URL}">',
    ),
    Case(
        "html: https URL from data is kept (and escaped)",
        "<a href='{{ ExternalTrigger.u }}'>x</a>",
        "html",
        {"u": "https://ok.test/?a=1&b='2'"},
        "<a href='https://ok.test/?a=1&amp;b=&#39;2&#39;'>x</a>",
    ),
    Case(
        "html: mailto and relative URLs from data are kept",
        '<a href="{{ ExternalTrigger.u }}">x</a><a href="{{ ExternalTrigger.r }}">y</a>',
        "html",
        {"u": "mailto:a@b.test", "r": "/orders/17?x=1:2"},
        '<a href="mailto:a@b.test">x</a><a href="/orders/17?x=1:2">y</a>',
    ),
    Case(
        "html: after a literal scheme, data is only escaped",
        '<a href="https://x.test/{{ ExternalTrigger.u }}">x</a>',
        "html",
        {"u": "javascript:alert(1)"},
        '<a href="https://x.test/javascript:alert(1)">x</a>',
    ),
    Case(
        "html: two outputs cannot assemble a scheme",
        '<a href="{{ ExternalTrigger.a }}{{ ExternalTrigger.b }}">x</a>',
        "html",
        {"a": "javascript", "b": ":alert(1)"},
        f'<a href="javascript{BLOCKED_URL}">x</a>',
    ),
    Case(
        "html: other URL attributes (xlink:href, formaction, background)",
        '<use xlink:href="{{ ExternalTrigger.u }}"/><button formaction="{{ ExternalTrigger.u }}">'
        '<td background="{{ ExternalTrigger.u }}">',
        "html",
        {"u": "vbscript:x"},
        f'<use xlink:href="{BLOCKED_URL}"/><button formaction="{BLOCKED_URL}">'
        f'<td background="{BLOCKED_URL}">',
    ),
    Case(
        "html: a captured URL is checked where it is written",
        '{% capture u %}{{ ExternalTrigger.u }}{% endcapture %}<a href="{{ u }}">x</a>',
        "html",
        {"u": "javascript:alert(1)"},
        f'<a href="{BLOCKED_URL}">x</a>',
    ),
    Case(
        "html: raw is trusted in a URL attribute",
        '<a href="{{ ExternalTrigger.u | raw }}">x</a>',
        "html",
        {"u": "tel:+15550100"},
        '<a href="tel:+15550100">x</a>',
    ),
    Case(
        "html: raw is trusted inside a tag",
        "<a {{ ExternalTrigger.attrs | raw }}>x</a>",
        "html",
        {"attrs": 'class="big"'},
        '<a class="big">x</a>',
    ),
    Case(
        "html: style element and attribute are escaped",
        '<style>.a{color: {{ ExternalTrigger.c }}}</style><p style="color: {{ ExternalTrigger.c }}">',
        "html",
        {"c": "red</style>"},
        '<style>.a{color: red&lt;/style&gt;}</style><p style="color: red&lt;/style&gt;">',
    ),
    Case(
        "html: an unquoted attribute without data is fine",
        "<div class=big>{{ ExternalTrigger.v }}</div>",
        "html",
        {"v": "<b>"},
        "<div class=big>&lt;b&gt;</div>",
    ),
    Case(
        "html: tablerow markup in text position",
        "<table>{% tablerow x in ExternalTrigger.l %}{{ x }}{% endtablerow %}</table>",
        "html",
        {"l": ["<b>"]},
        '<table><tr class="row1">\n<td class="col1">&lt;b&gt;</td></tr>\n</table>',
    ),
]

REFUSALS = [
    Case(
        "html: unquoted attribute value",
        "<p>\n<a title={{ ExternalTrigger.t }}>x</a>",
        "html",
        error=UnsafeOutputError,
        at=(2, 10),
    ),
    Case(
        "html: output where an attribute name goes",
        "<a {{ ExternalTrigger.t }}>x</a>",
        "html",
        error=UnsafeOutputError,
        at=(1, 4),
    ),
    Case(
        "html: output in a tag name",
        "<{{ ExternalTrigger.t }}>",
        "html",
        None,
        None,
        UnsafeOutputError,
        (1, 2),
    ),
    Case(
        "html: unquoted value after literal text",
        "<td class=c{{ ExternalTrigger.n }}>",
        "html",
        error=UnsafeOutputError,
        at=(1, 12),
    ),
    Case(
        "html: event handler attribute",
        "<a onclick=\"track('{{ ExternalTrigger.t }}')\">x</a>",
        "html",
        error=UnsafeOutputError,
        at=(1, 20),
    ),
    Case(
        "html: script element",
        '<script>var a = "{{ ExternalTrigger.t }}";</script>',
        "html",
        error=UnsafeOutputError,
        at=(1, 18),
    ),
    Case(
        "html: a literal colon turns data into a scheme",
        '<a href="{{ ExternalTrigger.t }}:alert(1)">x</a>',
        "html",
        error=UnsafeOutputError,
        at=(1, 33),
    ),
    Case(
        "html: echo in an unquoted value",
        "<a title={% echo ExternalTrigger.t %}>x</a>",
        "html",
        error=UnsafeOutputError,
        at=(1, 13),
    ),
    Case(
        "html: cycle in an unquoted value",
        "<a title={% cycle ExternalTrigger.t, 'a' %}>x</a>",
        "html",
        error=UnsafeOutputError,
        at=(1, 13),
    ),
    Case(
        "json: a quote opened in one branch only",
        '{% if ExternalTrigger.f %}"{% endif %}{"a": {{ ExternalTrigger.v }}}',
        "json",
        error=UnsafeOutputError,
        at=(1, 45),
    ),
    Case(
        "json: a quote toggled by a loop",
        '{% for i in ExternalTrigger.l %}"{% endfor %}{{ ExternalTrigger.v }}',
        "json",
        error=UnsafeOutputError,
        at=(1, 46),
    ),
    Case(
        "json: a break leaves a loop inside a string",
        '{% for i in (1..2) %}"{% break %}"{% endfor %}{{ ExternalTrigger.v }}',
        "json",
        error=UnsafeOutputError,
        at=(1, 47),
    ),
    Case(
        "json: a break in a nested loop, walked again by the outer loop",
        '{% for i in (1..2) %}{% for j in (1..2) %}"{% break %}"{% endfor %}'
        "{{ ExternalTrigger.v }}{% endfor %}",
        "json",
        error=UnsafeOutputError,
        at=(1, 68),
    ),
    Case(
        "json: an output after a backslash inside a string",
        '{"a": "\\{{ ExternalTrigger.v }}"}',
        "json",
        error=UnsafeOutputError,
        at=(1, 9),
    ),
    Case(
        "json: tablerow",
        '{"a": "{% tablerow x in ExternalTrigger.l %}{{ x }}{% endtablerow %}"}',
        "json",
        error=UnsafeOutputError,
        at=(1, 11),
    ),
    Case(
        "url: tablerow",
        "https://a.test/{% tablerow x in ExternalTrigger.l %}{% endtablerow %}",
        "url",
        error=UnsafeOutputError,
        at=(1, 19),
    ),
]


@pytest.mark.parametrize("case", RENDERS, ids=lambda case: case.name)
def test_output_is_escaped_for_its_context(case: Case) -> None:
    template = tidings.compile_template(case.source, escape=case.escape)  # type: ignore[arg-type]
    assert template.render({}, case.trigger) == case.expect
    interpreted = Template(case.source, escape=case.escape, compile=False)  # type: ignore[arg-type]
    assert interpreted.render({}, case.trigger) == case.expect


@pytest.mark.parametrize("case", REFUSALS, ids=lambda case: case.name)
def test_unsafe_output_positions_are_refused_at_compile_time(case: Case) -> None:
    assert case.error is not None
    with pytest.raises(case.error) as info:
        tidings.compile_template(case.source, escape=case.escape)  # type: ignore[arg-type]
    assert type(info.value) is case.error
    assert (info.value.line, info.value.column) == case.at
    assert info.value.code == "unsafe_output"


def test_refusal_names_the_message_field() -> None:
    with pytest.raises(UnsafeOutputError) as info:
        tidings.EmailMessage(subject="s", html="<a title={{ Profile.name }}>x</a>")
    assert info.value.field == "email.html"
    assert "quote the value" in info.value.message


def test_text_mode_writes_every_tag_verbatim() -> None:
    source = (
        "{{ ExternalTrigger.v }}|{% echo ExternalTrigger.v %}|{% cycle ExternalTrigger.v %}|"
        "<a title={{ ExternalTrigger.v }}>{% tablerow x in (1..1) %}{% endtablerow %}"
    )
    out = tidings.compile_template(source).render({}, {"v": INJECT})
    assert out.startswith(f"{INJECT}|{INJECT}|{INJECT}|<a title={INJECT}><tr")


@pytest.mark.parametrize(
    ("text", "scheme"),
    [
        ("javascript:alert(1)", "javascript"),
        ("  \x01JAVA\nSCRIPT:x", "javascript"),
        ("https://a.test", "https"),
        ("/path:with:colons", None),
        ("?q=a:b", None),
        ("#frag:x", None),
        ("relative/x:y", None),
        ("noscheme", None),
        (":x", ""),
    ],
)
def test_url_scheme_reads_what_a_browser_reads(text: str, scheme: str | None) -> None:
    assert url_scheme(text) == scheme


@pytest.mark.parametrize(
    "source",
    [
        "{% raw %}" * 20 + "{% raw %}",
        "{% doc %}" * 20,
    ],
)
def test_many_unclosed_raw_blocks_are_refused_before_parsing(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="was never closed") as info:
        tidings.compile_template(source)
    assert (info.value.line, info.value.column) == (1, 1)


def test_a_raw_tag_inside_a_doc_block_is_not_a_block() -> None:
    template = tidings.compile_template("{% doc %}{% raw %}{% enddoc %}ok")
    assert template.render({}, {}) == "ok"


def test_json_body_of_a_webhook_keeps_its_keys_whatever_cycle_writes() -> None:
    message = tidings.WebhookMessage(
        url="https://hooks.test/x",
        body='{"note": "{% cycle ExternalTrigger.v, \'b\' %}", "n": 1}',
    )
    body = message.render({}, {"v": INJECT}).body
    assert body == {"note": INJECT, "n": 1}
    assert json.loads(json.dumps(body)).keys() == {"note", "n"}
