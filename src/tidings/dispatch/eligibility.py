"""Eligibility: every per-user rule in one place, and the cap claims against the ledger.

For each candidate, in this order, the first rule that says no becomes the user's
``Skip``: unknown identity, audience filters, control group, an address on the
channel, the size of their own trigger data, the keys the templates need, the
timing rules (local send time, DND, cut-off, TTL; see
:func:`tidings.delivery.rules.decide_timing`), the targeting-cap pass. Users who
pass are :class:`Eligible` and go on to :mod:`~tidings.dispatch.render`. After
rendering, :func:`claim` takes the targeting-cap and frequency-cap slots of a
chunk in one ledger transaction.

:func:`screen` needs the store (filters) and runs in the dispatching process;
:func:`check` needs only the plan, so it runs in worker processes too.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from .._batching import CHUNK_SIZE, batched
from ..audience.control import hash_fraction
from ..delivery.rules import Timing, decide_timing, zone
from ..errors import MissingTriggerKeyError
from ..models.addresses import email_problem
from ..models.preferences import FrequencyCap
from ..models.records import Record, Skip, SkipReason
from ..models.trigger import trigger_size
from ..models.users import JsonValue, UserProfile, profile_namespace
from ..storage.base import Store
from ..storage.ledger import ClaimDecision, ClaimRequest, ClaimResult, ClaimState, Ledger
from .plan import Candidate, DispatchPlan

if TYPE_CHECKING:
    from .render import Ready

__all__ = [
    "Eligible",
    "Entry",
    "Person",
    "address_on",
    "admitted_under_cap",
    "check",
    "claim",
    "decide_claims",
    "may_take_a_slot",
    "reopen_held",
    "screen",
    "select_under_cap",
]


class Person(NamedTuple):
    """A profile as the per-user stages need it (cheaper to send to a worker than the model)."""

    identity: str
    email: str | None
    push_tokens: tuple[str, ...]
    timezone: str | None
    profile: dict[str, JsonValue]
    """The ``Profile`` namespace of the templates."""

    @classmethod
    def of(cls, profile: UserProfile) -> Person:
        """The person of a stored profile."""
        return cls(
            profile.identity,
            profile.email,
            profile.push_tokens,
            profile.timezone,
            profile_namespace(profile.identity, profile.name, profile.email, profile.properties),
        )


class Entry(NamedTuple):
    """A known candidate that passed the audience filters, ready for :func:`check`."""

    person: Person
    trigger: Mapping[str, Any] | None
    """The user's own trigger data, or None for the request's shared data."""
    capped: bool
    """Whether the targeting-cap pass left the user out."""


class Eligible(NamedTuple):
    """A user every rule lets through: what rendering needs."""

    person: Person
    trigger: Mapping[str, Any]
    address: tuple[str, ...]
    send_at: datetime
    zone: ZoneInfo


_UNREACHABLE: dict[str, tuple[SkipReason, str]] = {
    "email": ("no_email", "the profile has no email address"),
    "push": ("no_push_token", "the profile has no push address"),
}


SUBSCRIPTION_FLAGS: dict[str, str] = {"email": "MSG-email", "push": "MSG-push"}
"""The CleverTap profile property that says whether a user takes a channel's messages."""


def unsubscribed(channel: str, profile: Mapping[str, Any]) -> str | None:
    """The flag a profile turned off for ``channel`` (``MSG-email``), or None.

    A flag is off when it is ``false`` (or the text ``"false"``, any case); absent or
    anything else means subscribed. Webhooks have no flag of their own.
    """
    flag = SUBSCRIPTION_FLAGS.get(channel)
    if flag is None:
        return None
    value = profile.get(flag)
    if value is False or (isinstance(value, str) and value.strip().lower() == "false"):
        return flag
    return None


def address_on(channel: str, email: str | None, tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where a channel reaches a user: the email, the push tokens, or () for webhooks.

    None when the user cannot be reached on the channel.
    """
    if channel == "email":
        # Checked again here: an address may reach the store unvalidated (old data).
        return (email,) if email and email_problem(email) is None else None
    if channel == "push":
        return tokens or None
    return ()


def screen(
    plan: DispatchPlan,
    store: Store,
    candidates: list[Candidate],
    admitted: set[str] | None,
) -> tuple[dict[str, Record], list[Entry]]:
    """Unknown identities and the audience filters (they need the store).

    Returns the skips by identity and the entries for :func:`check`; ``admitted``
    is the targeting-cap pass's choice (None: no pass).
    """
    skips: dict[str, Record] = {}
    alive: list[Candidate] = []
    for cand in candidates:
        if cand.profile is None:
            skips[cand.identity] = Skip(
                plan.source_id, cand.identity, "unknown_identity", "no profile with this identity"
            )
        else:
            alive.append(cand)
    if plan.filters and alive:
        ids = [c.identity for c in alive]
        passed = store.matching_identities(ids, plan.filters, now=plan.now)
        for cand in alive:
            if cand.identity not in passed:
                skips[cand.identity] = Skip(
                    plan.source_id,
                    cand.identity,
                    "filtered_out",
                    "does not match the audience filters",
                )
        alive = [c for c in alive if c.identity in passed]
    entries = [
        Entry(
            Person.of(cand.profile),
            cand.trigger,
            admitted is not None and cand.identity not in admitted,
        )
        for cand in alive
        if cand.profile is not None
    ]
    return skips, entries


def _timing(plan: DispatchPlan, timezone: str | None) -> tuple[Timing, ZoneInfo]:
    tz = zone(timezone or plan.default_timezone)
    return decide_timing(
        plan.base, tz, plan.preferences, cutoff=plan.cutoff, ttl_seconds=plan.ttl
    ), tz


def _held_or_unreachable(plan: DispatchPlan, person: Person) -> Skip | tuple[str, ...]:
    """The control-group and address rules: a Skip, or the user's address."""
    hold_out = plan.hold_out
    if hold_out is not None and hold_out.holds(person.identity):
        return Skip(
            plan.source_id, person.identity, "control_group", f"held out ({hold_out.scope})"
        )
    channel = plan.message.channel
    flag = unsubscribed(channel, person.profile)
    if flag is not None:
        return Skip(
            plan.source_id,
            person.identity,
            "unsubscribed",
            f"the user opted out of {channel} messages ({flag} is false)",
        )
    address = address_on(channel, person.email, person.push_tokens)
    if address is None:
        if channel == "email" and person.email:
            problem = email_problem(person.email)
            detail = f"not a valid address: {problem}"
            return Skip(plan.source_id, person.identity, "invalid_email", detail)
        reason, detail = _UNREACHABLE[channel]
        return Skip(plan.source_id, person.identity, reason, detail)
    return address


def check(plan: DispatchPlan, entry: Entry) -> Skip | Eligible:
    """Every rule that needs neither the store nor the ledger, for one user."""
    person, own_trigger, capped = entry
    identity, source_id = person.identity, plan.source_id
    address = _held_or_unreachable(plan, person)
    if isinstance(address, Skip):
        return address
    trigger = own_trigger if own_trigger is not None else plan.shared_trigger
    if plan.max_trigger_bytes is not None and trigger and own_trigger is not None:
        size = trigger_size(trigger)
        if size > plan.max_trigger_bytes:
            return Skip(
                source_id,
                identity,
                "trigger_too_large",
                f"ExternalTrigger data is {size} bytes, over {plan.max_trigger_bytes}",
            )
    if plan.message.required_trigger_keys:
        try:
            plan.message.check_trigger(trigger)
        except MissingTriggerKeyError as exc:
            return Skip(source_id, identity, "missing_trigger_key", exc.message)
    # Time rules (local send time, DND, cut-off, TTL) before anything takes a slot.
    timing, tz = _timing(plan, person.timezone)
    if timing.send_at is None:
        assert timing.refusal is not None  # noqa: S101 - decide_timing pairs them
        return Skip(source_id, identity, timing.refusal, timing.detail)
    if capped:
        return _capped(plan, identity)
    return Eligible(person, trigger or {}, address, timing.send_at, tz)


def _capped(plan: DispatchPlan, identity: str) -> Skip:
    return Skip(
        plan.source_id, identity, "targeting_cap", f"targeting cap of {plan.cap} users reached"
    )


# -- the targeting cap: a first pass over a capped bulletin's audience ------------------


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
    if isinstance(_held_or_unreachable(plan, person), Skip):
        return False
    prefs = plan.preferences
    if prefs.dnd is None and plan.cutoff is None and prefs.local_send_time is None:
        return True
    return _timing(plan, profile.timezone)[0].send_at is not None


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


def reopen_held(plan: DispatchPlan, ledger: Ledger, entries: list[Entry]) -> list[Entry]:
    """Let back in the users the cap pass left out who hold a slot by now.

    A dispatch that overlaps this one may have given them a slot since the pass
    (its claims fill the same cap); a slot holder keeps their slot, so they are
    sent like the users the pass chose, and the cap fills from the next ranks
    when this dispatch loses a claim to the other.
    """
    capped = [e.person.identity for e in entries if e.capped]
    held = ledger.claimed(plan.source_id, capped) if capped else set()
    if not held:
        return entries
    return [e._replace(capped=False) if e.person.identity in held else e for e in entries]


def claim(
    plan: DispatchPlan, ledger: Ledger, ready: list[Ready], *, ranked: bool
) -> dict[str, Record]:
    """Claim the targeting cap and frequency caps for a chunk's deliveries, atomically.

    Returns each identity's record: its delivery, or the cap's Skip. Unless the
    cap pass ``ranked`` the users already, a capped chunk is decided in hash-rank
    order, so a chunk over the cap keeps its lowest ranks.
    """
    if not ready or not plan.claims:
        return {r.delivery.identity: r.delivery for r in ready}
    channel = plan.message.channel
    apply_frequency = plan.preferences.apply_global_limits
    requests = [
        ClaimRequest(
            identity=r.delivery.identity,
            key=r.delivery.idempotency_key,
            channel=channel,
            day=r.day,
            week=r.week,
            apply_frequency=apply_frequency,
        )
        for r in ready
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
    records: dict[str, Record] = {}
    for r in ready:
        identity = r.delivery.identity
        outcome = results[identity]
        if outcome == "ok":
            records[identity] = r.delivery
        elif outcome == "targeting_cap":
            records[identity] = _capped(plan, identity)
        else:
            records[identity] = Skip(
                plan.source_id, identity, "frequency_cap", "the user's frequency cap is reached"
            )
    return records


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
