"""Caps: the targeting-cap pass over a capped bulletin's audience, and the cap claims.

A capped bulletin first reads its audience without properties and picks who takes
the remaining slots (:func:`admitted_under_cap`: the lowest hash ranks among users
who may take one). Then each chunk's rendered deliveries claim their targeting-cap
and frequency-cap slots in one ledger transaction (:func:`claim`), decided by
:func:`decide_claims`, the one rule for both caps.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import NamedTuple

from .._batching import CHUNK_SIZE, batched
from ..audience.control import hash_fraction
from ..models.preferences import FrequencyCap
from ..models.records import Skip
from ..models.users import UserProfile
from ..storage.ledger import ClaimDecision, ClaimRequest, ClaimResult, ClaimState, Ledger
from .eligibility import Person, capped_skip, held_or_unreachable, timing
from .plan import DispatchPlan

__all__ = [
    "Wanted",
    "admitted_under_cap",
    "claim",
    "decide_claims",
    "may_take_a_slot",
    "reopen_held",
    "select_under_cap",
]


class Wanted(NamedTuple):
    """A rendered delivery asking for its slots: who, its key, the user's local day and week."""

    identity: str
    key: str
    day: str
    week: str


def select_under_cap(identities: Iterable[str], *, scope: str, remaining: int) -> set[str]:
    """The ``remaining`` identities with the lowest hash rank for ``scope``.

    Deterministic whatever order the identities arrive in (not "first in the
    table"); memory is O(remaining).
    """
    heap: list[tuple[float, str]] = []
    for identity in identities:  # always consumed in full: callers may count as it runs
        if remaining <= 0:
            continue
        rank = -hash_fraction(scope, identity)
        if len(heap) < remaining:
            heapq.heappush(heap, (rank, identity))
        elif rank > heap[0][0]:
            heapq.heapreplace(heap, (rank, identity))
    return {identity for _, identity in heap}


def may_take_a_slot(plan: DispatchPlan, profile: UserProfile) -> bool:
    """Whether a user would reach the cap stage: not held out, reachable, timely.

    Used by the first pass of a capped bulletin so slots go to users who can be sent.
    """
    person = Person(profile.identity, profile.email, profile.push_tokens, profile.timezone, {})
    if isinstance(held_or_unreachable(plan, person), Skip):
        return False
    prefs = plan.preferences
    if prefs.dnd is None and plan.cutoff is None and prefs.local_send_time is None:
        return True
    return timing(plan, profile.timezone)[0].send_at is not None


def admitted_under_cap(
    plan: DispatchPlan, ledger: Ledger, audience: Iterable[UserProfile]
) -> set[str]:
    """First pass of a capped dispatch: who falls under the cap, deterministically.

    Users who already hold a slot keep it; the remaining slots go to the users of
    ``audience`` who may take one (:func:`may_take_a_slot`) with the lowest hash
    rank for (source, dispatch). A resumed dispatch gets the same set, since its
    earlier claims move from the second group to the first.
    """
    assert plan.cap is not None  # noqa: S101 - callers pass capped plans only
    held: set[str] = set()

    def unclaimed() -> Iterator[str]:
        eligible = (p.identity for p in audience if may_take_a_slot(plan, p))
        for batch in batched(eligible, CHUNK_SIZE):
            claimed = ledger.claimed(plan.source_id, batch)
            held.update(claimed)
            yield from (i for i in batch if i not in claimed)

    ranked = select_under_cap(
        unclaimed(), scope=plan.cap_scope, remaining=plan.cap - ledger.cap_used(plan.source_id)
    )
    return held | ranked


def reopen_held(plan: DispatchPlan, ledger: Ledger, capped: list[str]) -> set[str]:
    """Which users the cap pass left out (``capped``) hold a slot by now: let them back in.

    A dispatch that overlaps this one may have given them a slot since the pass
    (its claims fill the same cap); a slot holder keeps their slot, so they are
    sent like the users the pass chose, and the cap fills from the next ranks
    when this dispatch loses a claim to the other.
    """
    return ledger.claimed(plan.source_id, capped) if capped else set()


def claim(
    plan: DispatchPlan, ledger: Ledger, wanted: list[Wanted], *, ranked: bool
) -> dict[str, Skip]:
    """Claim the targeting cap and frequency caps for a chunk's deliveries, atomically.

    Returns the cap's Skip of each user who did not get a slot (the others are
    sent). Unless the cap pass ``ranked`` the users already, a capped chunk is
    decided in hash-rank order, so a chunk over the cap keeps its lowest ranks.
    """
    if not wanted or not plan.claims:
        return {}
    channel = plan.message.channel
    apply_frequency = plan.preferences.apply_global_limits
    requests = [
        ClaimRequest(
            identity=w.identity,
            key=w.key,
            channel=channel,
            day=w.day,
            week=w.week,
            apply_frequency=apply_frequency,
        )
        for w in wanted
    ]
    if plan.cap is not None and not ranked:
        requests.sort(key=lambda r: hash_fraction(plan.cap_scope, r.identity))
    frequency_caps = plan.frequency_caps if apply_frequency else ()
    results = ledger.claim(
        plan.source_id,
        requests,
        decide=partial(decide_claims, cap=plan.cap, frequency_caps=frequency_caps),
        history=bool(frequency_caps),
    )
    refused: dict[str, Skip] = {}
    for w in wanted:
        outcome = results[w.identity]
        if outcome == "targeting_cap":
            refused[w.identity] = capped_skip(plan, w.identity)
        elif outcome == "frequency_cap":
            refused[w.identity] = Skip(
                plan.source_id, w.identity, "frequency_cap", "the user's frequency cap is reached"
            )
    return refused


def decide_claims(
    requests: Sequence[ClaimRequest],
    state: ClaimState,
    *,
    cap: int | None,
    frequency_caps: Sequence[FrequencyCap],
) -> ClaimDecision:
    """The targeting-cap and frequency-cap rule, over what the ledger holds right now.

    Requests are decided in order. A user is admitted only if both caps allow it;
    only then are both counted. The targeting cap counts distinct users over the
    source's life (a user who holds a slot keeps it); each frequency cap counts
    the user's sends in their local day or ISO week, on one channel or all. A
    request whose delivery key was claimed before (a retry or a resumed dispatch)
    is admitted again without counting twice. Only sends a frequency cap counts
    become frequency claims (``new_keys``): none for a source that opts out of
    the global limits, none when the workspace has no frequency cap. The ledger
    calls this inside its claim transaction (see :meth:`~tidings.storage.Ledger.claim`).
    """
    counts: dict[tuple[str, str, str | None], int] = {}

    def bump(identity: str, channel: str, day: str, week: str) -> None:
        for rule in frequency_caps:
            if rule.channel is not None and rule.channel != channel:
                continue
            period = day if rule.period == "day" else week
            k = (identity, period, rule.channel)
            counts[k] = counts.get(k, 0) + 1

    def under_frequency(req: ClaimRequest) -> bool:
        for rule in frequency_caps:
            if rule.channel is not None and rule.channel != req.channel:
                continue
            period = req.day if rule.period == "day" else req.week
            if counts.get((req.identity, period, rule.channel), 0) >= rule.limit:
                return False
        return True

    # A delivery key is kept (a frequency claim) only where a frequency cap counts
    # it: without one, a repeat needs no recognising and the ledger writes no row.
    counting = bool(frequency_caps)
    for row in state.history:
        bump(row.identity, row.channel, row.day, row.week)
    claimed = set(state.claimed)
    known = set(state.known_keys)
    results: dict[str, ClaimResult] = {}
    new_slots: list[str] = []
    new_keys: list[ClaimRequest] = []
    for req in requests:
        repeat = req.key in known
        if not (cap is None or req.identity in claimed or state.used + len(new_slots) < cap):
            results[req.identity] = "targeting_cap"
            continue
        if not (repeat or not req.apply_frequency or under_frequency(req)):
            results[req.identity] = "frequency_cap"
            continue
        results[req.identity] = "ok"
        if cap is not None and req.identity not in claimed:
            claimed.add(req.identity)
            new_slots.append(req.identity)
        if not repeat and counting and req.apply_frequency:
            known.add(req.key)
            new_keys.append(req)
            bump(req.identity, req.channel, req.day, req.week)
    return ClaimDecision(results, new_slots, new_keys)
