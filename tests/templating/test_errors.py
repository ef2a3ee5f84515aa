"""Every template error: its class, message, line, column and caret rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import tidings
from tidings import Limits
from tidings.errors import (
    LimitExceededError,
    MissingTriggerKeyError,
    RenderError,
    TemplateError,
    TemplateSyntaxError,
    TidingsError,
    TriggerDataError,
    UndefinedValueError,
    UnknownFilterError,
    UnknownNameError,
)


@dataclass(frozen=True)
class ErrorCase:
    """A template that fails, and where."""

    name: str
    source: str
    error: type[TemplateError]
    line: int
    column: int
    message: str
    options: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] = field(default_factory=dict)


COMPILE_ERRORS = [
    ErrorCase(
        "output never closed",
        "Hi\n{{ Profile.name",
        TemplateSyntaxError,
        2,
        16,
        "expected '}}', found end of file",
    ),
    ErrorCase(
        "filter name missing after a pipe",
        "Hi {{ Profile.name | }}",
        TemplateSyntaxError,
        1,
        21,
        "expected word, found end of expression",
    ),
    ErrorCase(
        "condition ends too early",
        "Hi\n{% if Profile.a == %}x{% endif %}",
        TemplateSyntaxError,
        2,
        19,
        "expected a primitive expression, found end of expression",
    ),
    ErrorCase(
        "unclosed if at end of input",
        "line 1\n{% if Profile.name %}\nHi",
        TemplateSyntaxError,
        2,
        4,
        "'if' tag was never closed: add {% endif %}",
    ),
    ErrorCase(
        "unclosed for at end of input",
        "line 1\n{% for p in ExternalTrigger.items %}\n{{ p }}",
        TemplateSyntaxError,
        2,
        4,
        "'for' tag was never closed: add {% endfor %}",
    ),
    ErrorCase(
        "unclosed inner for inside a closed if",
        "{% if Profile.a %}\n  {% for p in ExternalTrigger.items %}{{ p }}\n{% endif %}",
        TemplateSyntaxError,
        3,
        4,
        "unexpected tag 'endif'",
    ),
    ErrorCase(
        "unclosed case",
        "{% case Profile.tier %}{% when 'a' %}A",
        TemplateSyntaxError,
        1,
        4,
        "'case' tag was never closed: add {% endcase %}",
    ),
    ErrorCase(
        "unclosed capture",
        "{% capture x %}abc",
        TemplateSyntaxError,
        1,
        4,
        "'capture' tag was never closed: add {% endcapture %}",
    ),
    ErrorCase(
        "unclosed block inside a liquid tag",
        "a\n{% liquid\nif Profile.x\necho 1\n%}",
        TemplateSyntaxError,
        4,
        7,
        "expected tag endif, found end of expression",
    ),
    ErrorCase(
        "stray end tag", "ok {% endif %}", TemplateSyntaxError, 1, 7, "unexpected tag 'endif'"
    ),
    ErrorCase(
        "unknown tag", "{% nosuchtag %}", TemplateSyntaxError, 1, 4, "unexpected tag 'nosuchtag'"
    ),
    ErrorCase(
        "partials are not supported",
        "Hi\n{% include 'footer' %}",
        TemplateSyntaxError,
        2,
        4,
        "the 'include' tag is not supported: a message template cannot load other templates",
    ),
    ErrorCase(
        "unknown filter",
        "{{ 'a' | nosuch }}",
        UnknownFilterError,
        1,
        10,
        "unknown filter 'nosuch'",
    ),
    ErrorCase(
        "unknown filter later in a chain on line 2",
        "ok\n  {{ Profile.name | upcase | shout }}",
        UnknownFilterError,
        2,
        30,
        "unknown filter 'shout'",
    ),
    ErrorCase(
        "unknown filter inside a block",
        "{% for p in ExternalTrigger.items %}\n{% if p %}{{ p | bogus }}{% endif %}{% endfor %}",
        UnknownFilterError,
        2,
        18,
        "unknown filter 'bogus'",
    ),
    ErrorCase(
        "misspelt namespace",
        "{{ Profle.name }}",
        UnknownNameError,
        1,
        4,
        "unknown name 'Profle': use a namespace (BusinessEvent, Campaign, ExternalTrigger, "
        "Profile), a loop variable or an assigned name",
    ),
    ErrorCase(
        "misspelt namespace in a condition",
        "Hi\n{% if Campaing.id %}x{% endif %}",
        UnknownNameError,
        2,
        7,
        "unknown name 'Campaing': use a namespace (BusinessEvent, Campaign, ExternalTrigger, "
        "Profile), a loop variable or an assigned name",
    ),
    ErrorCase(
        "loop variable used after its loop",
        "{% for p in ExternalTrigger.items %}{% endfor %}{{ p.name }}",
        UnknownNameError,
        1,
        52,
        "unknown name 'p': use a namespace (BusinessEvent, Campaign, ExternalTrigger, "
        "Profile), a loop variable or an assigned name",
    ),
    ErrorCase(
        "nesting depth limit",
        "{% if true %}{% if true %}{% if true %}x{% endif %}{% endif %}{% endif %}",
        LimitExceededError,
        1,
        40,  # the first thing inside the block one level too deep
        "blocks are nested too deeply (at most 2 levels)",
        options={"limits": Limits(nesting_depth=2)},
    ),
]

RENDER_ERRORS = [
    ErrorCase(
        "filter given a bad argument",
        "a\n  {{ ExternalTrigger.s | slice: 'x' }}",
        RenderError,
        2,
        26,
        "slice expected an integer start, found str",
        trigger={"s": "abc"},
    ),
    ErrorCase(
        "division by zero",
        "{{ ExternalTrigger.n | divided_by: 0 }}",
        RenderError,
        1,
        24,
        "divided_by: can't divide by 0",
        trigger={"n": 1},
    ),
    ErrorCase(
        "strict: missing nested value",
        "{{ ExternalTrigger.x.y }}",
        UndefinedValueError,
        1,
        4,
        "ExternalTrigger.x.y is undefined",
        options={"strict": True},
        trigger={"x": {}},
    ),
    ErrorCase(
        "strict: missing value in nested loops names the indexes",
        "{% for p in ExternalTrigger.p %}\n{% for d in p.d %}{{ d.v }}{% endfor %}{% endfor %}",
        UndefinedValueError,
        2,
        22,
        "ExternalTrigger.p[1].d[1].v is undefined",
        options={"strict": True},
        trigger={"p": [{"d": [{"v": 1}]}, {"d": [{"v": 2}, {"w": 3}]}]},
    ),
    ErrorCase(
        "loop iteration limit counts nested loops",
        "{% for i in (1..5) %}{% for j in (1..5) %}x{% endfor %}{% endfor %}",
        LimitExceededError,
        1,
        4,  # the outermost loop: nested loops count as the product of their lengths
        "loop iteration limit reached (at most 20 iterations)",
        options={"limits": Limits(loop_iterations=20)},
    ),
    ErrorCase(
        "loop over a huge range fails where the range is built",
        "{% for i in (1..100000000) reversed %}{% endfor %}",
        LimitExceededError,
        1,
        13,
        "range of 100000000 items is over the loop iteration limit of 10000",
    ),
    ErrorCase(
        "output bytes limit",
        "x\n{% for i in ExternalTrigger.items %}{{ i }}{% endfor %}",
        LimitExceededError,
        2,
        4,
        "output size limit reached (at most 50 bytes)",
        options={"limits": Limits(output_bytes=50)},
        trigger={"items": list(range(100))},
    ),
    ErrorCase(
        "output bytes limit inside a capture",
        "{% capture big %}{% for i in (1..20) %}xxxxxxxxxx{% endfor %}{% endcapture %}",
        LimitExceededError,
        1,
        4,
        "output size limit reached (at most 100 bytes)",
        options={"limits": Limits(output_bytes=100)},
    ),
    ErrorCase(
        "a string doubled by assign in a loop",
        "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..30) %}{% assign s = s | append: s %}"
        "{% endfor %}",
        LimitExceededError,
        1,
        70,
        "'append' built a value over the output limit of 1000000 bytes",
    ),
    ErrorCase(
        "a filter over a huge range fails where the range is built",
        "{{ (1..1000000) | join: ',' }}",
        LimitExceededError,
        1,
        4,
        "range of 1000000 items is over the loop iteration limit of 10000",
    ),
    ErrorCase(
        "replace that would explode",
        "{% assign s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}"
        "{% for i in (1..5) %}{% assign s = s | replace: 'x', s %}{% endfor %}",
        LimitExceededError,
        1,
        109,
        "'replace' would build a value over the output limit of 1000000 bytes",
    ),
    ErrorCase(
        "a number squared until it cannot be printed",
        "{% assign n = 9 %}{% for i in (1..40) %}{% assign n = n | times: n %}{% endfor %}",
        LimitExceededError,
        1,
        59,
        "'times' built a number too large to use",
    ),
]


def _check_location(error: TemplateError, case: ErrorCase) -> None:
    assert (error.line, error.column) == (case.line, case.column)
    assert error.message == case.message
    source_line = case.source.split("\n")[case.line - 1]
    assert error.source_line == source_line
    detailed = error.detailed_message().split("\n")
    assert detailed[0] == case.message
    assert detailed[1].endswith(f"template:{case.line}:{case.column}")
    assert detailed[2] == f"{case.line} | {source_line}"
    gutter = " " * len(str(case.line))
    assert detailed[3] == f"{gutter} | " + " " * (case.column - 1) + "^"
    assert str(error) == f"{case.message} (template:{case.line}:{case.column})"


@pytest.mark.parametrize("case", COMPILE_ERRORS, ids=lambda case: case.name)
def test_compile_errors_have_class_line_column_and_caret(case: ErrorCase) -> None:
    with pytest.raises(case.error) as info:
        tidings.compile_template(case.source, **case.options)
    assert type(info.value) is case.error
    _check_location(info.value, case)


@pytest.mark.parametrize("case", RENDER_ERRORS, ids=lambda case: case.name)
def test_render_errors_have_class_line_column_and_caret(case: ErrorCase) -> None:
    template = tidings.compile_template(case.source, **case.options)
    with pytest.raises(case.error) as info:
        template.render({}, case.trigger)
    assert type(info.value) is case.error
    _check_location(info.value, case)


def test_undefined_value_error_carries_the_path() -> None:
    template = tidings.compile_template(
        "{{ ExternalTrigger.productDetails[0].price }}", strict=True
    )
    with pytest.raises(UndefinedValueError) as info:
        template.render({}, {"productDetails": [{"name": "x"}]})
    assert info.value.path == "ExternalTrigger.productDetails[0].price"
    with pytest.raises(UndefinedValueError) as info:
        template.render({}, {"productDetails": []})
    assert info.value.path == "ExternalTrigger.productDetails[0]"


def test_undefined_value_path_of_a_bracketed_key_and_a_profile_value() -> None:
    template = tidings.compile_template(
        "{{ ExternalTrigger['order id'].total }} {{ Profile.city }}", strict=True
    )
    with pytest.raises(UndefinedValueError) as info:
        template.render({}, {"order id": {"total": 1}})
    assert info.value.path == "Profile.city"
    with pytest.raises(UndefinedValueError) as info:
        template.render({"city": "Pune"}, {"order id": {}})
    assert info.value.path == "ExternalTrigger['order id'].total"
    assert template.render({"city": "Pune"}, {"order id": {"total": 3}}) == "3 Pune"


def test_missing_trigger_key_names_the_key() -> None:
    template = tidings.compile_template(
        "{{ ExternalTrigger.b }} {{ ExternalTrigger.a }} {{ ExternalTrigger.c | default: 1 }}"
    )
    with pytest.raises(MissingTriggerKeyError) as info:
        template.render({}, {"b": 1})
    assert info.value.key == "a"
    assert info.value.keys == ["a"]
    assert str(info.value) == "ExternalTrigger key missing: a"
    with pytest.raises(MissingTriggerKeyError) as info:
        template.render({}, {})
    assert info.value.key == "a"
    assert info.value.keys == ["a", "b"]
    assert str(info.value) == "ExternalTrigger keys missing: a, b"


def test_missing_trigger_key_is_found_before_rendering() -> None:
    template = tidings.compile_template("{{ ExternalTrigger.a }}")
    with pytest.raises(MissingTriggerKeyError):
        template.check_trigger({"b": 1})
    template.check_trigger({"a": 0})  # zero is a value


def test_trigger_that_is_not_an_object_is_rejected() -> None:
    template = tidings.compile_template("{{ ExternalTrigger.a | default: 1 }}")
    with pytest.raises(TriggerDataError, match="must be an object, not list"):
        template.render({}, [1, 2])  # type: ignore[arg-type]


def test_with_field_keeps_location_and_class() -> None:
    with pytest.raises(UnknownNameError) as info:
        tidings.compile_template("x\n{{ Profle.name }}")
    moved = info.value.with_field("email.subject")
    assert type(moved) is UnknownNameError
    assert (moved.line, moved.column, moved.field) == (2, 4, "email.subject")
    assert str(moved).endswith("(email.subject:2:4)")
    assert "email.subject:2:4" in moved.detailed_message()

    template = tidings.compile_template("{{ ExternalTrigger.a.b }}", strict=True)
    with pytest.raises(UndefinedValueError) as undefined:
        template.render({}, {"a": {}})
    moved_undefined = undefined.value.with_field("push.body")
    assert moved_undefined.path == "ExternalTrigger.a.b"
    assert moved_undefined.field == "push.body"


def test_template_name_is_used_in_the_location() -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        tidings.compile_template("{% if x %}", name="welcome.liquid", namespaces=None)
    assert info.value.template_name == "welcome.liquid"
    assert info.value.location == "welcome.liquid:1:4"


def test_errors_wrap_the_engine_error() -> None:
    with pytest.raises(UnknownNameError):
        tidings.compile_template("{{ x }}")
    with pytest.raises(TemplateSyntaxError) as info:
        tidings.compile_template("{% if %}")
    assert info.value.__cause__ is not None


@pytest.mark.parametrize(
    ("error", "bases"),
    [
        (TemplateError, (TidingsError, ValueError)),
        (TemplateSyntaxError, (TemplateError, TidingsError, ValueError)),
        (UnknownFilterError, (TemplateError, TidingsError, ValueError)),
        (UnknownNameError, (TemplateError, TidingsError, ValueError)),
        (RenderError, (TemplateError, TidingsError, ValueError)),
        (UndefinedValueError, (RenderError, TidingsError, ValueError, LookupError)),
        (LimitExceededError, (RenderError, TidingsError, ValueError)),
        (TriggerDataError, (TidingsError, ValueError)),
        (MissingTriggerKeyError, (TriggerDataError, TidingsError, ValueError, LookupError)),
    ],
)
def test_error_hierarchy(error: type[Exception], bases: tuple[type[Exception], ...]) -> None:
    for base in bases:
        assert issubclass(error, base)
    assert getattr(tidings, error.__name__) is error


def test_error_codes_are_distinct() -> None:
    classes = [
        TemplateSyntaxError,
        UnknownFilterError,
        UnknownNameError,
        RenderError,
        UndefinedValueError,
        LimitExceededError,
        TriggerDataError,
        MissingTriggerKeyError,
    ]
    assert len({cls.code for cls in classes}) == len(classes)


@pytest.mark.parametrize(
    ("kwargs", "exception"),
    [
        ({"escape": "xml"}, ValueError),
        ({"limits": "many"}, AttributeError),
    ],
)
def test_bad_options_are_rejected(kwargs: dict[str, Any], exception: type[Exception]) -> None:
    with pytest.raises(exception):
        tidings.compile_template("x", **kwargs)


@pytest.mark.parametrize("field_name", ["loop_iterations", "output_bytes", "nesting_depth"])
@pytest.mark.parametrize("value", [0, -1, 1.5, "10"])
def test_limits_must_be_positive_integers(field_name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"Limits.{field_name} must be a positive integer"):
        Limits(**{field_name: value})  # type: ignore[arg-type]


def test_unknown_namespace_keyword_is_rejected() -> None:
    template = tidings.compile_template("x")
    with pytest.raises(TypeError, match="unknown namespace 'Campain'"):
        template.render({}, {}, Campain={})
