"""Property: whatever the data holds, it never changes the structure of the output.

For each output context and each tag that writes output, a template places the tag
in every position that context has (inside and outside a JSON string; URL path,
query and fragment; HTML text, quoted and URL attributes, comments). Hypothesis
then feeds arbitrary JSON-like data, biased towards the characters each context
gives meaning to, and the output must keep the template's structure: the same JSON
keys and value types, the same URL scheme, host, path segments and query keys, the
same HTML tags, attributes and comments, and no URL attribute with a dangerous
scheme. In text mode the data is written unchanged.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tidings
from tidings.errors import ChannelError
from tidings.templating import Template
from tidings.templating._escape import BLOCKED_URL, SAFE_URL_SCHEMES, to_text, url_scheme

D = "ExternalTrigger.w.d"

# Every way a template can write a value: (name, snippet writing the data).
FORMS: dict[str, str] = {
    "output": f"{{{{ {D} }}}}",
    "filtered output": f"{{{{ {D} | default: 'x' }}}}",
    "echo": f"{{% echo {D} %}}",
    "liquid echo": f"{{% liquid echo {D} %}}",
    "cycle": f"{{% cycle {D}, {D} %}}",
    "capture": f"{{% capture c %}}{{{{ {D} }}}}{{% endcapture %}}{{{{ c }}}}",
    "ifchanged": f"{{% ifchanged %}}{{{{ {D} }}}}{{% endifchanged %}}",
    "for": f"{{% for i in (1..2) %}}{{{{ {D} }}}}{{% endfor %}}",
    "if": f"{{% if {D} %}}{{{{ {D} }}}}{{% else %}}{{% echo {D} %}}{{% endif %}}",
    "case": f"{{% case {D} %}}{{% when 1 %}}1{{% else %}}{{{{ {D} }}}}{{% endcase %}}",
}
# Tags that write values the data cannot choose (numbers).
COUNTERS: dict[str, str] = {
    "increment": "{% increment n %}",
    "decrement": "{% decrement n %}",
}
ALL_FORMS = {**FORMS, **COUNTERS}

NASTY = [
    '"',
    "'",
    "\\",
    "<",
    ">",
    "&",
    "=",
    " ",
    "\n",
    "\t",
    "/",
    "?",
    "#",
    "@",
    ":",
    ".",
    "..",
    "%",
    "{{",
    "}}",
    "-->",
    "</p>",
    "javascript:alert(1)",
    " JaVa\tScRiPt:x",
    "data:text/html,x",
    'x", "admin": true, "y": "z',
    "x' onclick='alert(1)",
    "a&b=c",
    "https://evil.test/x",
    "//evil.test",
]
texts = st.lists(st.sampled_from(NASTY) | st.text(max_size=4), max_size=5).map("".join)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
data = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)

PROPERTY = settings(max_examples=25, deadline=None)


def _render(source: str, escape: str, value: Any) -> list[str]:
    """The render on both paths (they must agree)."""
    compiled = tidings.compile_template(source, escape=escape)  # type: ignore[arg-type]
    interpreted = Template(source, escape=escape, compile=False)  # type: ignore[arg-type]
    trigger = {"w": {"d": value}}
    out = compiled.render({}, trigger)
    assert interpreted.render({}, trigger) == out
    return [out]


# Forms that write a value zero or several times: as JSON values they would make
# the template itself invalid JSON, whatever the data; they go in strings only.
REPEATING = {"for", "ifchanged"}


@pytest.mark.parametrize("name", list(ALL_FORMS))
@PROPERTY
@given(value=data)
def test_data_never_changes_json_structure(name: str, value: Any) -> None:
    form = ALL_FORMS[name]
    slot = f'"{form}"' if name in REPEATING else form
    source = f'{{"s": "{form}", "v": {slot}, "l": ["a{form}b", {slot}]}}'
    (out,) = _render(source, "json", value)
    parsed = json.loads(out)
    assert set(parsed) == {"s", "v", "l"}
    assert isinstance(parsed["s"], str)
    assert isinstance(parsed["l"], list)
    assert len(parsed["l"]) == 2
    assert parsed["l"][0].startswith("a")
    assert parsed["l"][0].endswith("b")


@pytest.mark.parametrize("form", ALL_FORMS.values(), ids=list(ALL_FORMS))
@PROPERTY
@given(value=data)
def test_data_never_changes_url_structure(form: str, value: Any) -> None:
    source = f"https://host.test/p/{form}/q?x={form}&y=1#f{form}"
    (out,) = _render(source, "url", value)
    parts = urlsplit(out)
    assert (parts.scheme, parts.netloc) == ("https", "host.test")
    segments = parts.path.split("/")
    assert len(segments) == 4
    assert segments[:2] == ["", "p"]
    assert segments[3] == "q"
    assert [key for key, _ in parse_qsl(parts.query, keep_blank_values=True)] == ["x", "y"]
    assert parts.fragment.startswith("f")


@pytest.mark.parametrize("form", FORMS.values(), ids=list(FORMS))
@PROPERTY
@given(value=data)
def test_webhook_url_from_data_never_leaves_its_path(form: str, value: Any) -> None:
    message = tidings.WebhookMessage(url=f"https://host.test/p/{form}/q")
    try:
        url = message.render({}, {"w": {"d": value}}).url
    except ChannelError:
        return  # refused, e.g. a dot segment that a client would resolve
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "host.test")
    segments = parts.path.split("/")
    assert segments[:2] == ["", "p"]
    assert segments[-1] == "q"
    assert all(
        segment.lower() not in {".", "..", "%2e", "%2e%2e", ".%2e", "%2e."} for segment in segments
    )


class _Structure(HTMLParser):
    """The tags, attribute names, comments and URL attribute values of a document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, ...]] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.shape.append(("start", tag, *(name for name, _ in attrs)))
        self.urls.extend(value or "" for name, value in attrs if name in ("href", "src"))

    def handle_endtag(self, tag: str) -> None:
        self.shape.append(("end", tag))

    def handle_comment(self, data: str) -> None:
        self.shape.append(("comment",))


HTML_SHAPE = [
    ("start", "p", "class"),
    ("end", "p"),
    ("start", "a", "href", "title"),
    ("end", "a"),
    ("start", "img", "src", "alt"),
    ("comment",),
    ("start", "table"),
    ("start", "tr", "class"),
    ("start", "td", "class"),
    ("end", "td"),
    ("end", "tr"),
    ("end", "table"),
]


@pytest.mark.parametrize("form", ALL_FORMS.values(), ids=list(ALL_FORMS))
@PROPERTY
@given(value=data)
def test_data_never_changes_html_structure(form: str, value: Any) -> None:
    source = (
        f'<p class="c {form}">{form}</p><a href="{form}" title=\'{form}\'>{form}</a>'
        f'<img src="https://x.test/{form}" alt="{form}"><!-- {form} -->'
        f"<table>{{% tablerow x in (1..1) %}}{form}{{% endtablerow %}}</table>"
    )
    (out,) = _render(source, "html", value)
    parser = _Structure()
    parser.feed(out)
    parser.close()
    assert parser.shape == HTML_SHAPE
    link, image = parser.urls
    assert link.startswith(BLOCKED_URL) or url_scheme(link) in {None, *SAFE_URL_SCHEMES}
    assert image.startswith("https://x.test/")


@pytest.mark.parametrize("form", FORMS.values(), ids=list(FORMS))
@PROPERTY
@given(value=texts.filter(bool))
def test_text_mode_writes_data_unchanged(form: str, value: str) -> None:
    (out,) = _render(f"[{form}]", "text", value)
    assert out == f"[{to_text(value) * (2 if 'for i' in form else 1)}]"
