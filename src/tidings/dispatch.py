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
from datetime import datetime
from itertools import islice
from typing import Any, Literal

from .audience.control import hash_fraction, in_control_group
from .channels import Message
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
from .storage.ledger import Ledger

__all__ = ["Candidate", "DispatchPlan", "HoldOut", "run_dispatch"]

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
    if remaining <= 0:
        return set()
    heap: list[tuple[float, str]] = []
    for identity in identities:
        rank = -hash_fraction(scope, identity)
        if len(heap) < remaining:
            heapq.heappush(heap, (rank, identity))
        elif rank > heap[0][0]:
            heapq.heapreplace(heap, (rank, identity))
    return {identity for _, identity in heap}


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

    if plan.cap is not None and ready:
        wanted = [c.identity for c, _ in ready]
        if plan.cap_selected is not None:
            wanted = [i for i in wanted if i in plan.cap_selected]
        else:
            scope = f"cap:{plan.source_id}:{plan.dispatch_key}"
            wanted.sort(key=lambda i: hash_fraction(scope, i))
        admitted = plan.ledger.claim_targets(plan.source_id, wanted, plan.cap) if wanted else set()
        kept_ready = []
        for cand, address in ready:
            if cand.identity in admitted:
                kept_ready.append((cand, address))
            else:
                records[cand.identity] = Skip(
                    plan.source_id,
                    cand.identity,
                    "targeting_cap",
                    f"targeting cap of {plan.cap} users reached",
                )
        ready = kept_ready

    for cand, address in ready:
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
        to = address if channel != "webhook" else (str(payload.get("url", "")),)
        records[cand.identity] = Delivery(
            source=plan.source,
            source_id=plan.source_id,
            identity=cand.identity,
            channel=channel,
            payload=payload,
            send_at=plan.now,
            idempotency_key=delivery_key(plan.source_id, plan.dispatch_key, cand.identity),
            to=to,
        )

    return [records[c.identity] for c in chunk]


def run_dispatch(
    plan: DispatchPlan,
    candidates: Iterable[Candidate],
    *,
    sink: Sink | None,
    keep: tuple[list[Delivery], list[Skip]] | None,
    chunk_size: int = CHUNK_SIZE,
) -> Summary:
    """Run every candidate through the pipeline; stream records to ``sink`` or ``keep``.

    Candidates must have distinct identities (the callers deduplicate).
    """
    summary = Summary()
    for chunk in _chunks(candidates, chunk_size):
        records = _process_chunk(plan, chunk)
        plan.ledger.record(records, dispatch_key=plan.dispatch_key)
        for record in records:
            summary.add(record)
            if sink is not None:
                sink(record)
            elif keep is not None:
                if isinstance(record, Delivery):
                    keep[0].append(record)
                else:
                    keep[1].append(record)
    return summary
