"""Eligibility: every per-user rule in one place, and the cap claims against the ledger.

For each candidate, in this order, the first rule that says no becomes the user's
``Skip``: unknown identity, audience filters, control group, an address on the
channel, the size of their own trigger data, the keys the templates need, the
timing rules (local send time, DND, cut-off, TTL; see
:func:`tidings.delivery.rules.decide_timing`), the targeting-cap pass. Users who
pass are :class:`Eligible` and go on to :mod:`~tidings.dispatch.render`. After
rendering, :func:`tidings.dispatch.caps.claim` takes the targeting-cap and
frequency-cap slots of a chunk in one ledger transaction (the cap rules live in
:mod:`~tidings.dispatch.caps`).

:func:`screen` needs the store (filters) and runs in the dispatching process;
:func:`check` needs only the plan, so it runs in worker processes too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from .._json import loads
from ..delivery.rules import Timing, decide_timing, period_keys, zone
from ..errors import MissingTriggerKeyError
from ..models.addresses import email_problem
from ..models.records import Record, Skip, SkipReason
from ..models.trigger import trigger_size
from ..models.users import JsonValue, UserProfile, profile_namespace
from ..storage.base import Store
from .plan import Candidate, DispatchPlan

__all__ = [
    "Eligible",
    "Entry",
    "Person",
    "SendTime",
    "Timings",
    "ZoneTiming",
    "address_on",
    "capped_skip",
    "check",
    "check_user",
    "held_or_unreachable",
    "screen",
    "timing",
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

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Person:
        """The person of a trusted store row, decoded here (in a worker, when there are some).

        ``row`` holds ``identity, name, email, push_tokens, timezone, properties``;
        the push tokens and properties either as the store's JSON text or decoded
        (a list or tuple, a dict). The same person as :meth:`of` the stored profile.
        """
        identity, name, email, tokens, timezone, properties = row
        if isinstance(tokens, str):
            tokens = loads(tokens)
        if isinstance(properties, str):
            # Decoded here, so the namespace may take the dict over instead of copying it.
            namespace = profile_namespace(identity, name, email, loads(properties), fresh=True)
        else:
            namespace = profile_namespace(identity, name, email, properties)
        return cls(identity, email, tuple(tokens), timezone, namespace)


class Entry(NamedTuple):
    """A known candidate that passed the audience filters, ready for :func:`check`."""

    person: Person
    trigger: Mapping[str, Any] | None
    """The user's own trigger data, or None for the request's shared data."""
    capped: bool
    """Whether the targeting-cap pass left the user out."""


class SendTime(NamedTuple):
    """When a delivery goes out, in the forms its records need (shared by a zone's users)."""

    at: datetime
    """The send time in UTC (a delivery's ``send_at``)."""
    text: str
    """``at`` as ISO text (the delivery line's and the outcome row's ``send_at``)."""
    day: str
    """The user's local day of the send (:func:`~tidings.delivery.rules.period_keys`)."""
    week: str
    """The user's local ISO week of the send."""


class ZoneTiming(NamedTuple):
    """The timing decision of one plan for the users of one time zone."""

    timing: Timing
    zone: ZoneInfo
    send: SendTime | None
    """None when ``timing`` refuses the send (its ``refusal`` says why)."""


class Eligible(NamedTuple):
    """A user every rule lets through: what rendering needs."""

    person: Person
    trigger: Mapping[str, Any]
    address: tuple[str, ...]
    send: SendTime


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


Timings = dict[str | None, ZoneTiming]
"""The timing decision of one plan by user time zone (a cache: it depends on nothing else)."""


def timing(plan: DispatchPlan, timezone: str | None, timings: Timings | None = None) -> ZoneTiming:
    """The timing rules for a user in ``timezone`` (None: the plan's default zone).

    The decision depends on the plan and the zone only, so ``timings`` (kept by
    the caller for one plan) holds it per zone instead of deciding it per user,
    with the send time in the forms every delivery of the zone shares.
    """
    if timings is not None:
        known = timings.get(timezone)
        if known is not None:
            return known
    tz = zone(timezone or plan.default_timezone)
    decided = decide_timing(
        plan.base, tz, plan.preferences, cutoff=plan.cutoff, ttl_seconds=plan.ttl
    )
    send = None
    if decided.send_at is not None:
        at = decided.send_at.astimezone(UTC)
        send = SendTime(at, at.isoformat(), *period_keys(at, tz))
    known = ZoneTiming(decided, tz, send)
    if timings is not None:
        timings[timezone] = known
    return known


def held_or_unreachable(plan: DispatchPlan, person: Person) -> Skip | tuple[str, ...]:
    """The control-group, opt-out and address rules: a Skip, or the user's address."""
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


def check(plan: DispatchPlan, entry: Entry, timings: Timings | None = None) -> Skip | Eligible:
    """Every rule that needs neither the store nor the ledger, for one user.

    ``timings`` caches the timing decision per zone across the calls of one plan.
    """
    return check_user(plan, entry.person, entry.trigger, entry.capped, timings)


def check_user(
    plan: DispatchPlan,
    person: Person,
    own_trigger: Mapping[str, Any] | None,
    capped: bool,
    timings: Timings | None = None,
) -> Skip | Eligible:
    """:func:`check` of an entry given as its parts (no :class:`Entry` to build per user)."""
    identity, source_id = person.identity, plan.source_id
    address = held_or_unreachable(plan, person)
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
    decided, _, send = timing(plan, person.timezone, timings)
    if send is None:
        assert decided.refusal is not None  # noqa: S101 - decide_timing pairs them
        return Skip(source_id, identity, decided.refusal, decided.detail)
    if capped:
        return capped_skip(plan, identity)
    return Eligible(person, trigger or {}, address, send)


def capped_skip(plan: DispatchPlan, identity: str) -> Skip:
    """The Skip of a user the targeting cap leaves out."""
    return Skip(
        plan.source_id, identity, "targeting_cap", f"targeting cap of {plan.cap} users reached"
    )
