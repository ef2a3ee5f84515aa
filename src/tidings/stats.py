"""Monitoring: what happened to each campaign and bulletin, and did it work.

Everything is computed from the workspace's ledger (one outcome per candidate
per dispatch) and store (user events), so it works the same for an in-memory
workspace and for a SQLite file another process dispatched from.

Per campaign or bulletin (:class:`SourceStats`):

* **Counts**: candidates, qualified, sent, held out (control group), capped
  (targeting cap), filtered, and skips split into *technical* errors
  (:data:`~tidings.models.records.TECHNICAL_REASONS`: render errors, payloads
  over a size limit, invalid webhook bodies, missing trigger keys) and
  *non-technical* ones (no email, no push token, and any other per-user outcome
  such as an unsubscribed user, a frequency cap or a DND discard).
* **Engagement**: ``Notification Viewed`` / ``Notification Clicked`` user events
  (names configurable per workspace, :func:`configure_engagement`) recorded
  against deliveries with :func:`record_engagement`: their properties carry the
  delivery's ``idempotency_key`` and ``source_id``. ``viewed`` and ``clicked``
  count deliveries with at least one such event.
* **Conversion** (when the campaign, or the bulletin's business event, has a
  :class:`~tidings.models.definitions.Goal`): a user converted when they did the
  goal event within ``window_hours`` after their send time, or, for a held-out
  user, after the time they would have been sent. Rates are shares of distinct
  users: the *target* group is every user sent at least once, the *control*
  group every held-out user never sent. The uplift is the difference of the two
  rates with a 95% Newcombe (hybrid Wilson score) interval; see
  :func:`newcombe_interval`.

The business activity log is a query too: :func:`activity_log`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from .errors import DefinitionError
from .models.definitions import Goal
from .models.records import OUT_OF_AUDIENCE_REASONS, TECHNICAL_REASONS, Delivery
from .models.users import UserEvent

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "DEFAULT_CLICKED",
    "DEFAULT_VIEWED",
    "Conversion",
    "EngagementEvents",
    "ErrorCount",
    "Interval",
    "Rate",
    "SourceStats",
    "Uplift",
    "WorkspaceStats",
    "activity_log",
    "compute_stats",
    "configure_engagement",
    "engagement_event",
    "engagement_events",
    "goal_for",
    "newcombe_interval",
    "record_engagement",
    "source_stats",
    "wilson_interval",
]

DEFAULT_VIEWED: Final = "Notification Viewed"
"""The user event a messaging service reports when a notification was seen."""
DEFAULT_CLICKED: Final = "Notification Clicked"
"""The user event a messaging service reports when a notification was clicked."""

Z_95: Final = 1.959963984540054
"""The two-sided 95% quantile of the standard normal distribution."""

_OUT_OF_AUDIENCE: Final = OUT_OF_AUDIENCE_REASONS
_DEFINITION_KIND: Final = "monitoring"
_ENGAGEMENT_KEY: Final = "engagement_events"

SourceKind = Literal["campaign", "bulletin", "other"]


# -- intervals ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]`` (proportions or differences of them)."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (bounds included)."""
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"low": self.low, "high": self.high}


def wilson_interval(successes: int, total: int, *, z: float = Z_95) -> Interval | None:
    """The Wilson score interval of a proportion ``successes / total``.

    Unlike the Wald interval it stays inside ``[0, 1]`` and is not degenerate at
    0% or 100%. Returns None when ``total`` is 0 (no data, no interval).

    Raises:
        ValueError: ``successes`` is negative or above ``total``.
    """
    if total < 0 or not 0 <= successes <= max(total, 0):
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return None
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    successes_a: int, total_a: int, successes_b: int, total_b: int, *, z: float = Z_95
) -> Interval | None:
    """Newcombe's hybrid score interval for the difference ``p_a - p_b`` (his method 10).

    Built from the two Wilson intervals ``[l_a, u_a]`` and ``[l_b, u_b]``::

        low  = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)
        high = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)

    It keeps close to its nominal coverage for small groups and rates near 0 or
    1, where the Wald interval collapses (zero conversions in both groups give a
    Wald interval of width 0). Returns None when either group is empty.
    """
    wilson_a = wilson_interval(successes_a, total_a, z=z)
    wilson_b = wilson_interval(successes_b, total_b, z=z)
    if wilson_a is None or wilson_b is None:
        return None
    p_a, p_b = successes_a / total_a, successes_b / total_b
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - wilson_a.low) ** 2 + (wilson_b.high - p_b) ** 2)
    high = difference + math.sqrt((wilson_a.high - p_a) ** 2 + (p_b - wilson_b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rate:
    """A conversion rate of one group: ``converted`` of ``users``.

    ``rate`` and its 95% Wilson ``interval`` are None when the group is empty.
    """

    converted: int
    users: int

    @property
    def rate(self) -> float | None:
        """``converted / users``, or None for an empty group."""
        return self.converted / self.users if self.users else None

    @property
    def interval(self) -> Interval | None:
        """The 95% Wilson interval of the rate, or None for an empty group."""
        return wilson_interval(self.converted, self.users)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        interval = self.interval
        return {
            "converted": self.converted,
            "users": self.users,
            "rate": self.rate,
            "interval": interval.to_dict() if interval else None,
        }


@dataclass(frozen=True, slots=True)
class Uplift:
    """Target rate minus control rate, with its 95% Newcombe interval.

    Attributes:
        difference: ``target.rate - control.rate`` (None when a group is empty).
        interval: The 95% interval of the difference (None when a group is empty).
        relative: ``difference / control.rate`` (None when the control rate is 0 or unknown).
        method: How the interval was computed.
    """

    difference: float | None
    interval: Interval | None
    relative: float | None
    method: str = "newcombe-wilson"

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes zero (None when it is undefined)."""
        return None if self.interval is None else not self.interval.contains(0.0)

    @classmethod
    def between(cls, target: Rate, control: Rate) -> Uplift:
        """The uplift of ``target`` over ``control``."""
        interval = newcombe_interval(
            target.converted, target.users, control.converted, control.users
        )
        if target.rate is None or control.rate is None:
            return cls(difference=None, interval=None, relative=None)
        difference = target.rate - control.rate
        relative = difference / control.rate if control.rate > 0 else None
        return cls(difference=difference, interval=interval, relative=relative)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "difference": self.difference,
            "interval": self.interval.to_dict() if self.interval else None,
            "relative": self.relative,
            "significant": self.significant,
            "method": self.method,
        }


@dataclass(frozen=True, slots=True)
class Conversion:
    """Conversions to a goal event: the target group, the control group, the uplift."""

    goal_event: str
    window_hours: int
    target: Rate
    control: Rate

    @property
    def uplift(self) -> Uplift:
        """Target rate minus control rate, with its 95% interval."""
        return Uplift.between(self.target, self.control)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "goal_event": self.goal_event,
            "window_hours": self.window_hours,
            "target": self.target.to_dict(),
            "control": self.control.to_dict(),
            "uplift": self.uplift.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """How many candidates one skip reason left without a message."""

    reason: str
    count: int
    technical: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"reason": self.reason, "count": self.count, "technical": self.technical}


@dataclass(frozen=True)
class SourceStats:
    """The numbers of one campaign or bulletin, over every dispatch the ledger holds.

    Counts are outcome records (one per candidate per dispatch), like
    :class:`~tidings.models.records.Summary`; ``viewed`` and ``clicked`` count
    deliveries; conversion counts distinct users. ``pending`` counts deliveries
    decided but not confirmed as handed to the sink (a crashed dispatch not yet
    resumed); they are qualified but not sent.
    """

    kind: SourceKind
    source_id: str
    name: str
    dispatches: int = 0
    candidates: int = 0
    qualified: int = 0
    sent: int = 0
    held_out: int = 0
    capped: int = 0
    filtered: int = 0
    pending: int = 0
    technical_errors: int = 0
    non_technical_errors: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)
    viewed: int = 0
    clicked: int = 0
    conversion: Conversion | None = None

    @property
    def errors(self) -> list[ErrorCount]:
        """Skips of qualified users that are errors (not hold-outs or caps), most first."""
        rows = [
            ErrorCount(reason, count, reason in TECHNICAL_REASONS)
            for reason, count in self.skipped.items()
            if _is_error(reason)
        ]
        return sorted(rows, key=lambda e: (not e.technical, -e.count, e.reason))

    @property
    def converted(self) -> int | None:
        """Target users who converted (None without a goal)."""
        return None if self.conversion is None else self.conversion.target.converted

    @property
    def funnel(self) -> list[tuple[str, int | None]]:
        """``(stage, count)`` from qualified to converted; converted is None without a goal."""
        return [
            ("qualified", self.qualified),
            ("sent", self.sent),
            ("viewed", self.viewed),
            ("clicked", self.clicked),
            ("converted", self.converted),
        ]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "name": self.name,
            "dispatches": self.dispatches,
            "candidates": self.candidates,
            "qualified": self.qualified,
            "sent": self.sent,
            "held_out": self.held_out,
            "capped": self.capped,
            "filtered": self.filtered,
            "pending": self.pending,
            "errors": {
                "technical": self.technical_errors,
                "non_technical": self.non_technical_errors,
                "by_reason": [e.to_dict() for e in self.errors],
            },
            "skipped": dict(sorted(self.skipped.items())),
            "viewed": self.viewed,
            "clicked": self.clicked,
            "conversion": self.conversion.to_dict() if self.conversion else None,
        }


@dataclass(frozen=True)
class WorkspaceStats:
    """Every source's numbers and the business activity log, as of ``generated_at``."""

    sources: tuple[SourceStats, ...]
    activity: tuple[dict[str, Any], ...]
    engagement: EngagementEvents
    generated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``tidings stats --format json`` prints)."""
        return {
            "generated_at": self.generated_at.isoformat(),
            "engagement_events": self.engagement.to_dict(),
            "sources": [s.to_dict() for s in self.sources],
            "activity": [dict(a) for a in self.activity],
        }


def _is_error(reason: str) -> bool:
    return reason not in _OUT_OF_AUDIENCE and reason not in ("control_group", "targeting_cap")


# -- engagement ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngagementEvents:
    """The user event names that mean "viewed" and "clicked" in this workspace."""

    viewed: str = DEFAULT_VIEWED
    clicked: str = DEFAULT_CLICKED

    def resolve(self, event: str) -> str:
        """``"viewed"``/``"clicked"`` to the configured name; any other name as it is."""
        return {"viewed": self.viewed, "clicked": self.clicked}.get(event, event)

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"viewed": self.viewed, "clicked": self.clicked}


def configure_engagement(
    ws: Workspace, *, viewed: str = DEFAULT_VIEWED, clicked: str = DEFAULT_CLICKED
) -> EngagementEvents:
    """Name the user events the messaging service reports back; stored in the registry.

    Raises:
        DefinitionError: a name is empty or the two names are the same.
    """
    if not viewed or not clicked:
        raise DefinitionError("engagement event names must not be empty", field="engagement")
    if viewed == clicked:
        raise DefinitionError(
            f"viewed and clicked must be different events, both are {viewed!r}",
            field="engagement",
        )
    names = EngagementEvents(viewed=viewed, clicked=clicked)
    ws.registry.save_definition(_DEFINITION_KIND, _ENGAGEMENT_KEY, names.to_dict())
    return names


def engagement_events(ws: Workspace) -> EngagementEvents:
    """The engagement event names configured for ``ws`` (the defaults when none are)."""
    stored = ws.registry.definitions(_DEFINITION_KIND).get(_ENGAGEMENT_KEY)
    if not stored:
        return EngagementEvents()
    return EngagementEvents(
        viewed=str(stored.get("viewed") or DEFAULT_VIEWED),
        clicked=str(stored.get("clicked") or DEFAULT_CLICKED),
    )


def _delivery_fields(delivery: Delivery | Mapping[str, Any]) -> tuple[str, str, str]:
    if isinstance(delivery, Delivery):
        return delivery.identity, delivery.source_id, delivery.idempotency_key
    try:
        identity = delivery["identity"]
        source_id = delivery["source_id"]
        key = delivery["idempotency_key"]
    except KeyError as exc:
        raise DefinitionError(
            f"a delivery needs identity, source_id and idempotency_key; {exc.args[0]} is missing",
            field=str(exc.args[0]),
        ) from None
    if not all(isinstance(v, str) and v for v in (identity, source_id, key)):
        raise DefinitionError(
            "identity, source_id and idempotency_key must be non-empty strings (a skip has "
            "no idempotency key: only deliveries are engaged with)",
            field="idempotency_key",
        )
    return identity, source_id, key


def engagement_event(delivery: Delivery | Mapping[str, Any], name: str, at: datetime) -> UserEvent:
    """The user event ``name`` recorded against ``delivery`` at ``at`` (not stored).

    ``delivery`` is a :class:`~tidings.models.records.Delivery`, or a mapping
    with ``identity``, ``source_id`` and ``idempotency_key`` (a line of the
    deliveries JSON Lines file, or a ledger outcome of a sent message).

    Raises:
        DefinitionError: the delivery lacks one of those keys.
    """
    identity, source_id, key = _delivery_fields(delivery)
    return UserEvent(
        identity=identity,
        name=name,
        properties={"idempotency_key": key, "source_id": source_id},
        timestamp=at,
    )


def record_engagement(
    ws: Workspace,
    delivery: Delivery | Mapping[str, Any],
    event: str = "viewed",
    *,
    at: datetime | None = None,
) -> UserEvent:
    """Record that a user viewed or clicked a delivery (or did any event because of it).

    Args:
        ws: The workspace.
        delivery: The delivery (see :func:`engagement_event` for accepted shapes).
        event: ``"viewed"``, ``"clicked"`` (the workspace's configured names) or any
            other event name, recorded as it is.
        at: When it happened (default: the workspace clock).

    Returns:
        The stored user event.
    """
    name = engagement_events(ws).resolve(event)
    recorded = engagement_event(delivery, name, at if at is not None else ws.clock())
    ws.store.append_events([recorded])
    return recorded


# -- the activity log --------------------------------------------------------------------


def _bound(value: datetime | date | None, *, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = datetime.combine(value, time.min, tzinfo=UTC)
    # A date as an upper bound means "until the end of that day".
    return moment + timedelta(days=1) if end else moment


def activity_log(
    ws: Workspace,
    *,
    business_event: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> list[dict[str, Any]]:
    """Dispatched bulletins, newest first, optionally of one business event and time range.

    Each entry has ``business_event``, ``bulletin_id``, ``bulletin``, ``name`` (the
    raised event's name), ``event_time``, ``dispatched_at``, ``sent``, ``qualified``
    and ``creator``. ``since`` and ``until`` bound the event time: ``since``
    inclusive, ``until`` exclusive for a datetime and inclusive of the whole day
    for a date. Naive datetimes are taken as UTC.
    """
    start, stop = _bound(since, end=False), _bound(until, end=True)
    rows = []
    for entry in ws.registry.activity():
        if business_event is not None and entry.get("business_event") != business_event:
            continue
        if start is not None or stop is not None:
            moment = _parse_time(entry.get("event_time"))
            if moment is None:
                continue
            if (start is not None and moment < start) or (stop is not None and moment >= stop):
                continue
        rows.append(dict(entry))
    return rows


# -- computing -----------------------------------------------------------------------------


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class _User:
    """One user's exposures to a source: send times, hold-out times, delivery keys."""

    sends: list[datetime] = field(default_factory=list)
    holds: list[datetime] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def goal_for(ws: Workspace, source_id: str, kind: SourceKind | None = None) -> Goal | None:
    """The goal of a campaign, or of a bulletin's business event; None when it has none."""
    if kind is None:
        kind = _kind_of(ws, source_id)
    if kind == "campaign":
        campaign = ws.campaigns.get(source_id)
        return campaign.goal if campaign is not None else None
    if kind == "bulletin":
        bulletin = ws.bulletins.get(source_id)
        if bulletin is None:
            return None
        event = ws.registry.definitions("business_event").get(bulletin.business_event) or {}
        goal = event.get("goal")
        return Goal.model_validate(goal) if goal else None
    return None


def _kind_of(ws: Workspace, source_id: str) -> SourceKind:
    if source_id in ws.campaigns:
        return "campaign"
    if source_id in ws.bulletins:
        return "bulletin"
    return "other"


def _sources(ws: Workspace) -> list[tuple[SourceKind, str, str]]:
    found: list[tuple[SourceKind, str, str]] = []
    for campaign_id, campaign in sorted(ws.campaigns.items(), key=lambda kv: _sort_key(kv[0])):
        found.append(("campaign", campaign_id, campaign.name))
    for bulletin_id, bulletin in sorted(ws.bulletins.items()):
        found.append(("bulletin", bulletin_id, bulletin.name))
    known = {source_id for _, source_id, _ in found}
    found.extend(("other", s, s) for s in ws.ledger.sources() if s not in known)
    return found


def _sort_key(source_id: str) -> tuple[int, str]:
    # Campaign ids are sequence numbers: "10" after "9".
    return (int(source_id), "") if source_id.isdigit() else (1 << 62, source_id)


def source_stats(
    ws: Workspace,
    source_id: str,
    *,
    kind: SourceKind | None = None,
    name: str | None = None,
    engagement: EngagementEvents | None = None,
) -> SourceStats:
    """The numbers of one campaign or bulletin (see the module docstring).

    ``kind`` and ``name`` default to what the workspace registers under
    ``source_id`` (a campaign first, then a bulletin, else ``"other"``).
    """
    if kind is None:
        kind = _kind_of(ws, source_id)
    if name is None:
        registered = ws.campaigns.get(source_id) or ws.bulletins.get(source_id)
        name = registered.name if registered is not None else source_id
    names = engagement if engagement is not None else engagement_events(ws)
    goal = goal_for(ws, source_id, kind)

    skipped: dict[str, int] = {}
    dispatches: set[str] = set()
    users: dict[str, _User] = {}
    key_owner: dict[str, str] = {}
    candidates = sent = pending = 0
    for row in ws.ledger.outcomes(source_id):
        candidates += 1
        dispatches.add(str(row.get("dispatch_key")))
        identity = str(row["identity"])
        state = row.get("state")
        if state == "pending":
            # Decided but never confirmed handed to the sink (a crashed run not yet
            # resumed): not sent.
            pending += 1
            continue
        if state == "sent":
            sent += 1
            user = users.setdefault(identity, _User())
            moment = _parse_time(row.get("send_at")) or _parse_time(row.get("decided_at"))
            if moment is not None:
                user.sends.append(moment)
            key = row.get("idempotency_key")
            if isinstance(key, str) and key:
                user.keys.append(key)
                key_owner[key] = identity
            continue
        reason = str(row.get("reason"))
        skipped[reason] = skipped.get(reason, 0) + 1
        if reason == "control_group":
            moment = _parse_time(row.get("decided_at"))
            if moment is not None:
                users.setdefault(identity, _User()).holds.append(moment)

    viewed_keys: set[str] = set()
    clicked_keys: set[str] = set()
    target = control = target_converted = control_converted = 0
    window = timedelta(hours=goal.window_hours) if goal is not None else None
    wanted = {names.viewed, names.clicked} | ({goal.event} if goal is not None else set())
    for identity, user in users.items():
        exposures = user.sends or user.holds
        if not exposures:
            continue
        is_target = bool(user.sends)
        if goal is None and not is_target:
            continue
        events = [
            e for e in ws.store.events_for(identity, since=min(exposures)) if e.name in wanted
        ]
        if is_target:
            _match_engagement(events, user, source_id, names, key_owner, viewed_keys, clicked_keys)
        if goal is None or window is None:
            continue
        converted = any(
            e.name == goal.event and t <= e.timestamp <= t + window
            for e in events
            for t in exposures
        )
        if is_target:
            target += 1
            target_converted += converted
        else:
            control += 1
            control_converted += converted

    conversion = (
        Conversion(
            goal_event=goal.event,
            window_hours=goal.window_hours,
            target=Rate(target_converted, target),
            control=Rate(control_converted, control),
        )
        if goal is not None
        else None
    )
    qualified = candidates - sum(skipped.get(r, 0) for r in _OUT_OF_AUDIENCE)
    return SourceStats(
        kind=kind,
        source_id=source_id,
        name=name,
        dispatches=len(dispatches),
        candidates=candidates,
        qualified=qualified,
        sent=sent,
        held_out=skipped.get("control_group", 0),
        capped=skipped.get("targeting_cap", 0),
        filtered=skipped.get("filtered_out", 0),
        pending=pending,
        technical_errors=sum(c for r, c in skipped.items() if r in TECHNICAL_REASONS),
        non_technical_errors=sum(
            c for r, c in skipped.items() if _is_error(r) and r not in TECHNICAL_REASONS
        ),
        skipped=dict(sorted(skipped.items())),
        viewed=len(viewed_keys),
        clicked=len(clicked_keys),
        conversion=conversion,
    )


def _match_engagement(
    events: Iterable[UserEvent],
    user: _User,
    source_id: str,
    names: EngagementEvents,
    key_owner: Mapping[str, str],
    viewed_keys: set[str],
    clicked_keys: set[str],
) -> None:
    """Attribute a user's viewed/clicked events to their deliveries of this source.

    An event names its delivery by ``idempotency_key``; one that only names the
    ``source_id`` counts for the user's first delivery of the source.
    """
    for event in events:
        if event.name == names.viewed:
            target = viewed_keys
        elif event.name == names.clicked:
            target = clicked_keys
        else:
            continue
        key = event.properties.get("idempotency_key")
        if isinstance(key, str) and key in key_owner:
            if key_owner[key] == event.identity:
                target.add(key)
        elif key is None and event.properties.get("source_id") == source_id and user.keys:
            target.add(user.keys[0])


def compute_stats(
    ws: Workspace,
    *,
    sources: Sequence[str] | None = None,
    business_event: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
) -> WorkspaceStats:
    """Numbers for every campaign and bulletin (or the given ``sources``), and the activity log.

    ``business_event``, ``since`` and ``until`` filter the activity log (see
    :func:`activity_log`).
    """
    names = engagement_events(ws)
    listed = _sources(ws)
    if sources is not None:
        wanted = list(dict.fromkeys(sources))
        by_id = {source_id: (kind, source_id, name) for kind, source_id, name in listed}
        listed = [by_id.get(s, ("other", s, s)) for s in wanted]
    return WorkspaceStats(
        sources=tuple(
            source_stats(ws, source_id, kind=kind, name=name, engagement=names)
            for kind, source_id, name in listed
        ),
        activity=tuple(activity_log(ws, business_event=business_event, since=since, until=until)),
        engagement=names,
        generated_at=ws.clock(),
    )
