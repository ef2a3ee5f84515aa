"""How a workspace answers the vendor's calls: raise a business event, trigger campaigns.

The :class:`~tidings.workspace.Workspace` entry points (``raise_business_event``,
``trigger_campaign``, ``trigger_campaigns``, ``message_via_identity``, ``upload``)
hand their body here. Each call: refuse a body that is not plain JSON-like data, replay the
saved answer of a request already answered under its idempotency key, parse and
check the body (the vendor's ``fail`` messages), build one
:class:`~tidings.dispatch.DispatchPlan` per campaign or bulletin (with its current
version) and dispatch it, save the answer, and send through the workspace's sender
if it has one. A paused or stopped campaign is refused with the vendor-style fail
body; a paused, stopped or unpublished bulletin is passed over and listed with why
(:mod:`tidings.lifecycle`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from . import _vendor
from ._definitions import validate_definition
from .campaigns import Bulletin, ExternalTriggerCampaign
from .dispatch import DispatchPlan, Kept, Recipient, dispatch_bulletin, dispatch_recipients
from .errors import ArgumentError, TidingsError
from .lifecycle import refusal_of, why_passed_over
from .models.dispatch_result import Dispatch
from .models.records import Sink, Summary
from .models.users import UserEvent, UserProfile
from .storage.base import Store
from .storage.ledger import Ledger

if TYPE_CHECKING:
    from .workspace import Workspace

__all__ = [
    "BulletinRunner",
    "CampaignRunner",
    "message_via_identity",
    "raise_business_event",
    "refuse",
    "trigger_campaign",
    "trigger_campaigns",
    "upload",
]


class BulletinRunner(Protocol):
    """Runs a bulletin's dispatch somewhere else (a Dask cluster: ``tidings.scale``).

    It writes the records where it was told to (not to the workspace's sink) and
    returns the dispatch's summary.
    """

    def dispatch_bulletin(self, plan: DispatchPlan, *, store: Store, ledger: Ledger) -> Summary:
        """Dispatch ``plan``'s audience from ``store``, claiming and recording in ``ledger``."""
        ...


class CampaignRunner(Protocol):
    """Runs a campaign call's dispatch somewhere else (a Dask cluster: ``tidings.scale``).

    Like :class:`BulletinRunner`: the records go where the runner was told, the
    summary comes back.
    """

    def dispatch_recipients(
        self, plan: DispatchPlan, recipients: list[Recipient], *, store: Store, ledger: Ledger
    ) -> Summary:
        """Dispatch ``plan`` to ``recipients`` (in the request's order, repeats included)."""
        ...


def refuse(body: object) -> Dispatch | None:
    """The ``fail`` answer for a body that is not plain, bounded JSON-like data, else None."""
    problem = _vendor.body_problem(body)
    return Dispatch.fail(problem) if problem is not None else None


_Parsed = TypeVar("_Parsed")


def _parse(
    body: object, parse: Callable[[object], _Parsed | _vendor.Refusal]
) -> _Parsed | Dispatch:
    """``parse(body)``; the ``fail`` answer for a body :func:`refuse` refuses or ``parse`` does."""
    refused = refuse(body)
    if refused is not None:
        return refused
    parsed = parse(body)
    return Dispatch.fail(parsed.error) if isinstance(parsed, _vendor.Refusal) else parsed


def _replay(ws: Workspace, key: str | None) -> Dispatch | None:
    """The saved response of a request already answered under ``key``, if any."""
    saved = ws.registry.saved_response(key) if key is not None else None
    return Dispatch(response=saved) if saved is not None else None


def _dispatch_time(ws: Workspace, scope: str, request_key: str | None) -> datetime:
    """Now, or, for a request re-run with the same idempotency key, its first start."""
    now = ws.clock()
    if not request_key:
        return now
    key = f"started:{scope}:{request_key}"
    saved = ws.registry.saved_response(key)
    if saved is None:
        ws.registry.save_response(key, {"at": now.isoformat()})
        saved = ws.registry.saved_response(key)
    assert saved is not None  # noqa: S101 - saved just above
    return datetime.fromisoformat(saved["at"])


def _route(ws: Workspace, result: Dispatch, sink: Sink | None) -> dict[str, Any]:
    """The dispatch's ``sink`` and ``keep`` arguments; with a sender, through the outbox."""
    keep: Kept | None = None if sink is not None else (result.kept_deliveries, result.kept_skips)
    if ws.sender is None:
        return {"sink": sink, "keep": keep}
    from .senders.drain import OutboxSink

    outbox = OutboxSink.around(ws.ledger, ws.sender, sink, keep, ws.clock)
    return {"sink": outbox, "keep": None}


# -- business events ---------------------------------------------------------------


def raise_business_event(
    ws: Workspace, body: object, sink: Sink | None, runner: BulletinRunner | None = None
) -> Dispatch:
    """See :meth:`tidings.Workspace.raise_business_event`."""
    refused = refuse(body)
    if refused is not None:
        return refused
    request_key = _vendor.request_key(body, strict=False)
    assert not isinstance(request_key, _vendor.Refusal)  # noqa: S101 - not strict
    response_key = f"business_event:{request_key}" if request_key else None
    if (replayed := _replay(ws, response_key)) is not None:
        return replayed
    now = _dispatch_time(ws, "business_event", request_key)
    request = _vendor.parse_business_event(body, ws.definitions.business_events, now)
    if isinstance(request, _vendor.Refusal):
        return Dispatch.fail(request.error)
    dispatch_key = request_key or uuid.uuid4().hex
    result = Dispatch(response={})
    states = ws.lifecycle.states("bulletin")
    for bulletin in sorted(ws.definitions.bulletins.values(), key=lambda b: b.id):
        if bulletin.business_event != request.definition.name:
            continue
        if (why := why_passed_over(bulletin, states)) is not None:
            result.not_dispatched[bulletin.id] = why
            continue
        plan = DispatchPlan.for_bulletin(
            bulletin,
            event_name=request.definition.name,
            properties=request.properties,
            raised_name=request.name,
            now=now,
            send_at=max(now, request.when),
            dispatch_key=dispatch_key,
            settings=ws.settings,
            custom_groups=ws.definitions.control_groups,
            version=ws.definitions.version_of("bulletin", bulletin.id),
        )
        if runner is not None:
            summary = runner.dispatch_bulletin(plan, store=ws.store, ledger=ws.ledger)
        else:
            summary = dispatch_bulletin(
                plan,
                store=ws.store,
                ledger=ws.ledger,
                **_route(ws, result, sink),
                workers=ws.workers,
            )
        result.summary.merge(summary)
        result.summaries[bulletin.id] = summary
        _log_activity(ws, request, bulletin, plan, summary)
    result.response = {"status": "success", "targets": len(result.summaries)}
    if response_key is not None:
        ws.registry.save_response(response_key, result.response)
    if ws.sender is not None:
        ws.send()
    return result


def _log_activity(
    ws: Workspace,
    request: _vendor.BusinessEventRequest,
    bulletin: Bulletin,
    plan: DispatchPlan,
    summary: Summary,
) -> None:
    """One activity-log entry per bulletin and dispatch (a resumed one is logged once)."""
    # Once per (dispatch, bulletin): a resumed dispatch was logged by its first run.
    ws.registry.log_activity(
        {
            "business_event": request.definition.name,
            "bulletin_id": bulletin.id,
            "bulletin": bulletin.name,
            "name": request.name,
            "event_time": request.when.isoformat(),
            "dispatched_at": plan.now.isoformat(),
            "sent": summary.sent,
            "qualified": summary.qualified,
            "creator": request.creator,
            "version": plan.version,
        },
        once=f"activity:{plan.dispatch_key}:{bulletin.id}",
    )


# -- Upload Profiles / Events -----------------------------------------------------------


def upload(ws: Workspace, body: object) -> dict[str, Any]:
    """See :meth:`tidings.Workspace.upload`."""
    records = _parse(body, _vendor.upload_records)
    if isinstance(records, Dispatch):
        return records.response
    now = ws.clock()
    profiles: dict[str, UserProfile] = {}
    events: list[UserEvent] = []
    unprocessed: list[dict[str, Any]] = []

    def existing(identity: str) -> UserProfile | None:
        return profiles.get(identity) or ws.store.get_profile(identity)

    for index, record in enumerate(records):
        parsed = _vendor.upload_profile_or_event(record, existing, now)
        try:
            if isinstance(parsed, _vendor.Refusal):
                raise ArgumentError(parsed.error)
            if "event" in parsed:
                events.append(UserEvent.model_validate(parsed["event"]))
            else:
                profile = UserProfile.model_validate(parsed["profile"])
                profiles[profile.identity] = profile
        except TidingsError as exc:
            unprocessed.append(
                {"status": "fail", "code": 400, "error": str(exc), "index": index, "record": record}
            )
    if profiles:
        ws.store.upsert_profiles(profiles.values())
    if events:
        ws.store.append_events(events)
    processed = len(records) - len(unprocessed)
    status = "success" if not unprocessed else "partial" if processed else "fail"
    return {"status": status, "processed": processed, "unprocessed": unprocessed}


# -- External Trigger campaigns --------------------------------------------------------


def _published(ws: Workspace, campaign_id: str) -> ExternalTriggerCampaign | str:
    """The published campaign to send, or the vendor's error (not found, paused, stopped)."""
    campaign = ws.definitions.campaigns.get(campaign_id)
    if campaign is None:
        return "Campaign Not Found"
    refusal = refusal_of(ws.lifecycle.state("campaign", campaign_id))
    return campaign if refusal is None else refusal


def trigger_campaign(
    ws: Workspace, body: object, sink: Sink | None, runner: CampaignRunner | None = None
) -> Dispatch:
    """See :meth:`tidings.Workspace.trigger_campaign`."""
    campaign_id = _parse(body, _vendor.campaign_id)
    if isinstance(campaign_id, Dispatch):
        return campaign_id
    campaign = _published(ws, campaign_id)
    if isinstance(campaign, str):
        return Dispatch.fail(campaign)
    assert isinstance(body, Mapping)  # noqa: S101 - campaign_id checked it
    return send_campaign(
        ws, campaign, body, sink, ws.definitions.version_of("campaign", campaign_id), runner
    )


def trigger_campaigns(ws: Workspace, body: object, sink: Sink | None) -> Dispatch:
    """See :meth:`tidings.Workspace.trigger_campaigns`."""
    calls = _parse(body, _vendor.parse_campaign_calls)
    if isinstance(calls, Dispatch):
        return calls
    request_key = _vendor.request_key(body, strict=True)
    response_key = f"campaigns:{request_key}" if isinstance(request_key, str) else None
    if (replayed := _replay(ws, response_key)) is not None:
        return replayed
    now = ws.clock()
    campaigns: list[ExternalTriggerCampaign] = []
    for call in calls:
        campaign = _published(ws, call.campaign_id)
        if isinstance(campaign, str):
            return Dispatch.fail(f"{call.where}: {campaign}")
        request = _vendor.parse_trigger(call.body)
        if isinstance(request, _vendor.Refusal):
            return Dispatch.fail(f"{call.where}: {request.error}")
        refusal = _vendor.check_trigger_request(campaign, request, now)
        if refusal is not None:
            return Dispatch.fail(f"{call.where}: {refusal.error}")
        campaigns.append(campaign)
    result = Dispatch(response={})
    answers: list[dict[str, Any]] = []
    for call, campaign in zip(calls, campaigns, strict=True):
        assert campaign.id is not None  # noqa: S101 - published campaigns have ids
        version = ws.definitions.version_of("campaign", campaign.id)
        part = send_campaign(ws, campaign, call.body, sink, version)
        if not part.ok:  # checked above; only a clock crossing the schedule's end
            answers.append(part.response)
            continue
        answers.append({k: v for k, v in part.response.items() if k != "status"})
        result.summary.merge(part.summary)
        for source_id, summary in part.summaries.items():
            result.summaries.setdefault(source_id, Summary()).merge(summary)
        result.kept_deliveries.extend(part.kept_deliveries)
        result.kept_skips.extend(part.kept_skips)
    result.response = {
        "status": "success",
        "processed": sum(int(a.get("processed", 0)) for a in answers),
        "sent": sum(int(a.get("sent", 0)) for a in answers),
        "skipped": sum(int(a.get("skipped", 0)) for a in answers),
        "campaigns": answers,
    }
    if response_key is not None:
        ws.registry.save_response(response_key, result.response)
    return result


def message_via_identity(ws: Workspace, body: object, sink: Sink | None) -> Dispatch:
    """See :meth:`tidings.Workspace.message_via_identity`."""
    definition = _parse(body, lambda b: _vendor.identity_message(b, lambda: uuid.uuid4().hex))
    if isinstance(definition, Dispatch):
        return definition
    try:
        campaign = validate_definition(ExternalTriggerCampaign, definition, "message")
        ws.definitions.check_control_group(campaign.control_group)
    except TidingsError as exc:
        return Dispatch.fail(str(exc))
    assert isinstance(body, Mapping)  # noqa: S101 - identity_message checked it
    return send_campaign(ws, campaign, body, sink, None)


def send_campaign(
    ws: Workspace,
    campaign: ExternalTriggerCampaign,
    body: Mapping[str, Any],
    sink: Sink | None,
    version: int | None,
    runner: CampaignRunner | None = None,
) -> Dispatch:
    """Send one campaign call (``version``: the campaign's, None for a Message via Identity)."""
    assert campaign.id is not None  # noqa: S101 - published campaigns have ids
    request_key = _vendor.request_key(body, strict=True)
    if isinstance(request_key, _vendor.Refusal):
        return Dispatch.fail(request_key.error)
    response_key = f"campaign:{campaign.id}:{request_key}" if request_key else None
    if (replayed := _replay(ws, response_key)) is not None:
        return replayed
    now = _dispatch_time(ws, f"campaign:{campaign.id}", request_key)
    request = _vendor.parse_trigger(body)
    if isinstance(request, _vendor.Refusal):
        return Dispatch.fail(request.error)
    refusal = _vendor.check_trigger_request(campaign, request, now)
    if refusal is not None:
        return Dispatch.fail(refusal.error)
    recipients = _vendor.resolve_recipients(request, ws.store.identities_for_emails)
    plan = DispatchPlan.for_campaign(
        campaign,
        shared_trigger=request.shared,
        now=now,
        dispatch_key=request_key or uuid.uuid4().hex,
        settings=ws.settings,
        custom_groups=ws.definitions.control_groups,
        version=version,
    )
    result = Dispatch(response={})
    if runner is not None:
        summary = runner.dispatch_recipients(
            plan, list(recipients), store=ws.store, ledger=ws.ledger
        )
    else:
        summary = dispatch_recipients(
            plan,
            recipients,
            store=ws.store,
            ledger=ws.ledger,
            **_route(ws, result, sink),
            workers=ws.workers,
        )
    result.summary = summary
    result.summaries[campaign.id] = summary
    result.response = {
        "status": "success",
        "campaign_id": campaign.id,
        "processed": summary.candidates,
        "sent": summary.sent,
        "skipped": summary.candidates - summary.sent,
    }
    if response_key is not None:
        ws.registry.save_response(response_key, result.response)
    if ws.sender is not None:
        ws.send()
    return result
