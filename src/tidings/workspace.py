"""The workspace: definitions, store, ledger and clock, and the vendor-compatible entry points.

``Workspace()`` keeps everything in memory; ``Workspace.sqlite(path)`` keeps
profiles, events, definitions and the ledger in one SQLite file, so another
process (``tidings dispatch``) can pick them up.

Request-level problems (unknown campaign, malformed body) come back as a
``Dispatch`` whose ``response`` is ``{"status": "fail", "error": ..., "code": 400}``
with the vendor's documented messages; per-user problems are ``Skip`` records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import _vendor
from ._definitions import Definitions, validate_definition
from .dispatch import DispatchPlan, Kept, dispatch_bulletin, dispatch_recipients
from .errors import ArgumentError, TidingsError
from .lifecycle import DefinitionVersion, Lifecycle, LifecycleState, refusal_of, why_passed_over
from .models.definitions import (
    Bulletin,
    BusinessEventDefinition,
    CustomControlGroup,
    ExternalTriggerCampaign,
    WorkspaceSettings,
)
from .models.records import Dispatch, Sink, Summary
from .models.users import UserEvent, UserProfile, events_from, profiles_from
from .storage.base import Store
from .storage.ledger import Ledger, MemoryLedger
from .storage.registry import MemoryRegistry, Registry, SQLiteRegistry
from .storage.sqlite_ledger import SQLiteLedger

if TYPE_CHECKING:
    from .senders import DrainReport, Sender

__all__ = ["BulletinRunner", "Clock", "Workspace"]

Clock = Callable[[], datetime]


class BulletinRunner(Protocol):
    """Runs a bulletin's dispatch somewhere else (a Dask cluster: ``tidings.scale``).

    It writes the records where it was told to (not to the workspace's sink) and
    returns the dispatch's summary.
    """

    def dispatch_bulletin(self, plan: DispatchPlan, *, store: Store, ledger: Ledger) -> Summary:
        """Dispatch ``plan``'s audience from ``store``, claiming and recording in ``ledger``."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Workspace:
    """Definitions registry + store + ledger + clock; the library's main entry point.

    Args:
        store: Where profiles and events live (default: in memory).
        ledger: Where decisions and counters live (default: in memory).
        registry: Where definitions, saved responses and the activity log live
            (default: beside an :class:`~tidings.storage.SQLiteLedger`, in the
            same file; otherwise in memory).
        clock: Returns the current time (timezone-aware); inject a fixed one in tests.
        workers: Processes that render a large dispatch (more than one chunk of
            1,000 candidates); 1 renders in this process. The records are the
            same for any number (see :func:`tidings.dispatch.run_dispatch`).
        sender: Sends deliveries during dispatch (:mod:`tidings.senders`): each
            dispatch queues its deliveries of the sender's channels in the ledger's
            outbox, records still reaching the sink or the result, and calls
            :meth:`send` before returning.

    Raises:
        ArgumentError: ``workers`` is below 1 (a ``ValueError`` too).
    """

    def __init__(
        self,
        store: Store | None = None,
        ledger: Ledger | None = None,
        registry: Registry | None = None,
        *,
        clock: Clock | None = None,
        workers: int = 1,
        sender: Sender | None = None,
    ) -> None:
        given: object = workers  # callers without type checking pass anything
        if not isinstance(given, int) or isinstance(given, bool) or given < 1:
            raise ArgumentError(f"workers must be at least 1, not {workers!r}", field="workers")
        self.workers = workers
        if store is None:
            from .storage.memory import MemoryStore

            store = MemoryStore()
        self.store: Store = store
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        if registry is None:
            registry = (
                SQLiteRegistry(self.ledger.path)
                if isinstance(self.ledger, SQLiteLedger)
                else MemoryRegistry()
            )
        self.registry: Registry = registry
        self.clock: Clock = clock or _utc_now
        self.sender = sender
        self.last_send: DrainReport | None = None
        self.definitions = Definitions(registry, clock=lambda: self.clock())

    @classmethod
    def sqlite(
        cls,
        path: str | Path,
        *,
        clock: Clock | None = None,
        workers: int = 1,
        sender: Sender | None = None,
    ) -> Workspace:
        """A durable workspace in one SQLite file (created if missing); arguments as ``__init__``.

        Raises:
            ArgumentError: ``path`` cannot be opened as a tidings database (a
                directory, a file that is not SQLite, a missing folder).
        """
        import sqlite3

        from .storage.sqlite import SQLiteStore

        store: SQLiteStore | None = None
        try:
            store = SQLiteStore(path)
            return cls(
                store,
                SQLiteLedger(path),
                SQLiteRegistry(path),
                clock=clock,
                workers=workers,
                sender=sender,
            )
        except (sqlite3.DatabaseError, OSError) as exc:
            if store is not None:
                store.close()
            raise ArgumentError(
                f"cannot open {str(path)!r} as a tidings database: {exc}", field="path"
            ) from exc

    @classmethod
    def postgres(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        workers: int = 1,
    ) -> Workspace:
        """A workspace in a PostgreSQL database, shared by many processes and machines.

        Needs the ``postgres`` extra (``pip install 'tidings[postgres]'``, psycopg 3)
        and a schema created by ``tidings migrate --db <dsn>``: ``schema``, else the
        DSN's ``tidings.schema`` setting (``?options=-c%20tidings.schema%3DNAME``),
        else ``tidings``. Store, ledger and registry share one set of connections.

        Raises:
            ArgumentError: the database cannot be reached, or its schema is missing
                or at another version (the message says to run ``tidings migrate``).
        """
        from .storage.postgres import open_postgres

        store, ledger, registry = open_postgres(dsn, schema=schema)
        try:
            return cls(store, ledger, registry, clock=clock, workers=workers)
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store, the ledger and the registry."""
        self.store.close()
        self.ledger.close()
        self.registry.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions ---------------------------------------------------------------

    def _dispatch_time(self, scope: str, request_key: str | None) -> datetime:
        """Now, or, for a request re-run with the same idempotency key, its first start."""
        now = self.clock()
        if not request_key:
            return now
        key = f"started:{scope}:{request_key}"
        saved = self.registry.saved_response(key)
        if saved is None:
            self.registry.save_response(key, {"at": now.isoformat()})
            saved = self.registry.saved_response(key)
        assert saved is not None  # noqa: S101 - saved just above
        return datetime.fromisoformat(saved["at"])

    @property
    def settings(self) -> WorkspaceSettings:
        """The workspace-wide delivery settings (default time zone, frequency caps)."""
        return self.definitions.settings

    def configure(self, settings: WorkspaceSettings | Mapping[str, Any]) -> WorkspaceSettings:
        """Set the workspace-wide delivery settings (default time zone, frequency caps)."""
        return self.definitions.configure(settings)

    def define_business_event(
        self, definition: BusinessEventDefinition | Mapping[str, Any]
    ) -> BusinessEventDefinition:
        """Define a business event. Defining it again with other properties is an error."""
        return self.definitions.define_business_event(definition)

    def define_control_group(
        self, group: CustomControlGroup | Mapping[str, Any]
    ) -> CustomControlGroup:
        """Define (or replace) a workspace-wide custom control group."""
        return self.definitions.define_control_group(group)

    def publish_bulletin(self, bulletin: Bulletin | Mapping[str, Any]) -> Bulletin:
        """Validate and register a bulletin (only ``published=True`` ones fire)."""
        return self.definitions.publish_bulletin(bulletin)

    def publish_campaign(self, campaign: ExternalTriggerCampaign | Mapping[str, Any]) -> str:
        """Validate and register an External Trigger campaign; return its id.

        Accepts the model, its dict form, or a Create Campaign API body
        (``channel`` + ``content`` + ``audience``). Templates must compile, a
        targeting cap below 100 is rejected, the schedule's end must follow its start.
        """
        return self.definitions.publish_campaign(campaign)

    @property
    def campaigns(self) -> Mapping[str, ExternalTriggerCampaign]:
        """Published campaigns by id."""
        return dict(self.definitions.campaigns)

    @property
    def bulletins(self) -> Mapping[str, Bulletin]:
        """Registered bulletins by id."""
        return dict(self.definitions.bulletins)

    @property
    def lifecycle(self) -> Lifecycle:
        """Versions and states of the campaigns and bulletins (:mod:`tidings.lifecycle`)."""
        return self.definitions.lifecycle

    def versions(self, kind: str, id: str) -> list[DefinitionVersion]:
        """Every published version of a ``campaign`` or ``bulletin``, oldest first."""
        return self.lifecycle.versions(kind, id)

    def pause(self, kind: str, id: str) -> LifecycleState:
        """Pause a ``campaign`` or ``bulletin`` until :meth:`resume` (:mod:`tidings.lifecycle`)."""
        return self.lifecycle.pause(kind, id)

    def resume(self, kind: str, id: str) -> LifecycleState:
        """Make a paused ``campaign`` or ``bulletin`` active again."""
        return self.lifecycle.resume(kind, id)

    def stop(self, kind: str, id: str) -> LifecycleState:
        """Stop a ``campaign`` or ``bulletin`` for good (triggers answer ``Campaign Stopped``)."""
        return self.lifecycle.stop(kind, id)

    # -- data ----------------------------------------------------------------------

    def upsert_profiles(self, profiles: Iterable[UserProfile | Mapping[str, Any]]) -> int:
        """Insert or replace profiles (models or dicts); return the count.

        Raises:
            ProfileError: A profile is invalid (``index`` and ``field`` say where).
            ArgumentError: ``profiles`` is not an iterable of profiles.
        """
        return self.store.upsert_profiles(profiles_from(profiles))

    def record_events(self, events: Iterable[UserEvent | Mapping[str, Any]]) -> int:
        """Append user events (models or dicts); return the count.

        Raises:
            EventError: An event is invalid (``index`` and ``field`` say where).
            ArgumentError: ``events`` is not an iterable of events.
        """
        return self.store.append_events(events_from(events))

    def upload(self, body: object) -> dict[str, Any]:
        """Upload profiles and events in the vendor's shape (``{"d": [record, ...]}``).

        Records are ``{"identity", "type": "profile", "profileData": {...}}`` (merged
        into the stored profile: ``Name``, ``Email``, ``Timezone`` set its fields,
        every other key a property) and ``{"identity", "type": "event", "evtName",
        "evtData", "ts"}``; at most 1,000 per call. A bad record does not stop the
        others: the answer is ``{"status": "success" | "partial", "processed": N,
        "unprocessed": [{"status": "fail", "code": 400, "error", "index", "record"}]}``
        ("fail" when none was processed), or the request's own fail body.
        """
        refused = _refuse(body)
        if refused is not None:
            return refused.response
        records = _vendor.upload_records(body)
        if isinstance(records, _vendor.Refusal):
            return Dispatch.fail(records.error).response
        now = self.clock()
        profiles: dict[str, UserProfile] = {}
        events: list[UserEvent] = []
        unprocessed: list[dict[str, Any]] = []

        def existing(identity: str) -> UserProfile | None:
            return profiles.get(identity) or self.store.get_profile(identity)

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
                    {
                        "status": "fail",
                        "code": 400,
                        "error": str(exc),
                        "index": index,
                        "record": record,
                    }
                )
        if profiles:
            self.store.upsert_profiles(profiles.values())
        if events:
            self.store.append_events(events)
        processed = len(records) - len(unprocessed)
        status = "success" if not unprocessed else "partial" if processed else "fail"
        return {"status": status, "processed": processed, "unprocessed": unprocessed}

    def activity_log(self) -> list[dict[str, Any]]:
        """Dispatched bulletins, newest first: business event, bulletin, time, sent, creator."""
        return self.registry.activity()

    # -- business events -----------------------------------------------------------

    def _replay(self, key: str | None) -> Dispatch | None:
        """The saved response of a request already answered under ``key``, if any."""
        saved = self.registry.saved_response(key) if key is not None else None
        return Dispatch(response=saved) if saved is not None else None

    def _keep(self, result: Dispatch, sink: Sink | None) -> Kept | None:
        return None if sink is not None else (result.kept_deliveries, result.kept_skips)

    def _route(self, result: Dispatch, sink: Sink | None) -> dict[str, Any]:
        """The dispatch's ``sink`` and ``keep`` arguments; with a sender, through the outbox."""
        keep = self._keep(result, sink)
        if self.sender is None:
            return {"sink": sink, "keep": keep}
        from .senders.drain import OutboxSink

        outbox = OutboxSink.around(self.ledger, self.sender, sink, keep, self.clock)
        return {"sink": outbox, "keep": None}

    def send(self, sender: Sender | None = None) -> DrainReport:
        """Send the ledger's due deliveries with ``sender`` or the workspace's (``drain``).

        Returns what it did (also on :attr:`last_send`). Raises ``ArgumentError``
        when there is no sender.
        """
        from .senders import drain

        chosen = sender or self.sender
        if chosen is None:
            raise ArgumentError("no sender: pass one, or Workspace(sender=...)", field="sender")
        self.last_send = drain(self.ledger, chosen, clock=self.clock)
        return self.last_send

    def raise_business_event(
        self, body: object, *, sink: Sink | None = None, runner: BulletinRunner | None = None
    ) -> Dispatch:
        """Raise a business event (Bulletins API body); dispatch every published bulletin.

        The response is ``{"status": "success", "targets": N}`` (N bulletins
        dispatched) or the vendor's ``fail`` shape. Bulletins of the event that are
        unpublished, paused or stopped are passed over (``targets`` may be 0), each
        listed with why on the result's ``not_dispatched``. Records stream to
        ``sink`` when given, else they are kept on the returned ``Dispatch``; with a
        ``runner`` (:class:`tidings.scale.DaskDispatcher`) they go where the runner
        writes them, and only the summaries come back.
        """
        refused = _refuse(body)
        if refused is not None:
            return refused
        request_key = _vendor.request_key(body, strict=False)
        assert not isinstance(request_key, _vendor.Refusal)  # noqa: S101 - not strict
        response_key = f"business_event:{request_key}" if request_key else None
        if (replayed := self._replay(response_key)) is not None:
            return replayed
        now = self._dispatch_time("business_event", request_key)
        request = _vendor.parse_business_event(body, self.definitions.business_events, now)
        if isinstance(request, _vendor.Refusal):
            return Dispatch.fail(request.error)
        dispatch_key = request_key or uuid.uuid4().hex
        result = Dispatch(response={})
        targets = 0
        states = self.lifecycle.states("bulletin")
        for bulletin in sorted(self.definitions.bulletins.values(), key=lambda b: b.id):
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
                settings=self.settings,
                custom_groups=self.definitions.control_groups,
                version=self.definitions.version_of("bulletin", bulletin.id),
            )
            if runner is not None:
                summary = runner.dispatch_bulletin(plan, store=self.store, ledger=self.ledger)
            else:
                summary = dispatch_bulletin(
                    plan,
                    store=self.store,
                    ledger=self.ledger,
                    **self._route(result, sink),
                    workers=self.workers,
                )
            result.summary.merge(summary)
            result.summaries[bulletin.id] = summary
            targets += 1
            self._log_activity(request, bulletin, plan, summary)
        result.response = {"status": "success", "targets": targets}
        if response_key is not None:
            self.registry.save_response(response_key, result.response)
        if self.sender is not None:
            self.send()
        return result

    def _log_activity(
        self,
        request: _vendor.BusinessEventRequest,
        bulletin: Bulletin,
        plan: DispatchPlan,
        summary: Summary,
    ) -> None:
        """One activity-log entry per bulletin and dispatch (a resumed one is logged once)."""
        # Once per (dispatch, bulletin): a resumed dispatch was logged by its first run.
        self.registry.log_activity(
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

    # -- External Trigger campaigns --------------------------------------------------

    def trigger_campaign(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Trigger a published campaign (External Trigger API body).

        Two forms: ``{"to": {"identity": [...], "email": [...]}, "campaign_id": ...,
        "ExternalTrigger": {...}}`` (one data object for all) or ``"to": [{"identity":
        ...} or {"email": ...}, "ExternalTrigger": {...}}, ...]`` (per recipient).
        ``campaign_id`` is the id as text or as an integer. An email names every
        profile whose ``email`` it is (see ``docs/dispatch.md``). An optional
        ``idempotency_key`` makes a replay return the first response without
        sending anything again.
        """
        refused = _refuse(body)
        if refused is not None:
            return refused
        campaign_id = _vendor.campaign_id(body)
        if isinstance(campaign_id, _vendor.Refusal):
            return Dispatch.fail(campaign_id.error)
        if campaign_id not in self.definitions.campaigns:
            return Dispatch.fail("Campaign Not Found")
        refusal = refusal_of(self.lifecycle.state("campaign", campaign_id))
        if refusal is not None:
            return Dispatch.fail(refusal)
        assert isinstance(body, Mapping)  # noqa: S101 - campaign_id checked it
        version = self.definitions.version_of("campaign", campaign_id)
        return self._send(self.definitions.campaigns[campaign_id], body, sink=sink, version=version)

    def trigger_campaigns(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Trigger up to 5 published campaigns in one call (``/2/send/externaltrigger.json``).

        ``{"to": {...}, "campaign_id_list": [id, ...], "ExternalTrigger": {...}}``
        sends each campaign to the same recipients; ``{"d": [{"to": ..., "campaign_id":
        ..., "ExternalTrigger": ...}, ...]}`` sends each to its own. Every campaign
        body is checked before anything is sent, so a refusal (more than 5
        campaigns, an unknown campaign, a bad recipient: the message names the
        entry, e.g. ``d[1]: Campaign Not Found``) sends nothing. The response adds
        up the counts and lists each campaign's answer under ``campaigns``.
        """
        refused = _refuse(body)
        if refused is not None:
            return refused
        calls = _vendor.parse_campaign_calls(body)
        if isinstance(calls, _vendor.Refusal):
            return Dispatch.fail(calls.error)
        request_key = _vendor.request_key(body, strict=True)
        response_key = f"campaigns:{request_key}" if isinstance(request_key, str) else None
        if (replayed := self._replay(response_key)) is not None:
            return replayed
        now = self.clock()
        campaigns: list[ExternalTriggerCampaign] = []
        for call in calls:
            campaign = self.definitions.campaigns.get(call.campaign_id)
            if campaign is None:
                return Dispatch.fail(f"{call.where}: Campaign Not Found")
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
            part = self._send(campaign, call.body, sink=sink)
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
            self.registry.save_response(response_key, result.response)
        return result

    def message_via_identity(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Send a message whose content comes in the call (no published campaign).

        Body: ``{"to": {"identity": [...]}, "content": {"channel": ..., fields...},
        "ExternalTrigger": {...}}`` plus optional ``name``, ``filters``,
        ``control_group``, ``targeting_cap``; validated like a published campaign.
        """
        refused = _refuse(body)
        if refused is not None:
            return refused
        definition = _vendor.identity_message(body, lambda: uuid.uuid4().hex)
        if isinstance(definition, _vendor.Refusal):
            return Dispatch.fail(definition.error)
        try:
            campaign = validate_definition(ExternalTriggerCampaign, definition, "message")
            self.definitions.check_control_group(campaign.control_group)
        except TidingsError as exc:
            return Dispatch.fail(str(exc))
        assert isinstance(body, Mapping)  # noqa: S101 - identity_message checked it
        return self._send(campaign, body, sink=sink)

    def _send(
        self,
        campaign: ExternalTriggerCampaign,
        body: Mapping[str, Any],
        *,
        sink: Sink | None,
        version: int | None = None,
    ) -> Dispatch:
        assert campaign.id is not None  # noqa: S101 - published campaigns have ids
        request_key = _vendor.request_key(body, strict=True)
        if isinstance(request_key, _vendor.Refusal):
            return Dispatch.fail(request_key.error)
        response_key = f"campaign:{campaign.id}:{request_key}" if request_key else None
        if (replayed := self._replay(response_key)) is not None:
            return replayed
        now = self._dispatch_time(f"campaign:{campaign.id}", request_key)
        request = _vendor.parse_trigger(body)
        if isinstance(request, _vendor.Refusal):
            return Dispatch.fail(request.error)
        refusal = _vendor.check_trigger_request(campaign, request, now)
        if refusal is not None:
            return Dispatch.fail(refusal.error)
        recipients = _vendor.resolve_recipients(request, self.store.identities_for_emails)
        plan = DispatchPlan.for_campaign(
            campaign,
            shared_trigger=request.shared,
            now=now,
            dispatch_key=request_key or uuid.uuid4().hex,
            settings=self.settings,
            custom_groups=self.definitions.control_groups,
            version=version,
        )
        result = Dispatch(response={})
        summary = dispatch_recipients(
            plan,
            recipients,
            store=self.store,
            ledger=self.ledger,
            **self._route(result, sink),
            workers=self.workers,
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
            self.registry.save_response(response_key, result.response)
        if self.sender is not None:
            self.send()
        return result


def _refuse(body: object) -> Dispatch | None:
    """The ``fail`` answer for a body that is not plain, bounded JSON-like data, else None."""
    problem = _vendor.body_problem(body)
    return Dispatch.fail(problem) if problem is not None else None
