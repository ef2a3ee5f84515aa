"""The dispatch pipeline: candidates in, one Delivery or one Skip per candidate out.

Stages, per chunk of candidates (streaming; a chunk is the only thing in memory)::

    known? -> audience filters -> control group -> reachable on the channel
      -> trigger data checks -> targeting cap -> render -> Delivery

Every stage is a plain function of its inputs; state (cap counters, outcomes)
lives in the ledger. A failure for one user (bad data, render error) becomes
that user's ``Skip``; it never stops the batch.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal

from .audience.control import hash_fraction, in_control_group
from .channels import Message
from .delivery.rules import DeliveryPreferences, FrequencyCap, decide_timing, period_keys, zone
from .errors import (
    InvalidWebhookBodyError,
    MissingTriggerKeyError,
    PayloadTooLargeError,
    TemplateError,
    TidingsError,
)
from .models.definitions import ControlGroup, CustomControlGroup
from .models.records import Delivery, Record, Sink, Skip, SkipReason, Summary, delivery_key
from .models.users import UserProfile
from .storage.ledger import ClaimRequest, Ledger

__all__ = [
    "Candidate",
    "DispatchPlan",
    "HoldOut",
    "may_take_a_slot",
    "run_dispatch",
    "select_under_cap",
]

CHUNK_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Candidate:
    """One user considered for a message, with the trigger data meant for them."""

    identity: str
    profile: UserProfile | None
    trigger: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class HoldOut:
    """A resolved control group: a hash scope and a share, or an explicit member list."""

    scope: str
    percent: float
    members: frozenset[str] = frozenset()

    def holds(self, identity: str) -> bool:
        """Whether ``identity`` is held out."""
        if identity in self.members:
            return True
        return in_control_group(self.scope, identity, self.percent)

    @classmethod
    def resolve(
        cls,
        control: ControlGroup | None,
        *,
        source_scope: str,
        custom_groups: Mapping[str, CustomControlGroup],
    ) -> HoldOut | None:
        """Turn a campaign's control-group choice into a hold-out rule.

        Raises:
            KeyError: The custom group is not defined.
        """
        if control is None:
            return None
        if control.kind == "campaign":
            return cls(scope=source_scope, percent=control.percent) if control.percent else None
        assert control.group is not None  # noqa: S101 - the model validates it
        group = custom_groups[control.group]
        return cls(scope=f"group:{group.name}", percent=group.percent, members=group.identities)


@dataclass
class DispatchPlan:
    """Everything the pipeline needs to turn candidates into records for one source."""

    source: Literal["campaign", "bulletin"]
    source_id: str
    message: Message
    dispatch_key: str
    now: datetime
    ledger: Ledger
    namespaces: dict[str, Any] = field(default_factory=dict)
    filter_stage: Callable[[Sequence[str]], set[str]] | None = None
    hold_out: HoldOut | None = None
    cap: int | None = None
    cap_selected: set[str] | None = None
    max_trigger_bytes: int | None = None
    ttl_seconds: int | None = None
    shared_trigger: Mapping[str, Any] | None = None
    send_base: datetime | None = None
    preferences: DeliveryPreferences = field(default_factory=DeliveryPreferences)
    cutoff: datetime | None = None
    frequency_caps: tuple[FrequencyCap, ...] = ()
    default_timezone: str = "UTC"

    @property
    def base(self) -> datetime:
        """The earliest send time: the event time for a future business event, else now."""
        return self.send_base if self.send_base is not None else self.now


def _reason_for(exc: BaseException) -> SkipReason:
    if isinstance(exc, MissingTriggerKeyError):
        return "missing_trigger_key"
    if isinstance(exc, PayloadTooLargeError):
        return "payload_too_large"
    if isinstance(exc, InvalidWebhookBodyError):
        return "invalid_webhook_body"
    return "render_error"


def _address(channel: str, profile: UserProfile) -> tuple[str, ...] | None:
    if channel == "email":
        return (profile.email,) if profile.email else None
    if channel == "push":
        return profile.push_tokens or None
    return ()


def _json_size(data: Mapping[str, Any]) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())


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
    if plan.hold_out is not None and plan.hold_out.holds(profile.identity):
        return False
    if _address(plan.message.channel, profile) is None:
        return False
    if (
        plan.preferences.dnd is None
        and plan.cutoff is None
        and plan.preferences.local_send_time is None
    ):
        return True
    tz = zone(profile.timezone or plan.default_timezone)
    timing = decide_timing(
        plan.base, tz, plan.preferences, cutoff=plan.cutoff, ttl_seconds=_ttl(plan)
    )
    return timing.send_at is not None


def _ttl(plan: DispatchPlan) -> int | None:
    if plan.ttl_seconds is not None or plan.message.channel != "push":
        return plan.ttl_seconds
    ttl = getattr(plan.message, "ttl_seconds", None)
    return ttl if isinstance(ttl, int) else None


def _chunks(items: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _process_chunk(plan: DispatchPlan, chunk: list[Candidate]) -> list[Record]:
    records: dict[str, Record] = {}
    alive: list[Candidate] = []
    for cand in chunk:
        if cand.profile is None:
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, "unknown_identity", "no profile with this identity"
            )
        else:
            alive.append(cand)

    if plan.filter_stage is not None and alive:
        passed = plan.filter_stage([c.identity for c in alive])
        kept = []
        for cand in alive:
            if cand.identity in passed:
                kept.append(cand)
            else:
                records[cand.identity] = Skip(
                    plan.source_id,
                    cand.identity,
                    "filtered_out",
                    "does not match the audience filters",
                )
        alive = kept

    channel = plan.message.channel
    ready: list[tuple[Candidate, tuple[str, ...]]] = []
    for cand in alive:
        assert cand.profile is not None  # noqa: S101 - unknown identities were skipped above
        if plan.hold_out is not None and plan.hold_out.holds(cand.identity):
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, "control_group", f"held out ({plan.hold_out.scope})"
            )
            continue
        address = _address(channel, cand.profile)
        if address is None:
            reason: SkipReason = "no_email" if channel == "email" else "no_push_token"
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, reason, f"the profile has no {channel} address"
            )
            continue
        trigger = cand.trigger if cand.trigger is not None else plan.shared_trigger
        if plan.max_trigger_bytes is not None and trigger and cand.trigger is not None:
            size = _json_size(trigger)
            if size > plan.max_trigger_bytes:
                records[cand.identity] = Skip(
                    plan.source_id,
                    cand.identity,
                    "trigger_too_large",
                    f"ExternalTrigger data is {size} bytes, over {plan.max_trigger_bytes}",
                )
                continue
        missing = sorted(
            k for k in plan.message.required_trigger_keys if (trigger or {}).get(k) is None
        )
        if missing:
            records[cand.identity] = Skip(
                plan.source_id,
                cand.identity,
                "missing_trigger_key",
                str(MissingTriggerKeyError(missing)),
            )
            continue
        ready.append((cand, address))

    # Time rules (local send time, DND, cut-off, TTL) before anything takes a slot.
    timed: list[tuple[Candidate, tuple[str, ...], datetime, Any]] = []
    ttl = _ttl(plan)
    for cand, address in ready:
        assert cand.profile is not None  # noqa: S101 - unknown identities were skipped above
        tz = zone(cand.profile.timezone or plan.default_timezone)
        timing = decide_timing(plan.base, tz, plan.preferences, cutoff=plan.cutoff, ttl_seconds=ttl)
        if timing.send_at is None:
            assert timing.refusal is not None  # noqa: S101 - decide_timing pairs them
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, timing.refusal, timing.detail
            )
            continue
        timed.append((cand, address, timing.send_at.astimezone(UTC), tz))

    rendered: list[tuple[Candidate, tuple[str, ...], datetime, Any, dict[str, Any]]] = []
    for cand, address, send_at, tz in timed:
        if plan.cap_selected is not None and cand.identity not in plan.cap_selected:
            records[cand.identity] = Skip(
                plan.source_id,
                cand.identity,
                "targeting_cap",
                f"targeting cap of {plan.cap} users reached",
            )
            continue
        assert cand.profile is not None  # noqa: S101 - unknown identities were skipped above
        trigger = cand.trigger if cand.trigger is not None else plan.shared_trigger
        try:
            payload = plan.message.render(
                cand.profile.namespace(), trigger or {}, **plan.namespaces
            ).to_dict()
        except TidingsError as exc:
            field_name = getattr(exc, "field", None)
            detail = exc.detailed_message() if isinstance(exc, TemplateError) else str(exc)
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, _reason_for(exc), detail, field_name
            )
            continue
        except Exception as exc:  # noqa: BLE001 - one bad user never stops the batch
            records[cand.identity] = Skip(
                plan.source_id, cand.identity, "render_error", f"{type(exc).__name__}: {exc}"
            )
            continue
        if (
            plan.ttl_seconds is not None
            and channel == "push"
            and payload.get("ttl_seconds") is None
        ):
            payload["ttl_seconds"] = plan.ttl_seconds
        rendered.append((cand, address, send_at, tz, payload))

    # Targeting cap and frequency caps: one atomic claim for the chunk.
    if rendered and (plan.cap is not None or plan.frequency_caps):
        requests = []
        for cand, _addr, send_at, tz, _payload in rendered:
            day, week = period_keys(send_at, tz)
            requests.append(
                ClaimRequest(
                    identity=cand.identity,
                    key=delivery_key(plan.source_id, plan.dispatch_key, cand.identity),
                    channel=channel,
                    day=day,
                    week=week,
                    apply_frequency=plan.preferences.apply_global_limits,
                )
            )
        if plan.cap_selected is None and plan.cap is not None:
            scope = f"cap:{plan.source_id}:{plan.dispatch_key}"
            requests.sort(key=lambda r: hash_fraction(scope, r.identity))
        results = plan.ledger.claim(
            plan.source_id,
            requests,
            cap=plan.cap,
            frequency_caps=plan.frequency_caps if plan.preferences.apply_global_limits else (),
        )
        admitted = []
        for item in rendered:
            identity = item[0].identity
            verdict = results[identity]
            if verdict == "ok":
                admitted.append(item)
            elif verdict == "targeting_cap":
                records[identity] = Skip(
                    plan.source_id,
                    identity,
                    "targeting_cap",
                    f"targeting cap of {plan.cap} users reached",
                )
            else:
                records[identity] = Skip(
                    plan.source_id, identity, "frequency_cap", "the user's frequency cap is reached"
                )
        rendered = admitted

    for cand, address, send_at, _tz, payload in rendered:
        to = address if channel != "webhook" else (str(payload.get("url", "")),)
        records[cand.identity] = Delivery(
            source=plan.source,
            source_id=plan.source_id,
            identity=cand.identity,
            channel=channel,
            payload=payload,
            send_at=send_at,
            idempotency_key=delivery_key(plan.source_id, plan.dispatch_key, cand.identity),
            to=to,
        )

    return [records[c.identity] for c in chunk if c.identity in records]


def run_dispatch(
    plan: DispatchPlan,
    candidates: Iterable[Candidate],
    *,
    sink: Sink | None,
    keep: tuple[list[Delivery], list[Skip]] | None,
    chunk_size: int = CHUNK_SIZE,
) -> Summary:
    """Run every candidate through the pipeline; stream records to ``sink`` or ``keep``.

    Candidates must have distinct identities (the callers deduplicate). Per chunk:
    decide, store the decisions in the ledger, hand them to the sink, then mark
    them emitted. A dispatch re-run with the same ``dispatch_key`` after a crash
    skips what was already emitted (counting it from the ledger) and redoes the
    rest, so nobody is sent twice and nobody is lost.
    """
    summary = Summary()
    for chunk in _chunks(candidates, chunk_size):
        done = plan.ledger.emitted(plan.source_id, plan.dispatch_key, [c.identity for c in chunk])
        for state, reason in done.values():
            summary.add_outcome(state, reason)
        todo = [c for c in chunk if c.identity not in done] if done else chunk
        if not todo:
            continue
        records = _process_chunk(plan, todo)
        plan.ledger.record(records, dispatch_key=plan.dispatch_key, at=plan.now)
        for record in records:
            summary.add(record)
            if sink is not None:
                sink(record)
            elif keep is not None:
                if isinstance(record, Delivery):
                    keep[0].append(record)
                else:
                    keep[1].append(record)
        plan.ledger.mark_emitted(plan.source_id, plan.dispatch_key, [r.identity for r in records])
    return summary
