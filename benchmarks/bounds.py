"""Resource bounds of templating: compile time against template size, hostile renders.

Prints, for a webhook JSON body with 1,000 / 2,000 / 4,000 outputs, the compile time
(linear is 2x per doubling, quadratic 4x); the parse time of expressions with thousands
of unclosed parentheses; and how long a hostile template takes before it is refused
(or rendered, on a version without the bound). Uses only the public API, so the same
script measures an older checkout:

    .venv/bin/python benchmarks/bounds.py
    PYTHONPATH=/path/to/old/src .venv/bin/python benchmarks/bounds.py --max-seconds 60

A measurement whose previous, smaller size took more than ``--max-seconds`` is
skipped (an old quadratic compile of 4,000 outputs takes minutes).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable

import tidings


def json_body(outputs: int) -> str:
    fields = ", ".join(f'"k{i}": "{{{{ ExternalTrigger.v{i} }}}}"' for i in range(outputs))
    return "{" + fields + "}"


def parens(count: int) -> str:
    return "{{ " + "(" * count + ")" * count + " }}"


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        fn(*args, **kwargs)
        outcome = "ok"
    except tidings.TidingsError as exc:
        outcome = f"{type(exc).__name__}: {exc.message[:60]}"
    return time.perf_counter() - started, outcome


HOSTILE = {
    "loop of sorts (issue 10)": (
        "{% for i in (1..10000) %}{% assign s = (1..10000) | sort | reverse | size %}{% endfor %}",
        "text",
        {},
    ),
    "range as a JSON value": (
        '{"ids": {{ (1..ExternalTrigger.n) }}}',
        "json",
        {"n": 100_000_000},
    ),
    "40,000 cheap filter calls": (
        "{% for i in (1..10000) %}{{ i | plus: 1 | minus: 1 | times: 2 | modulo: 7 }}{% endfor %}",
        "text",
        {},
    ),
    "contains over 1 MB, 2,000 times": (
        "{% for i in (1..2000) %}{% if ExternalTrigger.s contains 'zz' %}x{% endif %}{% endfor %}",
        "text",
        {"s": "a" * 1_000_000},
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="skip a size when the previous one took longer than this",
    )
    parser.add_argument(
        "--range-n",
        type=int,
        default=100_000_000,
        help="n of the JSON range (an unbounded version materialises all n items: "
        "1e8 takes about 4 GiB, so measure those with a smaller n)",
    )
    args = parser.parse_args()
    HOSTILE["range as a JSON value"][2]["n"] = args.range_n
    print(f"tidings from {tidings.__file__}")
    print(f"python {platform.python_version()} on {platform.machine()}\n")

    print("compile time, webhook JSON body (escape=json)")
    previous = 0.0
    for outputs in (1000, 2000, 4000):
        if previous > args.max_seconds:
            print(f"  {outputs:>5} outputs: skipped (the previous size took {previous:.0f} s)")
            continue
        source = json_body(outputs)
        seconds, outcome = timed(tidings.compile_template, source, escape="json")
        print(f"  {outputs:>5} outputs: {seconds:8.3f} s  {outcome}")
        previous = seconds

    print("\nparse time, nested parentheses ({{ ((((...)))) }})")
    previous = 0.0
    for count in (4000, 8000, 16000):
        if previous > args.max_seconds:
            print(f"  {count:>5} pairs: skipped")
            continue
        source = parens(count)
        seconds, outcome = timed(tidings.compile_template, source)
        print(f"  {count:>5} pairs:   {seconds:8.3f} s  {outcome}")
        previous = seconds

    print("\nhostile renders (time until refused, or rendered)")
    for name, (source, escape, trigger) in HOSTILE.items():
        template = tidings.compile_template(source, escape=escape)  # type: ignore[arg-type]
        seconds, outcome = timed(template.render, {}, trigger)
        label = f"{name}, n = {args.range_n:.0e}" if name == "range as a JSON value" else name
        print(f"  {label:<34} {seconds:8.3f} s  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
