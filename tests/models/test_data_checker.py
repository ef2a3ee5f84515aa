"""The one checker for untrusted JSON-like data: every rule, with the path it names."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.strategies import json_values

from tidings.errors import DataError
from tidings.models.data import DataLimits, check_data


def _nested(depth: int) -> list:
    root: list = []
    node = root
    for _ in range(depth - 1):
        child: list = []
        node.append(child)
        node = child
    return root


def _cycle() -> dict:
    data: dict = {"a": {"b": []}}
    data["a"]["b"].append(data["a"])
    return data


BAD = [
    ("deep", {"x": _nested(1000)}, "depth", None),
    ("cycle", _cycle(), "cycle", "T.a.b[0]"),
    ("surrogate value", {"k": "ok\ud800"}, "surrogate", "T.k"),
    ("surrogate key", {"k\udfff": 1}, "surrogate", "T"),
    ("tuple key", {("a", 1): 1}, "key_type", "T"),
    ("int key", {1: 1}, "key_type", "T"),
    ("huge int", {"n": 10**5000}, "int_size", "T.n"),
    ("negative huge int", {"n": [-(10**100)]}, "int_size", "T.n[0]"),
    ("nan", {"f": math.nan}, "non_finite", "T.f"),
    ("inf", {"f": [1.0, math.inf]}, "non_finite", "T.f[1]"),
    ("bytes", {"b": b"x"}, "type", "T.b"),
    ("set", {"s": {1, 2}}, "type", "T.s"),
    ("object", {"o": object()}, "type", "T.o"),
    ("too many", {"l": list(range(100_001))}, "size", "T"),
    ("long string", {"s": "x" * 1_000_001}, "string_size", "T.s"),
]


@pytest.mark.parametrize(("name", "value", "rule", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_data_is_refused_with_rule_and_path(name, value, rule, field):
    with pytest.raises(DataError) as info:
        check_data(value, "T")
    assert info.value.rule == rule
    if field is not None:
        assert info.value.field == field
    assert str(info.value)  # printable (no 5,000-digit integer, no surrogate trouble)
    str(info.value).encode("utf-8")


def test_sharing_is_not_a_cycle():
    shared = {"x": 1}
    check_data({"a": shared, "b": [shared, shared]}, "T")


def test_depth_limit_is_exact():
    limits = DataLimits(max_depth=5)
    check_data(_nested(5), "T", limits)
    with pytest.raises(DataError):
        check_data(_nested(6), "T", limits)


def test_non_finite_allowed_when_asked():
    check_data({"f": math.nan}, "T", DataLimits(allow_non_finite=True))


@given(json_values)
def test_plain_json_values_always_pass(value):
    check_data({"v": value}, "T")


@given(st.text())
def test_text_passes_exactly_when_it_encodes_as_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(DataError):
            check_data({"t": text}, "T")
    else:
        check_data({"t": text}, "T")


def test_a_bad_batch_argument_is_refused_before_anything_is_read():
    from tidings.errors import ArgumentError
    from tidings.models.users import events_from, profiles_from

    for bad in (None, 5, "u1", {"identity": "u1"}):
        with pytest.raises(ArgumentError):
            profiles_from(bad)
        with pytest.raises(ArgumentError):
            events_from(bad)
