"""The numbers of each campaign and bulletin: queries through the ledger, registry and store.

Counts come from the ledger's outcomes (:meth:`tidings.storage.Ledger.outcomes`),
counted by :class:`~tidings.models.records.Summary`, the same rule as a dispatch's
summary; engagement and conversions from the store's user events
(:meth:`tidings.storage.Store.events_for`); goals and names from the workspace's
definitions. The statistics themselves are pure (:mod:`tidings.stats.intervals`), the answers
plain values (:mod:`tidings.stats.results`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from ..dispatch.commit import dispatch_of
from ..models.definitions import Goal
from ..models.evaluation import condition_holds
from ..models.records import Summary
from ..models.users import UserEvent
from .activity import activity_log, parse_time
from .engagement import EngagementEvents, engagement_events
from .intervals import Conversion, Rate
from .results import SourceKind, SourceStats, WorkspaceStats

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["compute_stats", "goal_for", "source_stats"]


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


class _Listed(NamedTuple):
    """A source as the stats list it: what it is, its id, its name."""

    kind: SourceKind
    source_id: str
    name: str


def _sources(ws: Workspace) -> list[_Listed]:
    found: list[_Listed] = []
    for campaign_id, campaign in sorted(ws.campaigns.items(), key=lambda kv: _sort_key(kv[0])):
        found.append(_Listed("campaign", campaign_id, campaign.name))
    for bulletin_id, bulletin in sorted(ws.bulletins.items()):
        found.append(_Listed("bulletin", bulletin_id, bulletin.name))
    known = {listed.source_id for listed in found}
    found.extend(_Listed("other", s, s) for s in ws.ledger.sources() if s not in known)
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

    counts = Summary()
    dispatches: set[str] = set()
    users: dict[str, _User] = {}
    key_owner: dict[str, str] = {}
    for row in ws.ledger.outcomes(source_id):
        state, reason = str(row.get("state")), row.get("reason")
        counts.add_outcome(state, reason)
        dispatches.add(dispatch_of(str(row.get("dispatch_key"))))
        identity = str(row["identity"])
        if state == "sent":
            user = users.setdefault(identity, _User())
            moment = parse_time(row.get("send_at")) or parse_time(row.get("decided_at"))
            if moment is not None:
                user.sends.append(moment)
            key = row.get("idempotency_key")
            if isinstance(key, str) and key:
                user.keys.append(key)
                key_owner[key] = identity
        elif state == "skipped" and reason == "control_group":
            moment = parse_time(row.get("decided_at"))
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
            e.name == goal.event
            and t <= e.timestamp <= t + window
            and all(condition_holds(c, e.properties) for c in goal.where)
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
            goal_where=tuple(c.model_dump(mode="json") for c in goal.where),
            window_hours=goal.window_hours,
            target=Rate(target_converted, target),
            control=Rate(control_converted, control),
        )
        if goal is not None
        else None
    )
    outbox = ws.ledger.delivery_counts(source_id)
    return SourceStats(
        kind=kind,
        source_id=source_id,
        name=name,
        dispatches=len(dispatches),
        counts=counts,
        viewed=len(viewed_keys),
        clicked=len(clicked_keys),
        conversion=conversion,
        delivered=outbox.get("delivered", 0),
        failed=outbox.get("failed", 0),
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
        by_id = {entry.source_id: entry for entry in listed}
        listed = [by_id.get(s, _Listed("other", s, s)) for s in wanted]
    return WorkspaceStats(
        sources=tuple(
            source_stats(ws, e.source_id, kind=e.kind, name=e.name, engagement=names)
            for e in listed
        ),
        activity=tuple(activity_log(ws, business_event=business_event, since=since, until=until)),
        engagement=names,
        generated_at=ws.clock(),
    )
