"""tidings._json: orjson's speed with the standard library's exact bytes."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import examples

from tidings._json import dumps, dumps_floatless, has_float, loads

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
scalar = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses those, the stdlib writes them
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
)
value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)


def stdlib(data: object) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


@settings(max_examples=examples(300), deadline=None)
@given(data=value)
def test_dumps_is_byte_identical_to_the_stdlib(data):
    assert dumps(data) == stdlib(data)
    if not has_float(data):
        assert dumps_floatless(data) == stdlib(data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (1e-7, "1e-07"),
        ({"v": [1e16]}, '{"v":[1e+16]}'),
        (math.inf, "Infinity"),
        (2**70, "1180591620717411303424"),
        ({1: "x"}, '{"1":"x"}'),
        ("\x00\x1f\x7f\u2028é", '"\\u0000\\u001f\x7f\u2028é"'),
    ],
)
def test_values_orjson_writes_differently_still_come_out_as_the_stdlib_writes(data, expected):
    assert dumps(data) == expected == stdlib(data)


@settings(max_examples=examples(200), deadline=None)
@given(data=value.filter(lambda v: not has_float(v)))
def test_loads_reads_back_what_dumps_wrote(data):
    assert loads(dumps(data)) == data


@pytest.mark.parametrize(
    "raw",
    [
        "NaN",
        "[1e400]",
        "123456789012345678901234567890",
        '"\\ud800"',
        # Over 64 bits, nested, beside text: orjson reads these as floats.
        '{"a":[18446744073709551616],"b":"x"}',
        "[18446744073709551615,-9223372036854775809]",
        '{"big":-123456789012345678901,"f":1.5}',
        # A long run of digits in text only, and a float: orjson's value is kept.
        '{"t":"12345678901234567890123","f":0.1}',
    ],
)
def test_loads_decodes_what_the_stdlib_decodes(raw):
    got, want = loads(raw), json.loads(raw)
    assert repr(got) == repr(want)


@settings(max_examples=examples(200), deadline=None)
@given(data=value)
def test_loads_decodes_any_stdlib_text_as_the_stdlib_does(data):
    raw = json.dumps(data)
    assert repr(loads(raw)) == repr(json.loads(raw))


def test_loads_reports_malformed_text_as_the_stdlib_does():
    with pytest.raises(json.JSONDecodeError):
        loads("{")
