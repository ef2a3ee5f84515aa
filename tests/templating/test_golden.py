"""Golden renders: template, data and the exact expected output, as JSON in tests/golden/.

Each file holds ``{"description": ..., "cases": [...]}``; a case names its template,
escape mode, strictness, ``profile``/``trigger`` data and other namespaces, and
either ``expect`` (the exact output) or ``expect_error`` (an error class name in
``tidings``) with ``error_message`` (its exact ``str``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import tidings

GOLDEN_DIR = Path(__file__).parents[1] / "golden"
GOLDEN_FILES = (
    "templating_external_trigger.json",
    "templating_escaping.json",
    "templating_semantics.json",
)
SEEDS = Path(__file__).parents[2] / ".." / "shared" / "seeds" / "external-trigger.txt"

# name -> reason. Empty: every golden case runs.
SKIP: dict[str, str] = {}


@dataclass(frozen=True)
class Case:
    """One golden render."""

    name: str
    template: str
    file: str
    escape: str = "text"
    strict: bool = False
    profile: dict[str, Any] | None = None
    trigger: dict[str, Any] | None = None
    namespaces: dict[str, Any] = field(default_factory=dict)
    expect: str | None = None
    expect_error: str | None = None
    error_message: str | None = None


def load_cases() -> list[Case]:
    cases = []
    for filename in GOLDEN_FILES:
        data = json.loads((GOLDEN_DIR / filename).read_text(encoding="utf-8"))
        cases.extend(Case(file=filename, **raw) for raw in data["cases"])
    return cases


CASES = load_cases()


def test_case_names_are_unique():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


def test_every_case_expects_exactly_one_outcome():
    for case in CASES:
        assert (case.expect is None) != (case.expect_error is None), case.name


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_golden(case: Case) -> None:
    if case.name in SKIP:
        pytest.skip(SKIP[case.name])
    template = tidings.compile_template(
        case.template,
        escape=case.escape,  # type: ignore[arg-type]
        strict=case.strict,
    )
    if case.expect_error is not None:
        error_class = getattr(tidings, case.expect_error)
        with pytest.raises(error_class) as info:
            template.render(case.profile, case.trigger, **case.namespaces)
        assert str(info.value) == case.error_message
        return
    output = template.render(case.profile, case.trigger, **case.namespaces)
    assert output == case.expect
    # The invariant golden files exist to pin: missing data never shows as Python's None.
    assert "None" not in output


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case.file == "templating_external_trigger.json"],
    ids=lambda case: case.name,
)
def test_seed_templates_are_copied_verbatim(case: Case) -> None:
    if not SEEDS.exists():
        pytest.skip(f"vendor seed not found at {SEEDS}")
    assert case.template in SEEDS.read_text(encoding="utf-8")


def test_seed_examples_use_every_default_when_data_is_missing():
    """Read the expectations back in words: every default word appears, no Python spellings."""
    by_name = {case.name: case for case in CASES}
    example_1 = by_name["example 1, missing keys use every default"].expect
    assert example_1 is not None
    for word in ("User", "defaultName", "defaultPrice", "defaultImageUrl"):
        assert word in example_1
    example_2 = by_name["example 2, product fields missing use defaults"].expect
    assert example_2 is not None
    for word in (
        "User",
        "defaultProductName",
        "defaultProductId",
        "defaultImageUrl",
        "defaultPriceName",
        "defaultPriceValue",
    ):
        assert word in example_2
    for text in (example_1, example_2):
        assert "None" not in text
        assert "nil" not in text
