"""The cross-implementation golden Liquid suite, run through tidings' renderer.

The rule: every case python-liquid passes, tidings passes too. Each case runs
through a plain ``liquid.Environment`` (the reference) and through
``compile_template(..., namespaces=None).render_globals(data)``. The suite lives
outside the repository (``../shared/golden-liquid/golden_liquid.json`` from the
project root) and is never copied in; without it this module is skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from liquid import DictLoader, Environment
from liquid.exceptions import LiquidError

import tidings
from tidings.errors import TemplateError, TemplateSyntaxError

SUITE = Path(__file__).parents[2] / ".." / "shared" / "golden-liquid" / "golden_liquid.json"

if not SUITE.exists():
    pytest.skip(f"golden Liquid suite not found at {SUITE}", allow_module_level=True)

PARTIALS_REASON = (
    "needs partial templates: tidings has no template loader, so include/render "
    "are rejected at compile time (see test_partials_are_rejected_at_compile_time)"
)

# name -> reason, for cases python-liquid passes but tidings deliberately does not.
SKIP: dict[str, str] = {}


@dataclass(frozen=True)
class Case:
    """One golden-liquid test case."""

    name: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)
    templates: dict[str, str] | None = None
    result: str | None = None
    results: list[str] | None = None
    invalid: bool = False
    tags: list[str] = field(default_factory=list)

    def accepts(self, output: str) -> bool:
        if self.results is not None:
            return output in self.results
        return output == self.result


def load_cases() -> list[Case]:
    suite = json.loads(SUITE.read_text(encoding="utf-8"))
    return [Case(**raw) for raw in suite["tests"]]


CASES = load_cases()


def python_liquid_passes(case: Case) -> bool:
    env = Environment(loader=DictLoader(case.templates or {}))
    try:
        output = env.from_string(case.template).render(**case.data)
    except LiquidError:
        return case.invalid
    return not case.invalid and case.accepts(output)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_golden_liquid(case: Case) -> None:
    if case.name in SKIP:
        pytest.skip(SKIP[case.name])
    if case.templates:
        pytest.skip(PARTIALS_REASON)
    if not python_liquid_passes(case):
        pytest.skip("python-liquid does not pass this case either")
    if case.invalid:
        with pytest.raises(TemplateError):
            tidings.compile_template(case.template, namespaces=None).render_globals(case.data)
        return
    output = tidings.compile_template(case.template, namespaces=None).render_globals(case.data)
    assert case.accepts(output), (output, case.result, case.results)


def test_suite_is_mostly_run() -> None:
    """Guard against the suite silently shrinking to skips."""
    runnable = [case for case in CASES if not case.templates]
    assert len(runnable) > 900


@pytest.mark.parametrize(
    "source",
    [
        "{% include 'footer' %}",
        "{% render 'footer', x: 1 %}",
        "{% if a %}{% render 'f' %}{% endif %}",
    ],
)
def test_partials_are_rejected_at_compile_time(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="is not supported"):
        tidings.compile_template(source, namespaces=None)


def test_render_globals_fills_top_level_names() -> None:
    template = tidings.compile_template(
        "{{ greeting }}, {{ user.name | default: 'you' }}", namespaces=None
    )
    assert template.render_globals({"greeting": "Hello", "user": {}}) == "Hello, you"


def test_render_globals_respects_strict_mode_paths() -> None:
    template = tidings.compile_template("{{ order.items[1].sku }}", namespaces=None, strict=True)
    with pytest.raises(tidings.UndefinedValueError) as info:
        template.render_globals({"order": {"items": [{"sku": 1}, {}]}})
    assert info.value.path == "order.items[1].sku"


def test_render_globals_rejects_non_mappings() -> None:
    template = tidings.compile_template("x", namespaces=None)
    with pytest.raises(TypeError, match="must be a mapping"):
        template.render_globals([("a", 1)])  # type: ignore[arg-type]
