"""How values become text: stringification, escaping and fidelity to the input."""

from __future__ import annotations

from typing import Any

import pytest

import tidings


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (1.5, "1.5"),
        ("text", "text"),
        ([1, None, "a", True], "1atrue"),
        ([["a", None], ["b", [False]]], "abfalse"),
        ({"k": None, "n": [1, 2]}, '{"k":null,"n":[1,2]}'),
        ({}, "{}"),
    ],
)
def test_text_stringification(value: Any, expect: str) -> None:
    template = tidings.compile_template("{{ Profile.v }}")
    assert template.render({"v": value}, {}) == expect


@pytest.mark.parametrize(
    ("escape", "value", "expect"),
    [
        ("html", ["<a>", None, "&"], "&lt;a&gt;&amp;"),
        ("html", {"k": "<b>"}, "{&#34;k&#34;:&#34;&lt;b&gt;&#34;}"),
        ("url", ["a b", None], "a%20b"),
        ("url", True, "true"),
        ("json", [1, None, {"a": "b"}], '[1,null,{"a":"b"}]'),
        ("json", None, "null"),
    ],
)
def test_escaped_stringification(escape: Any, value: Any, expect: str) -> None:
    template = tidings.compile_template("{{ Profile.v }}", escape=escape)
    assert template.render({"v": value}, {}) == expect


def test_carriage_returns_in_template_and_data_are_kept() -> None:
    template = tidings.compile_template(
        "a\r\n{{ ExternalTrigger.s }}\r\n{% capture c %}x\r\ny{% endcapture %}{{ c }}"
    )
    assert template.render({}, {"s": "1\r\n2\r3"}) == "a\r\n1\r\n2\r3\r\nx\r\ny"


def test_a_lone_surrogate_in_data_renders_like_any_text() -> None:
    # json.loads accepts "\ud800"; counting output bytes must not crash on it.
    template = tidings.compile_template("[{{ ExternalTrigger.s }}]")
    assert template.render({}, {"s": "\ud800x"}) == "[\ud800x]"


def test_non_ascii_output_counts_utf8_bytes() -> None:
    template = tidings.compile_template(
        "{{ ExternalTrigger.s }}", limits=tidings.Limits(output_bytes=8)
    )
    assert template.render({}, {"s": "éééé"}) == "éééé"  # 8 bytes
    with pytest.raises(tidings.LimitExceededError):
        template.render({}, {"s": "ééééé"})  # 10 bytes, 5 characters


def test_small_ranges_still_work_in_filters_and_loops() -> None:
    template = tidings.compile_template(
        "{{ (1..5) | join: ',' }} {% for i in (1..3) reversed %}{{ i }}{% endfor %} {{ (1..4) }}"
    )
    assert template.render() == "1,2,3,4,5 321 1..4"


def test_a_range_longer_than_the_loop_limit_is_refused_even_with_a_limit() -> None:
    template = tidings.compile_template(
        "{% for i in (1..100) limit: 2 %}{{ i }}{% endfor %}",
        limits=tidings.Limits(loop_iterations=50),
    )
    with pytest.raises(tidings.LimitExceededError, match="loop iteration limit"):
        template.render()


def test_assigned_variables_are_bounded() -> None:
    template = tidings.compile_template(
        "{% for i in (1..30) %}{% capture s %}{{ s }}{{ s }}x{% endcapture %}{% endfor %}done",
        limits=tidings.Limits(output_bytes=10_000),
    )
    with pytest.raises(tidings.LimitExceededError):
        template.render()


def test_whitespace_control_strips_both_sides() -> None:
    template = tidings.compile_template(
        "Hi\n  {%- if Profile.name -%}\n  {{ Profile.name }}\n  {%- endif %}!"
    )
    assert template.render({"name": "Ann"}, {}) == "HiAnn!"
    assert template.render({}, {}) == "Hi!"
