"""The compiled render path: same text and same errors as the interpreter, only faster."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

import tidings
from tidings.errors import LimitExceededError, RenderError, TemplateError
from tidings.templating import Limits, Template
from tidings.templating._compiler import generate_source

TEMPLATES = Path(__file__).parents[2] / "templates"


def interpreted(template: Template, data: dict[str, Any]) -> str:
    return template._interpret(dict(data))


def compiled_raw(template: Template, data: dict[str, Any]) -> str:
    """The generated function alone: no interpreter behind it."""
    assert template._render_fn is not None
    return template._render_fn(dict(data))


def both(source: str, data: dict[str, Any], **options: Any) -> tuple[str, str]:
    template = tidings.compile_template(source, namespaces=None, **options)
    assert template.compiled, source
    return compiled_raw(template, data), interpreted(template, data)


@pytest.mark.parametrize(
    "name",
    ["order-example-1", "order-example-2", "order-summary"],
)
@pytest.mark.parametrize("escape", ["text", "html"])
def test_seed_templates_compile_and_render_like_the_interpreter(name: str, escape: str) -> None:
    source = (TEMPLATES / f"{name}.liquid").read_text(encoding="utf-8")
    profile = json.loads((TEMPLATES / f"{name}.profile.json").read_text(encoding="utf-8"))
    trigger = json.loads((TEMPLATES / f"{name}.trigger.json").read_text(encoding="utf-8"))
    template = tidings.compile_template(source, escape=escape)  # type: ignore[arg-type]
    assert template.compiled
    data = {"Profile": profile, "ExternalTrigger": trigger}
    expected = interpreted(template, data)
    assert compiled_raw(template, data) == expected
    assert template.render(profile, trigger) == expected
    assert "Thank you for shopping with us!" in expected


PYTHONIC = (
    "def f():\n    return '''x''' + \"\"\"y\"\"\"\n"
    "\\n \\ \\\\ ' \" ''' \"\"\" {0} %s f'{x}' __import__('os').system('echo hi')\n"
    "\\x00 \\u2603 \r\n\t end"
)


# Liquid string literals holding quotes, backslashes and triple quotes.
LITERALS = "{{ \"it's ''' \\\\ \\\\n\" }}{{ 'say \"\"\"hi\"' }}"


@pytest.mark.parametrize("escape", ["text", "html", "json", "url"])
def test_template_text_with_python_syntax_and_quotes_is_copied_verbatim(escape: str) -> None:
    source = PYTHONIC + "{{ x }}" + PYTHONIC + LITERALS
    template = tidings.compile_template(source, namespaces=None, escape=escape)  # type: ignore[arg-type]
    assert template.compiled
    out = compiled_raw(template, {"x": "v"})
    assert out == interpreted(template, {"x": "v"})
    assert out.startswith(PYTHONIC)
    generated, _ = generate_source(template._bound)
    assert "__import__" not in generated.replace(repr(PYTHONIC), "")


SEMANTICS = [
    # (template, data)
    ("{{ a }}|{{ missing }}|{{ missing.deep[0].x }}|{{ nil }}", {"a": None}),
    ("{{ a }}{{ b }}{{ c }}", {"a": [1, None, True, [2, "x"]], "b": {"k": None}, "c": (1, 2)}),
    ("{{ a.size }} {{ a.first }} {{ a.last }} {{ a[-1] }} {{ a[9] }}", {"a": [3, 4, 5]}),
    (
        "{{ d.size }} {{ d.first }} {{ s.size }} {{ s.first }} {{ s[0] }}",
        {"d": {"size": 7, "x": 1}, "s": "abc"},
    ),
    (
        "{{ d['odd key'] }}{{ d[k] }}{{ l.x }}{{ l['0'] }}",
        {"d": {"odd key": 1, "z": 2}, "k": "z", "l": [1]},
    ),
    ("{% if a %}t{% else %}f{% endif %}" * 1, {"a": ""}),
    (
        "{% if a %}t{% elsif b %}e{% else %}f{% endif %}{% unless a %}u{% endunless %}",
        {"a": 0, "b": None},
    ),
    (
        "{% if a == b and c or d %}y{% endif %}{% if a contains 'x' %}c{% endif %}",
        {"a": "xy", "b": "xy", "c": False, "d": True},
    ),
    (
        "{% if x > 1 %}gt{% endif %}{% if x <= 1.5 %}le{% endif %}{% if x != nil %}nn{% endif %}",
        {"x": 2},
    ),
    ("{% if e == empty %}E{% endif %}{% if b == blank %}B{% endif %}", {"e": [], "b": "  "}),
    (
        "{% for i in l limit:2 offset:1 reversed %}{{ forloop.index }}{{ i }}"
        "{{ forloop.rindex }}{{ forloop.first }}{{ forloop.last }}{{ forloop.length }},{% endfor %}",
        {"l": [1, 2, 3, 4]},
    ),
    (
        "{% for i in (1..5) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        {},
    ),
    (
        "{% for i in l %}x{% else %}empty{% endfor %}{% for k in d %}{{ k }};{% endfor %}",
        {"l": [], "d": {"a": 1, "b": [2]}},
    ),
    (
        "{% for c in s %}[{{ c }}]{% endfor %}{% for c in n %}[{{ c }}]{% endfor %}",
        {"s": "abc", "n": 5},
    ),
    (
        "{% for i in l limit:0 %}{{ i }}{% endfor %}|{% for i in l offset:'1' %}{{ i }}{% endfor %}",
        {"l": [1, 2, 3]},
    ),
    (
        "{% for a in o %}{% for a in i %}{{ a }}{% endfor %}{{ a }}{% endfor %}",
        {"o": [1, 2], "i": ["x"]},
    ),
    ("{% for x in l %}{% assign x = 9 %}{{ x }}{% endfor %}{{ x }}", {"l": [1, 2]}),
    ("{{ foo }}{% assign foo = 'bar' | upcase %}{{ foo }}{{ partial }}", {"foo": "baz"}),
    (
        "{% capture c %}  {% endcapture %}[{{ c }}]{% capture d %} x {{ a }}{% endcapture %}[{{ d }}]",
        {"a": "<b>"},
    ),
    ("{% case x %}{% when 1, 2, 1 %}one{% when 'a' %}a{% else %}other{% endcase %}", {"x": 1}),
    ("{% case x %}{% when 3 %}three{% else %}e1{% else %}e2{% endcase %}", {"x": 1}),
    # Each `when` reads the case's value afresh, after an earlier block's assign.
    (
        "{% case x %}{% when 1 %}a{% assign x = 2 %}{% when 2 %}b{% when 1 %}c{% endcase %}{{ x }}",
        {"x": 1},
    ),
    ("a  {%- if true -%}  b  {%- endif -%}  c\n{{- ' d ' -}}\n", {}),
    (
        "{% liquid\nassign x = 'q'\necho x | upcase\n%}{% comment %}{{ no }}{% endcomment %}{% # inline %}",
        {},
    ),
    ("{% if true %}   {% assign x = 1 %}   {% endif %}|{% for i in (1..2) %}  {% endfor %}|", {}),
    (
        "{{ a | default: 'd' }}{{ b | default: 'd' }}{{ c | default: 'd' }}{{ n | default: 5 }}{{ f | default }}",
        {"a": "", "b": False, "c": [], "n": 0, "f": None},
    ),
    (
        "{{ x | default: 'y', allow_false: true }}{{ 3 | plus: 4 | times: 2 }}{{ 'a,b' | split: ',' | join: '-' }}",
        {"x": False},
    ),
    (
        "{{ l | sort | first }}{{ 'Hello' | slice: 1, 3 | append: '!' | prepend: '<' }}",
        {"l": [3, 1, 2]},
    ),
    ("{{ (1..4) }}{{ (1..4) | join: '+' }}{{ (a..b) | size }}", {"a": "2", "b": 5}),
    ("{{ 1.5 }}{{ -3 }}{{ 10000000000000000000000 }}{{ true }}{{ 'x' | size }}", {}),
    ("{{ d | json }}{{ d }}{{ u | json }}", {"d": {"a": [1, None, "x"]}}),
]


@pytest.mark.parametrize("escape", ["text", "html", "json", "url"])
@pytest.mark.parametrize(("source", "data"), SEMANTICS, ids=range(len(SEMANTICS)))
def test_compiled_output_equals_the_interpreter(
    source: str, data: dict[str, Any], escape: str
) -> None:
    got, expected = both(source, data, escape=escape)
    assert got == expected


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in l %}{% cycle 'a', 'b' %}{% endfor %}",
        "{% tablerow i in l %}{{ i }}{% endtablerow %}",
        "{% increment n %}{% decrement n %}",
        "{% for i in l limit:1 %}{{ i }}{% endfor %}{% for i in l offset:continue %}{{ i }}{% endfor %}",
        "{% for i in l %}{% for j in l %}{{ forloop.parentloop.index }}{% endfor %}{% endfor %}",
        "{% for i in l %}{{ forloop }}{% endfor %}",
        "{% ifchanged %}{{ l }}{% endifchanged %}",
        "{{ now | date: '%Y' | size }}",
        "{% for i in l %}{% capture c %}{% break %}{% endcapture %}{% endfor %}",
        "{% break %}",
    ],
)
def test_templates_outside_the_subset_fall_back_to_the_interpreter(source: str) -> None:
    template = tidings.compile_template(source, namespaces=None)
    assert not template.compiled
    reference = Template(source, namespaces=None, compile=False)
    data = {"l": [1, 2]}
    try:
        expected: object = reference.render_globals(data)
    except TemplateError as exc:
        expected = type(exc)
    try:
        got: object = template.render_globals(data)
    except TemplateError as exc:
        got = type(exc)
    assert got == expected


def test_strict_templates_stay_on_the_interpreter() -> None:
    template = tidings.compile_template("{{ Profile.name }}", strict=True)
    assert not template.compiled
    assert template.render({"name": "Ann"}) == "Ann"


def test_compile_false_keeps_the_interpreter() -> None:
    assert not Template("{{ Profile.name }}", compile=False).compiled
    assert Template("{{ Profile.name }}").compiled


def error_of(template: Template, data: dict[str, Any]) -> tuple[type, str, int | None, int | None]:
    with pytest.raises(TemplateError) as info:
        template.render_globals(data)
    exc = info.value
    return type(exc), str(exc), exc.line, exc.column


ERRORS = [
    ("ok\n{{ 1 | divided_by: 0 }}", {}, Limits(), RenderError),
    ("a\n  {{ x | plus: 1 | truncate: 'q' }}", {"x": 1}, Limits(), RenderError),
    ("a\n  {{ l | map: 1 }}", {"l": [1]}, Limits(), RenderError),
    ("{% if 'a' < 1 %}x{% endif %}", {}, Limits(), RenderError),
    (
        "{% for i in (1..5) %}{% for j in (1..5) %}{{ j }}{% endfor %}{% endfor %}",
        {},
        Limits(loop_iterations=20),
        LimitExceededError,
    ),
    ("{% for i in (1..100000000) %}{% endfor %}", {}, Limits(), LimitExceededError),
    (
        "x\n{% for i in (1..50) %}0123456789{% endfor %}",
        {},
        Limits(output_bytes=300),
        LimitExceededError,
    ),
    ("{{ s }}{{ s }}", {"s": "é" * 60}, Limits(output_bytes=200), LimitExceededError),
    (
        "{% capture c %}{% for i in (1..50) %}0123456789{% endfor %}{% endcapture %}",
        {},
        Limits(output_bytes=300),
        LimitExceededError,
    ),
    (
        "{{ s }}{% capture c %}{{ s }}{% endcapture %}",
        {"s": "x" * 150},
        Limits(output_bytes=250),
        LimitExceededError,
    ),
    (
        "{% assign a = s %}{% assign b = s %}{% assign c = s %}",
        {"s": "x" * 150},
        Limits(output_bytes=400),
        LimitExceededError,
    ),
    (
        "{{ s | append: s | append: s }}",
        {"s": "x" * 150},
        Limits(output_bytes=400),
        LimitExceededError,
    ),
    ("{% for i in (1..3) limit: 'x' %}{% endfor %}", {}, Limits(), RenderError),
    ("{% for i in l limit: -5 %}{{ i }}{% endfor %}", {"l": [1, 2]}, Limits(), RenderError),
]


@pytest.mark.parametrize(("source", "data", "limits", "cls"), ERRORS, ids=range(len(ERRORS)))
def test_errors_have_the_interpreters_class_message_and_location(
    source: str, data: dict[str, Any], limits: Limits, cls: type
) -> None:
    template = tidings.compile_template(source, namespaces=None, limits=limits)
    assert template.compiled
    reference = Template(source, namespaces=None, limits=limits, compile=False)
    expected = error_of(reference, data)
    assert expected[0] is cls
    assert error_of(template, data) == expected
    # The generated function raises too (it never returns text the interpreter refuses).
    with pytest.raises(Exception):  # noqa: B017, PT011 - any signal; the class comes from the interpreter
        compiled_raw(template, data)


def test_render_with_report_still_reports_fallbacks() -> None:
    template = tidings.compile_template("Hi {{ Profile.name | default: 'there' }}")
    assert template.compiled
    report = template.render_with_report({}, {})
    assert report.text == "Hi there"
    assert [f.default for f in report.fallbacks] == ["there"]


def test_render_checks_trigger_keys_and_namespaces_like_before() -> None:
    template = tidings.compile_template("{{ ExternalTrigger.code }}{{ Campaign.name }}")
    with pytest.raises(tidings.MissingTriggerKeyError):
        template.render({}, {})
    with pytest.raises(tidings.TriggerDataError):
        template.render({}, ["code"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        template.render({}, {"code": 1}, Bogus={})
    assert template.render({}, {"code": 1}, Campaign={"name": "c"}) == "1c"


def test_non_string_top_level_keys_are_reported_like_the_interpreter() -> None:
    template = tidings.compile_template("{{ x }}", namespaces=None)
    with pytest.raises(RenderError):
        template.render_globals({1: "a", "x": "b"})


def test_compiled_renders_are_thread_safe() -> None:
    source = (TEMPLATES / "order-example-2.liquid").read_text(encoding="utf-8")
    template = tidings.compile_template(source)
    assert template.compiled
    triggers = [
        {
            "productDetails": [
                {"productName": f"p{i}-{j}", "pricingDetails": [{"name": "n", "value": j}]}
                for j in range(i % 4)
            ]
        }
        for i in range(40)
    ]
    expected = [interpreted(template, {"Profile": {}, "ExternalTrigger": t}) for t in triggers]
    results: list[list[str]] = []

    def work() -> None:
        results.append([template.render({}, t) for _ in range(20) for t in triggers][-40:])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


GOLDEN = Path(__file__).parents[2] / ".." / "shared" / "golden-liquid" / "golden_liquid.json"


@pytest.mark.skipif(not GOLDEN.exists(), reason="golden Liquid suite not found")
def test_golden_liquid_cases_render_the_same_compiled_and_interpreted() -> None:
    """Every golden case that compiles: the generated function alone matches the interpreter.

    test_liquid_conformance.py checks tidings against the expected results; this
    checks that the compiled path (not the interpreter it falls back to on an
    error) produced them.
    """
    cases = json.loads(GOLDEN.read_text(encoding="utf-8"))["tests"]
    compiled = 0
    mismatches = []
    for case in cases:
        if case.get("templates"):
            continue
        for escape in ("text", "html"):
            try:
                template = tidings.compile_template(
                    case["template"], namespaces=None, escape=escape
                )
            except TemplateError:
                continue
            if not template.compiled:
                continue
            compiled += 1
            data = case.get("data", {})
            try:
                expected: object = interpreted(template, data)
            except TemplateError:
                expected = None
            try:
                got: object = compiled_raw(template, data)
            except Exception:  # noqa: BLE001 - any exception hands over to the interpreter
                got = None
            if got != expected:
                mismatches.append((case["name"], escape, got, expected))
    assert mismatches == []
    assert compiled > 1500  # most of the suite takes the compiled path
