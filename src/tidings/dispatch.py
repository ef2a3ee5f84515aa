"""The dispatch pipeline: candidates in, one Delivery or one Skip per candidate out.

Stages, per chunk of candidates (streaming; a chunk is the only thing in memory)::

    known? -> audience filters -> control group -> reachable on the channel
      -> trigger data checks -> timing -> targeting cap -> render -> Delivery
      -> cap and frequency claims -> ledger -> sink

Every stage is a plain function of its inputs; state (cap counters, outcomes)
lives in the ledger. A failure for one user (bad data, render error) becomes
that user's ``Skip``; it never stops the batch.

The per-user stages (control group to render) need neither the store nor the
ledger, so with ``workers`` above 1 they run in worker processes, a chunk at a
time, while this process keeps the rest in chunk order: the same records come
out for any number of workers.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice
from typing import Any, Literal, Protocol, runtime_checkable

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
from .models.records import (
    Delivery,
    Record,
    Sink,
    Skip,
    SkipReason,
    Summary,
    delivery_key,
    encode_line,
)
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


def _address(channel: str, email: str | None, tokens: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where a channel reaches a user: the email, the push tokens, or () for webhooks.

    None when the user cannot be reached on the channel.
    """
    if channel == "email":
        return (email,) if email else None
    if channel == "push":
        return tokens or None
    return ()


_UNREACHABLE: dict[str, tuple[SkipReason, str]] = {
    "email": ("no_email", "the profile has no email address"),
    "push": ("no_push_token", "the profile has no push address"),
}


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
    if _address(plan.message.channel, profile.email, profile.push_tokens) is None:
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


# -- the per-user stages, run in this process or in a worker --------------------------

_Person = tuple[str, str | None, str | None, tuple[str, ...], str | None, dict[str, Any]]
"""A profile as the per-user stages need it: identity, name, email, push tokens,
time zone, properties (cheaper to send to a worker than the pydantic model)."""

_Item = tuple[_Person, Mapping[str, Any] | None, bool]
"""One candidate for the per-user stages: the person, their own trigger data (or
None for the shared data), and whether the targeting-cap pass left them out."""


@runtime_checkable
class LineSink(Protocol):
    """A sink that can also take a delivery's JSON line already encoded (by a worker).

    :class:`JsonLinesSink` is one; wrappers (the CLI's progress line) forward it.
    """

    def __call__(self, record: Record) -> None:
        """Write one record."""

    def write_encoded(self, record: Record, line: str) -> None:
        """Write one record whose line is ``encode_line(record)``."""


_Decided = Skip | tuple[Delivery, str, str, str | None]
"""A per-user verdict: a Skip, or a Delivery (before claims) with the user's local
day and ISO week of the send (empty when no cap needs them) and its JSON line
for a :class:`JsonLinesSink` (None when the sink is something else)."""


@dataclass(frozen=True, slots=True)
class _Work:
    """What the per-user stages need from a plan; picklable, sent once to each worker.

    The ledger, the store and the filter stage stay in the main process.
    """

    source: Literal["campaign", "bulletin"]
    source_id: str
    message: Message
    dispatch_key: str
    namespaces: dict[str, Any]
    hold_out: HoldOut | None
    cap: int | None
    max_trigger_bytes: int | None
    plan_ttl: int | None
    ttl: int | None
    shared_trigger: Mapping[str, Any] | None
    base: datetime
    preferences: DeliveryPreferences
    cutoff: datetime | None
    default_timezone: str
    periods: bool
    required_trigger_keys: frozenset[str]
    encode: bool = False
    """Whether to encode each delivery's JSON line here (for a :class:`JsonLinesSink`)."""

    @classmethod
    def of(cls, plan: DispatchPlan, *, encode: bool = False) -> _Work:
        return cls(
            source=plan.source,
            source_id=plan.source_id,
            message=plan.message,
            dispatch_key=plan.dispatch_key,
            namespaces=plan.namespaces,
            hold_out=plan.hold_out,
            cap=plan.cap,
            max_trigger_bytes=plan.max_trigger_bytes,
            plan_ttl=plan.ttl_seconds,
            ttl=_ttl(plan),
            shared_trigger=plan.shared_trigger,
            base=plan.base,
            preferences=plan.preferences,
            cutoff=plan.cutoff,
            default_timezone=plan.default_timezone,
            periods=plan.cap is not None or bool(plan.frequency_caps),
            required_trigger_keys=plan.message.required_trigger_keys,
            encode=encode,
        )


def _person(profile: UserProfile) -> _Person:
    return (
        profile.identity,
        profile.name,
        profile.email,
        profile.push_tokens,
        profile.timezone,
        profile.properties,
    )


def _namespace(person: _Person) -> dict[str, Any]:
    """The ``Profile`` namespace, as :meth:`UserProfile.namespace` builds it."""
    identity, name, email, _tokens, _tz, properties = person
    data = dict(properties)
    data["identity"] = identity
    if name is not None:
        data["name"] = name
    if email is not None:
        data["email"] = email
    return data


def _decide(work: _Work, item: _Item) -> _Decided:
    """Everything about one user that needs no ledger: checks, timing, render."""
    person, own_trigger, capped = item
    identity, _name, email, tokens, timezone, _props = person
    source_id = work.source_id
    hold_out = work.hold_out
    if hold_out is not None and hold_out.holds(identity):
        return Skip(source_id, identity, "control_group", f"held out ({hold_out.scope})")
    channel = work.message.channel
    address = _address(channel, email, tokens)
    if address is None:
        reason, detail = _UNREACHABLE[channel]
        return Skip(source_id, identity, reason, detail)
    trigger = own_trigger if own_trigger is not None else work.shared_trigger
    if work.max_trigger_bytes is not None and trigger and own_trigger is not None:
        size = _json_size(trigger)
        if size > work.max_trigger_bytes:
            return Skip(
                source_id,
                identity,
                "trigger_too_large",
                f"ExternalTrigger data is {size} bytes, over {work.max_trigger_bytes}",
            )
    required = work.required_trigger_keys
    if required:
        missing = sorted(k for k in required if (trigger or {}).get(k) is None)
        if missing:
            return Skip(
                source_id, identity, "missing_trigger_key", str(MissingTriggerKeyError(missing))
            )

    # Time rules (local send time, DND, cut-off, TTL) before anything takes a slot.
    tz = zone(timezone or work.default_timezone)
    timing = decide_timing(
        work.base, tz, work.preferences, cutoff=work.cutoff, ttl_seconds=work.ttl
    )
    if timing.send_at is None:
        assert timing.refusal is not None  # noqa: S101 - decide_timing pairs them
        return Skip(source_id, identity, timing.refusal, timing.detail)
    if capped:
        detail = f"targeting cap of {work.cap} users reached"
        return Skip(source_id, identity, "targeting_cap", detail)

    try:
        payload = work.message.render(
            _namespace(person), trigger or {}, **work.namespaces
        ).to_dict()
    except TidingsError as exc:
        field_name = getattr(exc, "field", None)
        detail = exc.detailed_message() if isinstance(exc, TemplateError) else str(exc)
        return Skip(source_id, identity, _reason_for(exc), detail, field_name)
    except Exception as exc:  # noqa: BLE001 - one bad user never stops the batch
        return Skip(source_id, identity, "render_error", f"{type(exc).__name__}: {exc}")
    if work.plan_ttl is not None and channel == "push" and payload.get("ttl_seconds") is None:
        payload["ttl_seconds"] = work.plan_ttl
    send_at = timing.send_at.astimezone(UTC)
    day, week = period_keys(send_at, tz) if work.periods else ("", "")
    delivery = Delivery(
        source=work.source,
        source_id=source_id,
        identity=identity,
        channel=channel,
        payload=payload,
        send_at=send_at,
        idempotency_key=delivery_key(source_id, work.dispatch_key, identity),
        to=address if channel != "webhook" else (str(payload.get("url", "")),),
    )
    return delivery, day, week, encode_line(delivery) if work.encode else None


def _decide_all(work: _Work, items: list[_Item]) -> list[_Decided]:
    return [_decide(work, item) for item in items]


_WORKER_STATE: dict[str, _Work] = {}
"""The plan of the dispatch a worker process serves (set by its initializer)."""


def _init_worker(work: _Work) -> None:
    _WORKER_STATE["work"] = work


_Packed = tuple[Any, ...]
"""A verdict as a worker sends it back: plain values, no dataclass.

Unpickling frozen slotted dataclasses runs Python code per object (their
``__setstate__``), about ten times the cost of a tuple, and it happens in the
dispatching process, the bottleneck; :func:`_unpack` rebuilds the same objects.
"""


def _pack(decided: list[_Decided]) -> list[_Packed]:
    packed: list[_Packed] = []
    for verdict in decided:
        if isinstance(verdict, Skip):
            packed.append((verdict.identity, verdict.reason, verdict.detail, verdict.field))
        else:
            d, day, week, line = verdict
            packed.append(
                (d.identity, d.payload, d.send_at, d.idempotency_key, d.to, day, week, line)
            )
    return packed


def _unpack(work: _Work, packed: list[_Packed]) -> list[_Decided]:
    source, source_id, channel = work.source, work.source_id, work.message.channel
    decided: list[_Decided] = []
    for values in packed:
        if len(values) == 4:
            identity, reason, detail, field_name = values
            decided.append(Skip(source_id, identity, reason, detail, field_name))
        else:
            identity, payload, send_at, key, to, day, week, line = values
            delivery = Delivery(source, source_id, identity, channel, payload, send_at, key, to)
            decided.append((delivery, day, week, line))
    return decided


def _decide_in_worker(items: list[_Item]) -> list[_Packed]:
    return _pack(_decide_all(_WORKER_STATE["work"], items))


def _worker_ready() -> bool:
    return "work" in _WORKER_STATE


# -- the main process: screening, claims, ledger, sink --------------------------------


@dataclass(slots=True)
class _Chunk:
    """One chunk between screening and settling: what is decided so far, in order."""

    todo: list[Candidate]
    records: dict[str, Record]
    items: list[_Item]


def _screen(plan: DispatchPlan, todo: list[Candidate]) -> _Chunk:
    """Unknown identities and the audience filters (they need the store)."""
    records: dict[str, Record] = {}
    alive: list[Candidate] = []
    for cand in todo:
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

    selected = plan.cap_selected
    items: list[_Item] = []
    for cand in alive:
        assert cand.profile is not None  # noqa: S101 - unknown identities were skipped above
        capped = selected is not None and cand.identity not in selected
        items.append((_person(cand.profile), cand.trigger, capped))
    return _Chunk(todo, records, items)


_Settled = tuple[list[Record], dict[str, str]]
"""A chunk's records in order, and the encoded JSON lines of its deliveries (if any)."""


def _settle(plan: DispatchPlan, chunk: _Chunk, decided: list[_Decided]) -> _Settled:
    """Claim the targeting cap and frequency caps for the chunk; the records, in order."""
    records = chunk.records
    ready: list[tuple[Delivery, str, str, str | None]] = []
    lines: dict[str, str] = {}
    for verdict in decided:
        if isinstance(verdict, Skip):
            records[verdict.identity] = verdict
        else:
            ready.append(verdict)
            if verdict[3] is not None:
                lines[verdict[0].identity] = verdict[3]

    # Targeting cap and frequency caps: one atomic claim for the chunk.
    if ready and (plan.cap is not None or plan.frequency_caps):
        channel = plan.message.channel
        requests = [
            ClaimRequest(
                identity=delivery.identity,
                key=delivery.idempotency_key,
                channel=channel,
                day=day,
                week=week,
                apply_frequency=plan.preferences.apply_global_limits,
            )
            for delivery, day, week, _line in ready
        ]
        if plan.cap_selected is None and plan.cap is not None:
            scope = f"cap:{plan.source_id}:{plan.dispatch_key}"
            requests.sort(key=lambda r: hash_fraction(scope, r.identity))
        results = plan.ledger.claim(
            plan.source_id,
            requests,
            cap=plan.cap,
            frequency_caps=plan.frequency_caps if plan.preferences.apply_global_limits else (),
        )
        for delivery, _day, _week, _line in ready:
            identity = delivery.identity
            claim = results[identity]
            if claim == "ok":
                records[identity] = delivery
            elif claim == "targeting_cap":
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
    else:
        for delivery, _day, _week, _line in ready:
            records[delivery.identity] = delivery

    # A line is used only for a record that is still its delivery (not a claim's skip).
    return [records[c.identity] for c in chunk.todo if c.identity in records], lines


class _Emitter:
    """The per-chunk commit: store the decisions, hand them to the sink, mark them emitted.

    A chunk is marked emitted in the same ledger transaction that records the next
    chunk (and the last one on its own, in :meth:`finish`): two transactions per
    chunk instead of three. Until then the chunk's deliveries stay ``pending``, so a
    crash re-processes at most the chunks not yet marked (as before, one chunk may
    reach the sink twice; :class:`JsonLinesSink` drops its repeats on resume).
    The sink is flushed (if it can be) before its chunk is marked.
    """

    def __init__(
        self,
        plan: DispatchPlan,
        sink: Sink | None,
        keep: tuple[list[Delivery], list[Skip]] | None,
    ) -> None:
        self.plan = plan
        self.sink = sink
        self.keep = keep
        self.summary = Summary()
        self.lines: LineSink | None = sink if isinstance(sink, LineSink) else None
        flush = getattr(sink, "flush", None)
        self._flush: Callable[[], object] | None = flush if callable(flush) else None
        self._unmarked: list[str] = []

    def todo(self, chunk: list[Candidate]) -> list[Candidate]:
        """The candidates of ``chunk`` not emitted by an earlier run (those are counted)."""
        plan = self.plan
        done = plan.ledger.emitted(plan.source_id, plan.dispatch_key, [c.identity for c in chunk])
        for state, reason in done.values():
            self.summary.add_outcome(state, reason)
        return [c for c in chunk if c.identity not in done] if done else chunk

    def emit(self, settled: _Settled) -> None:
        """Record a chunk (marking the previous one emitted), then hand it to the sink."""
        records, lines = settled
        plan, sink, keep, summary = self.plan, self.sink, self.keep, self.summary
        unmarked = self._unmarked
        plan.ledger.record(
            records,
            dispatch_key=plan.dispatch_key,
            at=plan.now,
            emitted=(plan.source_id, unmarked) if unmarked else None,
        )
        self._unmarked = []
        encoded = self.lines
        for record in records:
            summary.add(record)
            if encoded is not None:
                line = lines.get(record.identity) if isinstance(record, Delivery) else None
                if line is not None:
                    encoded.write_encoded(record, line)
                else:
                    encoded(record)
            elif sink is not None:
                sink(record)
            elif keep is not None:
                if isinstance(record, Delivery):
                    keep[0].append(record)
                else:
                    keep[1].append(record)
        if self._flush is not None:
            self._flush()
        self._unmarked = [r.identity for r in records]

    def finish(self) -> None:
        """Mark the last chunk handed to the sink as emitted."""
        if self._unmarked:
            plan = self.plan
            plan.ledger.mark_emitted(plan.source_id, plan.dispatch_key, self._unmarked)
            self._unmarked = []


def _worker_pool(work: _Work, workers: int) -> ProcessPoolExecutor:
    # spawn: a fresh interpreter per worker; forking a process that holds SQLite
    # connections (and maybe threads) is not safe. Templates compile again from
    # the message definition when it is unpickled (ChannelMessage.__setstate__).
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(work,),
    )


def run_dispatch(
    plan: DispatchPlan,
    candidates: Iterable[Candidate],
    *,
    sink: Sink | None,
    keep: tuple[list[Delivery], list[Skip]] | None,
    chunk_size: int | None = None,
    workers: int = 1,
) -> Summary:
    """Run every candidate through the pipeline; stream records to ``sink`` or ``keep``.

    Candidates must have distinct identities (the callers deduplicate). Per chunk:
    decide, store the decisions in the ledger, hand them to the sink (flushed),
    then mark them emitted (in the transaction that stores the next chunk's
    decisions; the last chunk on its own). A dispatch re-run with the same
    ``dispatch_key`` after a crash skips what was already emitted (counting it
    from the ledger) and redoes the rest, so nobody is sent twice and nobody is
    lost. For a :class:`JsonLinesSink` each delivery's line is encoded by the
    per-user stage (in the workers, if any).

    With ``workers`` above 1 and more than one chunk of candidates, worker
    processes do the per-user work (control group, reachability, trigger checks,
    timing, render, the delivery record) while this process reads candidates,
    applies audience filters, claims caps, writes the ledger and feeds the sink,
    chunk by chunk in the same order. The records are the same for any number of
    workers; at most ``2 * workers`` chunks are in flight, so memory stays flat.

    Raises:
        ValueError: ``workers`` or ``chunk_size`` is below 1.
    """
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if size < 1 or workers < 1:
        raise ValueError(f"chunk_size and workers must be at least 1, not {size} and {workers}")
    emitter = _Emitter(plan, sink, keep)
    chunks = _chunks(candidates, size)
    first = next(chunks, None)
    if first is None:
        return emitter.summary
    second = next(chunks, None)
    chunks = chain([first] if second is None else [first, second], chunks)
    work = _Work.of(plan, encode=emitter.lines is not None)
    try:
        if workers == 1 or second is None:
            for chunk in chunks:
                todo = emitter.todo(chunk)
                if todo:
                    screened = _screen(plan, todo)
                    emitter.emit(_settle(plan, screened, _decide_all(work, screened.items)))
        else:
            _run_in_workers(plan, work, emitter, chunks, workers)
    except BaseException:
        # The last chunk the sink took in full is still unmarked: mark it if the
        # ledger lets us (a failing ledger is the error already on its way up).
        with contextlib.suppress(Exception):
            emitter.finish()
        raise
    emitter.finish()
    return emitter.summary


def _run_in_workers(
    plan: DispatchPlan,
    work: _Work,
    emitter: _Emitter,
    chunks: Iterable[list[Candidate]],
    workers: int,
) -> None:
    in_flight: deque[tuple[_Chunk, Future[list[_Packed]]]] = deque()
    with _worker_pool(work, workers) as pool:
        # A worker takes a moment to start (a fresh interpreter importing tidings);
        # until one answers, this process decides the chunks itself.
        ready = pool.submit(_worker_ready)
        try:
            for chunk in chunks:
                todo = emitter.todo(chunk)
                if not todo:
                    continue
                screened = _screen(plan, todo)
                if not in_flight and not ready.done():
                    emitter.emit(_settle(plan, screened, _decide_all(work, screened.items)))
                    continue
                in_flight.append((screened, pool.submit(_decide_in_worker, screened.items)))
                if len(in_flight) >= 2 * workers:
                    screened, future = in_flight.popleft()
                    emitter.emit(_settle(plan, screened, _unpack(work, future.result())))
            while in_flight:
                screened, future = in_flight.popleft()
                emitter.emit(_settle(plan, screened, _unpack(work, future.result())))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
