"""The public API: every name in ``tidings.__all__`` exists, is sorted, and is documented."""

import tidings

CONTRACT = {
    # names DESIGN.md and the issues promise to users and acceptance checks
    "compile_template",
    "Template",
    "TemplateError",
    "TidingsError",
    "EmailMessage",
    "PushMessage",
    "WebhookMessage",
    "Workspace",
    "Delivery",
    "Skip",
    "Dispatch",
    "JsonLinesSink",
}


def test_all_is_sorted_and_complete():
    assert list(tidings.__all__) == sorted(tidings.__all__)
    public = {name for name in dir(tidings) if not name.startswith("_")}
    exported = set(tidings.__all__)
    assert exported <= public
    missing = {
        name
        for name in public - exported
        if not isinstance(getattr(tidings, name), type(tidings))  # subpackages are not exported
    }
    assert missing == set()


def test_contract_names_are_exported():
    assert set(tidings.__all__) >= CONTRACT


def test_every_exported_class_and_function_has_a_docstring():
    for name in tidings.__all__:
        obj = getattr(tidings, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), name
