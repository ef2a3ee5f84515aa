"""Compiled templates are cached by source and options; rendering is thread-safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import tidings
from tidings import Limits

SOURCE = (
    "Hey {{ Profile.name | default: 'User' }}\n"
    "{% for p in ExternalTrigger.items %}"
    "{{ forloop.index }}:{{ p.name }}={{ p.price }};"
    "{% endfor %}"
    "{% capture total %}{{ ExternalTrigger.items | map: 'price' | sum }}{% endcapture %}"
    " total {{ total }}"
)


def expected(user: int) -> str:
    items = "".join(f"{i + 1}:item{user}-{i}={user * 10 + i};" for i in range(user % 7))
    total = sum(user * 10 + i for i in range(user % 7))
    return f"Hey user{user}\n{items} total {total}"


def data(user: int) -> tuple[dict[str, str], dict[str, object]]:
    items = [{"name": f"item{user}-{i}", "price": user * 10 + i} for i in range(user % 7)]
    return {"name": f"user{user}"}, {"items": items}


def test_same_source_and_options_give_the_same_template() -> None:
    first = tidings.compile_template(SOURCE)
    assert tidings.compile_template(SOURCE) is first
    assert tidings.compile_template(SOURCE, limits=Limits()) is first  # the default limits


def test_different_options_give_different_templates() -> None:
    text = tidings.compile_template(SOURCE)
    assert tidings.compile_template(SOURCE, escape="html") is not text
    assert tidings.compile_template(SOURCE, strict=True) is not text
    assert tidings.compile_template(SOURCE, limits=Limits(loop_iterations=5)) is not text
    assert tidings.compile_template(SOURCE, name="welcome") is not text


def test_limits_are_per_template_even_for_the_same_source() -> None:
    source = "{% for i in (1..10) %}{{ i }}{% endfor %}"
    assert tidings.compile_template(source).render() == "12345678910"
    small = tidings.compile_template(source, limits=Limits(loop_iterations=5))
    try:
        small.render()
    except tidings.LimitExceededError:
        pass
    else:  # pragma: no cover - the assertion below explains the failure
        raise AssertionError("the 5-iteration limit was not applied")
    assert tidings.compile_template(source).render() == "12345678910"


def test_concurrent_renders_of_one_template_are_all_correct() -> None:
    template = tidings.compile_template(SOURCE)
    users = list(range(400))
    with ThreadPoolExecutor(max_workers=16) as pool:
        outputs = list(pool.map(lambda user: template.render(*data(user)), users))
    assert outputs == [expected(user) for user in users]


def test_concurrent_compiles_and_renders_of_many_templates() -> None:
    def job(user: int) -> str:
        # A handful of distinct sources compiled concurrently, in strict and html mode.
        source = SOURCE + f"{{% comment %}}{user % 5}{{% endcomment %}}"
        template = tidings.compile_template(source, strict=user % 2 == 0)
        return template.render(*data(user))

    with ThreadPoolExecutor(max_workers=16) as pool:
        outputs = list(pool.map(job, range(300)))
    assert outputs == [expected(user) for user in range(300)]


def test_concurrent_reports_do_not_leak_fallbacks_between_threads() -> None:
    template = tidings.compile_template(
        "{{ Profile.name | default: 'User' }} {{ ExternalTrigger.c | default: 'none' }}"
    )

    def job(user: int) -> tuple[str, int]:
        profile = {"name": f"u{user}"} if user % 2 else {}
        report = template.render_with_report(profile, {})
        return report.text, len(report.fallbacks)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(job, range(200)))
    for user, (text, fallbacks) in enumerate(results):
        if user % 2:
            assert (text, fallbacks) == (f"u{user} none", 1)
        else:
            assert (text, fallbacks) == ("User none", 2)
