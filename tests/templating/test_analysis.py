"""Static analysis: which ExternalTrigger keys a template uses and which it requires."""

from __future__ import annotations

import pytest

import tidings

SEED_EXAMPLE_2 = (
    'Hey {{ Profile.name | default: "User" }}\n'
    "{% for product in ExternalTrigger.productDetails %}\n"
    'Name: {{ product.productName | default: "defaultProductName"}}\n'
    "{% for pricingDetail in product.pricingDetails %}\n"
    '{{ pricingDetail.name | default : "defaultPriceName"}}\n'
    "{% endfor %}\n"
    "{% endfor %}"
)

# (name, source, used keys, required keys)
ANALYSIS_CASES = [
    ("no trigger keys", "Hi {{ Profile.name }}", set(), set()),
    ("plain output", "{{ ExternalTrigger.a }}", {"a"}, {"a"}),
    ("default", "{{ ExternalTrigger.a | default: 'x' }}", {"a"}, set()),
    (
        "default later in the chain",
        "{{ ExternalTrigger.a | strip | default: 'x' }}",
        {"a"},
        set(),
    ),
    ("filter before no default", "{{ ExternalTrigger.a | upcase }}", {"a"}, {"a"}),
    (
        "used once with and once without a default",
        "{{ ExternalTrigger.a | default: 'x' }} {{ ExternalTrigger.a }}",
        {"a"},
        {"a"},
    ),
    (
        "if guard",
        "{% if ExternalTrigger.coupon %}Use {{ ExternalTrigger.coupon }}{% endif %}",
        {"coupon"},
        set(),
    ),
    (
        "if guard testing a nested value guards the key",
        "{% if ExternalTrigger.a.b %}{{ ExternalTrigger.a.c }}{% endif %}",
        {"a"},
        set(),
    ),
    (
        "if guard on another key does not guard",
        "{% if ExternalTrigger.a %}{{ ExternalTrigger.b }}{% endif %}",
        {"a", "b"},
        {"b"},
    ),
    (
        "unless guard",
        "{% unless ExternalTrigger.a == blank %}{{ ExternalTrigger.a }}{% endunless %}",
        {"a"},
        set(),
    ),
    (
        "case guard",
        "{% case ExternalTrigger.tier %}{% when 'gold' %}{{ ExternalTrigger.tier }}{% endcase %}",
        {"tier"},
        set(),
    ),
    (
        "a use after the guarded block is required",
        "{% if ExternalTrigger.a %}{{ ExternalTrigger.a }}{% endif %}{{ ExternalTrigger.a }}",
        {"a"},
        {"a"},
    ),
    (
        "for loop iterable",
        "{% for p in ExternalTrigger.items %}{{ p }}{% endfor %}",
        {"items"},
        {"items"},
    ),
    (
        "loop variable paths are not trigger keys",
        "{% for p in ExternalTrigger.items %}{{ p.ExternalTrigger }}{{ p.name }}{% endfor %}",
        {"items"},
        {"items"},
    ),
    (
        "for loop limit argument",
        "{% for p in ExternalTrigger.items limit: ExternalTrigger.n %}{% endfor %}",
        {"items", "n"},
        {"items", "n"},
    ),
    ("assign", "{% assign x = ExternalTrigger.a %}{{ x }}", {"a"}, {"a"}),
    ("assign with default", "{% assign x = ExternalTrigger.a | default: 1 %}{{ x }}", {"a"}, set()),
    ("capture", "{% capture x %}{{ ExternalTrigger.a }}{% endcapture %}", {"a"}, {"a"}),
    ("filter argument", "{{ 'Hi ' | append: ExternalTrigger.name }}", {"name"}, {"name"}),
    (
        "default argument is itself a use",
        "{{ ExternalTrigger.a | default: ExternalTrigger.b }}",
        {"a", "b"},
        {"b"},
    ),
    ("nested path", "{{ ExternalTrigger.a.b.c }}", {"a"}, {"a"}),
    (
        "bracket access with a string",
        "{{ ExternalTrigger['order id'] }}",
        {"order id"},
        {"order id"},
    ),
    (
        "bracket access with an index after the key",
        "{{ ExternalTrigger.items[0].price | default: 0 }}",
        {"items"},
        set(),
    ),
    (
        "key inside a bracket",
        "{{ Profile.prices[ExternalTrigger.currency] }}",
        {"currency"},
        {"currency"},
    ),
    ("dynamic key is not known statically", "{{ ExternalTrigger[Profile.k] }}", set(), set()),
    ("echo", "{% echo ExternalTrigger.a %}", {"a"}, {"a"}),
    (
        "liquid tag",
        "{% liquid\nassign x = ExternalTrigger.a | default: 2\necho ExternalTrigger.b\n%}",
        {"a", "b"},
        {"b"},
    ),
    ("seed example 2", SEED_EXAMPLE_2, {"productDetails"}, {"productDetails"}),
]


@pytest.mark.parametrize(
    ("source", "used", "required"),
    [case[1:] for case in ANALYSIS_CASES],
    ids=[case[0] for case in ANALYSIS_CASES],
)
def test_trigger_keys(source: str, used: set[str], required: set[str]) -> None:
    template = tidings.compile_template(source)
    assert template.trigger_keys == frozenset(used)
    assert template.required_trigger_keys == frozenset(required)


def test_required_keys_are_a_subset_of_used_keys() -> None:
    for _, source, _, _ in ANALYSIS_CASES:
        template = tidings.compile_template(source)
        assert template.required_trigger_keys <= template.trigger_keys


def test_guarded_key_renders_without_the_key() -> None:
    template = tidings.compile_template(
        "Hi{% if ExternalTrigger.coupon %}, use {{ ExternalTrigger.coupon }}{% endif %}!"
    )
    assert template.render({}, {}) == "Hi!"
    assert template.render({}, {"coupon": "SAVE10"}) == "Hi, use SAVE10!"


def test_missing_keys_are_reported_before_rendering() -> None:
    template = tidings.compile_template(
        "{{ ExternalTrigger.a }}{{ ExternalTrigger.b | default: 1 }}{{ ExternalTrigger.c }}"
    )
    assert template.missing_trigger_keys({"a": 1}) == frozenset({"c"})
    assert template.missing_trigger_keys({"a": None, "c": 0}) == frozenset({"a"})
    assert template.missing_trigger_keys(None) == frozenset({"a", "c"})


def test_render_with_report_lists_fallbacks_and_absent_keys() -> None:
    template = tidings.compile_template(
        "{{ Profile.name | default: 'User' }}\n"
        "{{ ExternalTrigger.flag | default: 'no', allow_false: true }}\n"
        "{{ ExternalTrigger.coupon | default: 'none' }}"
    )
    report = template.render_with_report({}, {"flag": False})
    assert report.text == "User\nfalse\nnone"
    assert [(f.expression, f.default, f.line) for f in report.fallbacks] == [
        ("Profile.name", "User", 1),
        ("ExternalTrigger.coupon", "none", 3),
    ]
    assert report.absent_keys == frozenset({"coupon"})
