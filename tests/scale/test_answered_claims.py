"""The ledger a capped campaign's partition task claims through: the client's answers first."""

from functools import partial

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed")

from tidings.dispatch.caps import decide_claims
from tidings.scale._worker import Answered
from tidings.storage.ledger import ClaimRequest, MemoryLedger


def _request(identity):
    return ClaimRequest(identity, f"k-{identity}", "push", "2026-11-27", "2026-W48", True)


def test_given_answers_are_returned_and_the_rest_claimed_from_the_ledger():
    ledger = MemoryLedger()
    answered = Answered(ledger, {"a": "targeting_cap", "b": "ok"})
    decide = partial(decide_claims, cap=1, frequency_caps=())
    results = answered.claim("src", [_request(i) for i in "abc"], decide=decide, history=False)
    assert results == {"a": "targeting_cap", "b": "ok", "c": "ok"}
    assert ledger.claimed("src", ["a", "b", "c"]) == {"c"}  # only c went to the ledger
    assert answered.answers == {"c": "ok"}
    assert answered.cap_used("src") == 1  # everything else is the ledger's


def test_without_answers_it_records_the_ledgers():
    ledger = MemoryLedger()
    recorder = Answered(ledger)
    decide = partial(decide_claims, cap=1, frequency_caps=())
    recorder.as_ledger().claim("src", [_request("x"), _request("y")], decide=decide, history=False)
    assert recorder.answers == {"x": "ok", "y": "targeting_cap"}
