"""Every fuzz target runs under pytest too (a few inputs each), so the targets stay working.

The long runs are ``make fuzz`` (``python -m tests.fuzz``); see tests/fuzz/README.md.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from tests.fuzz.targets import TARGETS, Target


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_target_keeps_the_error_contract(target: Target):
    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(target.inputs)
    def run(value):
        target.check(value)

    run()
