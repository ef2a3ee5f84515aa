"""Properties of rendering that must hold for any trigger data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tidings
from tidings.errors import TidingsError

GOLDEN = Path(__file__).parents[1] / "golden" / "templating_external_trigger.json"


def _seed_template(prefix: str) -> str:
    cases = json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"]
    return next(case["template"] for case in cases if case["name"].startswith(prefix))


EXAMPLE_1 = _seed_template("example 1")
EXAMPLE_2 = _seed_template("example 2")

# Keys the seed templates read, so generated data often hits them.
TEMPLATE_KEYS = [
    "Name",
    "Price",
    "ImageUrl",
    "productDetails",
    "productName",
    "productID",
    "imageURL",
    "pricingDetails",
    "name",
    "value",
]

# Text that cannot itself spell "None" or "nil", so either in the output is a bug.
texts = st.text(max_size=12).filter(lambda s: "None" not in s and "nil" not in s)
keys = st.sampled_from(TEMPLATE_KEYS) | texts
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=12,
)
triggers = st.dictionaries(keys, json_values, max_size=4)
profiles = st.dictionaries(st.sampled_from(["name", "email", "identity"]), scalars, max_size=3)

PROPERTY_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(
    profile=profiles,
    trigger=triggers,
    source=st.sampled_from([EXAMPLE_1, EXAMPLE_2]),
    escape=st.sampled_from(["text", "html", "json", "url"]),
    strict=st.booleans(),
)
def test_rendering_seed_templates_succeeds_or_raises_a_tidings_error(
    profile: dict[str, Any], trigger: dict[str, Any], source: str, escape: Any, strict: bool
) -> None:
    template = tidings.compile_template(source, escape=escape, strict=strict)
    try:
        output = template.render(profile, trigger)
    except TidingsError:
        return
    assert isinstance(output, str)


@PROPERTY_SETTINGS
@given(profile=profiles, trigger=triggers, source=st.sampled_from([EXAMPLE_1, EXAMPLE_2]))
def test_rendering_never_outputs_none_for_missing_values(
    profile: dict[str, Any], trigger: dict[str, Any], source: str
) -> None:
    template = tidings.compile_template(source)
    try:
        output = template.render(profile, trigger)
    except TidingsError:
        return
    assert "None" not in output
    assert "nil" not in output  # no Ruby spelling either


@PROPERTY_SETTINGS
@given(trigger=st.fixed_dictionaries({"items": st.lists(st.none() | texts, max_size=5)}))
def test_null_items_in_a_list_render_empty(trigger: dict[str, Any]) -> None:
    template = tidings.compile_template("{{ ExternalTrigger.items }}")
    expected = "".join(item for item in trigger["items"] if item is not None)
    assert template.render({}, trigger) == expected


def liquid_default_falls_back(value: object, *, allow_false: bool) -> bool:
    """Liquid's rule: nil, false and empty strings, arrays and hashes fall back."""
    if value is None:
        return True
    if value is False:
        return not allow_false
    if isinstance(value, bool | int | float):
        return False
    return isinstance(value, str | list | dict) and len(value) == 0


default_inputs = json_values | st.sampled_from([None, False, True, "", [], {}, 0, 0.0, " "])


@PROPERTY_SETTINGS
@given(value=default_inputs, allow_false=st.booleans(), present=st.booleans())
def test_default_returns_the_value_when_present_and_non_empty_else_the_fallback(
    value: object, allow_false: bool, present: bool
) -> None:
    option = ", allow_false: true" if allow_false else ""
    with_default = tidings.compile_template(
        f"{{{{ ExternalTrigger.v | default: 'FALLBACK'{option} }}}}"
    )
    plain = tidings.compile_template("{{ ExternalTrigger.v }}")
    trigger = {"v": value} if present else {}
    output = with_default.render({}, trigger)
    if not present or liquid_default_falls_back(value, allow_false=allow_false):
        assert output == "FALLBACK"
    else:
        assert output == plain.render({}, trigger)


@PROPERTY_SETTINGS
@given(value=json_values)
def test_json_escape_always_produces_valid_json(value: object) -> None:
    template = tidings.compile_template(
        '{"s": "{{ ExternalTrigger.v }}", "v": {{ ExternalTrigger.v }}}', escape="json"
    )
    try:
        body = template.render({}, {"v": value})
    except TidingsError:
        assert value is None  # a required key that is null
        return
    parsed = json.loads(body)
    assert set(parsed) == {"s", "v"}


@PROPERTY_SETTINGS
@given(value=texts)
def test_html_escape_never_lets_markup_through(value: str) -> None:
    template = tidings.compile_template("<p>{{ ExternalTrigger.v }}</p>", escape="html")
    body = template.render({}, {"v": value})[3:-4]
    assert "<" not in body
    assert ">" not in body
    assert '"' not in body
