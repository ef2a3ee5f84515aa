"""Resource bounds: ranges, the work budget, and compile time linear in template size."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import pytest

import tidings
from tidings.errors import LimitExceededError, TemplateSyntaxError
from tidings.templating import Limits, Template

TEMPLATES = Path(__file__).parents[2] / "templates"

HOSTILE = "{% for i in (1..10000) %}{% assign s = (1..10000) | sort | reverse | size %}{% endfor %}"


def _both_paths(source: str, **options: object) -> list[Template]:
    return [
        Template(source, compile=True, **options),  # type: ignore[arg-type]
        Template(source, compile=False, **options),  # type: ignore[arg-type]
    ]


def test_range_in_a_json_value_is_refused_before_it_is_built() -> None:
    template = tidings.compile_template('{"ids": {{ (1..ExternalTrigger.n) }}}', escape="json")
    started = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        template.render({}, {"n": 100_000_000})
    assert time.perf_counter() - started < 1
    assert info.value.message == (
        "range of 100000000 items is over the loop iteration limit of 10000"
    )
    assert (info.value.line, info.value.column) == (1, 12)


@pytest.mark.parametrize(
    "source",
    [
        "{{ (1..ExternalTrigger.n) }}",
        "{% if (1..ExternalTrigger.n) contains 'a' %}x{% endif %}",
        "{% cycle (1..ExternalTrigger.n), 1 %}",
        "{% assign r = (1..ExternalTrigger.n) %}{{ r | json }}",
        "{% for i in (1..ExternalTrigger.n) limit: 2 %}{{ i }}{% endfor %}",
        "{% case (1..ExternalTrigger.n) %}{% when 1 %}{% endcase %}",
    ],
)
def test_a_range_over_the_loop_limit_is_refused_wherever_it_is_used(source: str) -> None:
    for template in _both_paths(source):
        assert template.render({}, {"n": 10_000}) is not None  # at the limit: fine
        with pytest.raises(LimitExceededError, match="range of 10001 items"):
            template.render({}, {"n": 10_001})


def test_a_range_too_long_to_count_is_refused() -> None:
    template = tidings.compile_template("{{ (1..ExternalTrigger.n) | size }}")
    with pytest.raises(LimitExceededError, match="over the loop iteration limit"):
        template.render({}, {"n": 10**30})


def test_hostile_loop_of_sorts_is_refused_well_under_a_second() -> None:
    for template in _both_paths(HOSTILE):
        started = time.perf_counter()
        with pytest.raises(LimitExceededError) as info:
            template.render({}, {})
        elapsed = time.perf_counter() - started
        assert info.value.message.startswith("work limit reached")
        assert (info.value.line, info.value.column) == (1, 60)  # the `sort` filter
        # 14 s per render before the work budget; the bound is loose for shared CI.
        assert elapsed < 1.5


@pytest.mark.parametrize(
    ("source", "at"),
    [
        (HOSTILE.replace("10000) %}", "1000) %}", 1), (1, 52)),
        ("{% for i in (1..2000) %}{% for j in (1..2) %}{% endfor %}{% endfor %}", (1, 32)),
        (
            "{% for i in (1..2000) %}{% if ExternalTrigger.s contains 'zz' %}{% endif %}"
            "{% endfor %}",
            (1, 49),
        ),
        (
            "{% for i in (1..3000) %}{{ i | plus: 1 | minus: 1 | times: 1 }}{% endfor %}",
            (1, 53),
        ),
        ("{% for i in (1..200) %}{% assign j = ExternalTrigger.l | json %}{% endfor %}", (1, 58)),
        # Constant-time filters only: the compiled code checks once per iteration.
        (
            "{% for i in (1..3000) %}{{ ExternalTrigger.x | default: 1 | size }}{% endfor %}",
            (1, 48),
        ),
        # ... and at the end of the render, outside loops.
        ("{{ ExternalTrigger.x | default: 1 }}" * 900, (1, 28824)),
        # Comparisons: 5 units each, plus the deep size of equal-sized sides.
        ("{% for i in (1..2001) %}{% if i == 3 %}{% endif %}{% endfor %}", (1, 33)),
        (
            "{% for i in (1..100) %}{% if ExternalTrigger.l != ExternalTrigger.m %}{% endif %}"
            "{% endfor %}",
            (1, 48),
        ),
        (
            "{% for i in (1..100) %}{% case ExternalTrigger.l %}{% when 1, ExternalTrigger.m %}"
            "x{% endcase %}{% endfor %}",
            (1, 55),
        ),
        (
            "{% for i in (1..200) %}{% if ExternalTrigger.s >= ExternalTrigger.t %}{% endif %}"
            "{% endfor %}",
            (1, 48),
        ),
    ],
)
def test_work_budget_stops_both_paths_at_the_same_place(source: str, at: tuple[int, int]) -> None:
    limits = Limits(work_budget=20_000)
    trigger = {
        "s": "a" * 2000,
        "t": "b" * 2000,
        "l": [{"a": [1, 2, 3]}] * 100,
        "m": [{"a": [1, 2, 3]}] * 100,
    }
    errors = []
    for template in _both_paths(source, limits=limits):
        with pytest.raises(LimitExceededError) as info:
            template.render({}, trigger)
        errors.append((info.value.message, info.value.line, info.value.column))
    assert errors[0] == errors[1]
    assert errors[0][1:] == at
    assert "more than 20000 units of work" in errors[0][0]


@pytest.mark.parametrize(
    "condition",
    [
        "{% if ExternalTrigger.a == ExternalTrigger.b %}y{% endif %}",
        "{% if ExternalTrigger.a != ExternalTrigger.b %}y{% endif %}",
        "{% if ExternalTrigger.a <= ExternalTrigger.b %}y{% endif %}",
        "{% if ExternalTrigger.a >= ExternalTrigger.b %}y{% endif %}",
        "{% unless ExternalTrigger.a == ExternalTrigger.b %}y{% endunless %}",
        "{% case ExternalTrigger.a %}{% when ExternalTrigger.b %}y{% endcase %}",
        "{% case ExternalTrigger.a %}{% when 1, 2, ExternalTrigger.b %}y{% endcase %}",
        "{% liquid\nif ExternalTrigger.a == ExternalTrigger.b\necho 'y'\nendif %}",
        "{% if ExternalTrigger.n == ExternalTrigger.m %}y{% endif %}",
    ],
)
def test_comparing_large_equal_data_in_a_loop_is_refused_on_both_paths(condition: str) -> None:
    # Before comparisons were charged: 500 iterations took 3 s, 10,000 about a minute.
    source = "{% for i in (1..10000) %}" + condition + "{% endfor %}"
    trigger = {
        "a": list(range(100_000)),
        "b": list(range(100_000)),
        "n": [[i] * 100 for i in range(1000)],  # nested: the items inside count too
        "m": [[i] * 100 for i in range(1000)],
    }
    errors = []
    for template in _both_paths(source):
        started = time.perf_counter()
        with pytest.raises(LimitExceededError) as info:
            template.render({}, trigger)
        assert time.perf_counter() - started < 1.5  # about 0.1 s; loose for shared CI
        assert info.value.message.startswith("work limit reached")
        errors.append((info.value.message, info.value.line, info.value.column))
    assert errors[0] == errors[1]


@pytest.mark.parametrize(
    ("condition", "cost"),
    [
        ("{% if 1 == 2 %}{% endif %}", 5),
        ("{% if ExternalTrigger.a == ExternalTrigger.c %}{% endif %}", 5),  # lengths differ
        ("{% if ExternalTrigger.a == ExternalTrigger.b %}{% endif %}", 5 + 4 * 100),
        ("{% if ExternalTrigger.n != ExternalTrigger.m %}{% endif %}", 5 + 4 * 2 + 4 * 6),
        ("{% if ExternalTrigger.s == ExternalTrigger.t %}{% endif %}", 5 + 320 // 16),
        ("{% case ExternalTrigger.a %}{% when 1, ExternalTrigger.b %}{% endcase %}", 10 + 400),
        # A literal side: short text, empty and numbers cost the constant whatever
        # the other side is; text of 16 characters or more is sized as usual.
        ("{% if ExternalTrigger.s == 'premium' %}{% endif %}", 5),
        ("{% if 'abc' != ExternalTrigger.a %}{% endif %}", 5),
        ("{% if ExternalTrigger.a == empty %}{% endif %}", 5),
        ("{% if ExternalTrigger.u == 'abcdefghijklmnop' %}{% endif %}", 5 + 1),
        ("{% if ExternalTrigger.u == 'abcdefghijklmno' %}{% endif %}", 5),
        ("{% case ExternalTrigger.s %}{% when 'a', 'b', 2 %}{% endcase %}", 15),
        ("{% case ExternalTrigger.u %}{% when 'a', 'ponmlkjihgfedcba' %}{% endcase %}", 11),
        # Two values of text: short ones cost the constant, one unit per 16 characters else.
        ("{% if ExternalTrigger.v == ExternalTrigger.w %}{% endif %}", 5),
        ("{% if ExternalTrigger.v == ExternalTrigger.s %}{% endif %}", 5),
        ("{% if ExternalTrigger.u == ExternalTrigger.u2 %}{% endif %}", 5 + 1),
    ],
)
def test_comparison_costs_are_documented_and_equal_on_both_paths(condition: str, cost: int) -> None:
    trigger = {
        "u": "abcdefghijklmnop",
        "u2": "ponmlkjihgfedcba",
        "v": "abcdefghijklmno",
        "w": "onmlkjihgfedcba",
        "a": list(range(100)),
        "b": list(range(100)),
        "c": list(range(99)),
        "n": [[1, 2, 3], [4, 5, 6]],
        "m": [[1, 2, 3], [4, 5, 7]],
        "s": "x" * 320,
        "t": "y" * 320,
    }
    for template in _both_paths(condition, limits=Limits(work_budget=cost)):
        assert template.render({}, trigger) == ""
    for template in _both_paths(condition, limits=Limits(work_budget=cost - 1)):
        with pytest.raises(LimitExceededError, match="work limit reached"):
            template.render({}, trigger)


@pytest.mark.parametrize(
    "condition",
    [
        "{% if ExternalTrigger.s == 'x' %}y{% endif %}",
        "{% case ExternalTrigger.s %}{% when 'x' %}y{% endcase %}",
        "{% if ExternalTrigger.s == 'x' %}y{% endif %}{% if 2 == ExternalTrigger.s %}{% endif %}",
    ],
)
@pytest.mark.parametrize("budget", [999, 1000, 1001, 1499, 1500])
def test_constant_comparison_charges_reach_the_budget_where_the_interpreter_does(
    condition: str, budget: int
) -> None:
    # Each iteration costs 5 and each comparison 5, charged without a check of
    # their own on the compiled path: the next check must still stop it exactly.
    source = "{% for i in (1..100) %}" + condition + "{% endfor %}{{ ExternalTrigger.s | size }}"
    outcomes = []
    for template in _both_paths(source, limits=Limits(work_budget=budget)):
        try:
            outcomes.append(template.render({}, {"s": "x" * 40}))
        except LimitExceededError as exc:
            outcomes.append((exc.message, exc.line, exc.column))
    assert outcomes[0] == outcomes[1]


def test_work_budget_is_configurable() -> None:
    source = "{% for i in (1..100) %}{{ i | plus: 1 }}{% endfor %}"
    # 100 iterations x 5 units + 100 filter calls x 25 units = 3,000 units.
    assert tidings.compile_template(source, limits=Limits(work_budget=3_000)).render({}, {})
    with pytest.raises(LimitExceededError):
        tidings.compile_template(source, limits=Limits(work_budget=2_999)).render({}, {})


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_work_budget_must_be_a_positive_integer(value: object) -> None:
    with pytest.raises(ValueError, match="work_budget"):
        Limits(work_budget=value)  # type: ignore[arg-type]


def test_seed_templates_use_a_small_part_of_the_budget() -> None:
    limits = Limits(work_budget=20_000)
    for path in sorted(TEMPLATES.glob("order-*.liquid")):
        stem = path.name.removesuffix(".liquid")
        profile = json.loads((TEMPLATES / f"{stem}.profile.json").read_text())
        trigger = json.loads((TEMPLATES / f"{stem}.trigger.json").read_text())
        for template in _both_paths(path.read_text(), escape="html", limits=limits):
            assert template.render(profile, trigger)


def _compile_seconds(source: str, escape: str = "text") -> float:
    # CPU time of this process, the best of five: other processes on a loaded
    # machine do not count, so the linear/quadratic ratios stay meaningful.
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        with contextlib.suppress(TemplateSyntaxError):
            Template(source, escape=escape)  # type: ignore[arg-type]
        best = min(best, time.process_time() - started)
    return best


def _json_body(outputs: int) -> str:
    fields = ", ".join(f'"k{i}": "{{{{ ExternalTrigger.v{i} }}}}"' for i in range(outputs))
    return "{" + fields + "}"


def test_json_compile_time_is_linear_in_outputs() -> None:
    # Quadratic before: 1,000 outputs 5.5 s, 2,000 outputs 32 s.
    small = _compile_seconds(_json_body(250))
    large = _compile_seconds(_json_body(1000))
    assert large < 8 * small + 0.5  # 4x the outputs: linear is 4x, quadratic 16x


@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "{{ " + "(" * n + ")" * n + " }}",
        lambda n: "{% assign x = " + "(" * n + " %}",
        lambda n: "{{ a" + '["x"' * n + " }}",
        lambda n: "{% raw %}" * n,
        lambda n: "{% doc %}" * n,
        lambda n: "{% liquid\n" + "echo (\n" * n + "%}",
    ],
)
def test_parse_time_is_linear_in_nested_parentheses_and_unclosed_blocks(shape) -> None:
    small = _compile_seconds(shape(2000))
    large = _compile_seconds(shape(8000))
    assert large < 8 * small + 0.5  # 4x the size: linear is 4x, quadratic 16x
    assert large < 2


def test_costly_expressions_are_refused_with_their_location() -> None:
    with pytest.raises(TemplateSyntaxError, match="expression too complex") as info:
        tidings.compile_template("ok\n{{ " + "(" * 5000 + " }}")
    assert (info.value.line, info.value.column) == (2, 4)


def test_ordinary_ranges_and_indexes_are_not_costly() -> None:
    parts = [
        f'{{{{ ExternalTrigger["k {i}"] }}}}{{% for j in (1..{i}) %}}{{% endfor %}}'
        for i in range(50)
    ]
    template = tidings.compile_template("".join(parts))
    assert template.render({}, {f"k {i}": i for i in range(50)}) == "".join(
        str(i) for i in range(50)
    )
