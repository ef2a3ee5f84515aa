"""Control groups: deterministic, and the held-out share converges to the percentage."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.audience.control import hash_fraction, in_control_group


@settings(max_examples=200)
@given(
    scope=st.text(max_size=20), identity=st.text(min_size=1, max_size=40), percent=st.floats(0, 100)
)
def test_membership_is_the_same_on_every_run(scope, identity, percent):
    first = in_control_group(scope, identity, percent)
    assert all(in_control_group(scope, identity, percent) == first for _ in range(3))
    assert 0.0 <= hash_fraction(scope, identity) < 1.0


@settings(max_examples=20, deadline=None)
@given(percent=st.floats(min_value=1, max_value=99), scope=st.text(min_size=1, max_size=10))
def test_control_share_stays_within_statistical_bounds(percent, scope):
    n = 20_000
    held = sum(in_control_group(scope, f"user-{i}", percent) for i in range(n))
    p = percent / 100
    sigma = math.sqrt(n * p * (1 - p))
    # 5 sigma: a false alarm about once in 3.5 million runs
    assert abs(held - n * p) <= 5 * sigma


def test_zero_and_hundred_percent_are_exact():
    ids = [f"u{i}" for i in range(1000)]
    assert not any(in_control_group("c", i, 0) for i in ids)
    assert all(in_control_group("c", i, 100) for i in ids)


def test_groups_with_different_scopes_are_independent():
    ids = [f"u{i}" for i in range(10_000)]
    a = {i for i in ids if in_control_group("campaign:a", i, 50)}
    b = {i for i in ids if in_control_group("campaign:b", i, 50)}
    overlap = len(a & b) / len(ids)
    assert 0.22 < overlap < 0.28  # independent halves overlap on about a quarter
