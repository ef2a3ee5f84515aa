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
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from . import _vendor
from .channels import message_from_dict
from .dispatch import DispatchPlan, Kept, dispatch_bulletin, dispatch_recipients
from .errors import ArgumentError, DataError, DefinitionError, TidingsError
from .models.data import DataLimits, check_data
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

__all__ = ["Clock", "Workspace"]

Clock = Callable[[], datetime]

_M = TypeVar("_M", bound=BaseModel)

_BODY_LIMITS = DataLimits(max_items=5_000_000)
"""Request bodies: the default bounds, but room for a million recipients per call."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _validate(model: type[_M], data: Mapping[str, Any] | _M, what: str) -> _M:
    """Validate a definition, turning pydantic's error into a DefinitionError."""
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{what} must be an object, not {type(data).__name__}")
    data = dict(data)
    try:
        if "message" in data and isinstance(data["message"], Mapping):
            # Build the message first so a template error keeps its own type and field.
            data["message"] = message_from_dict(dict(data["message"]))
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise DefinitionError(f"invalid {what}: {message}", field=where) from exc


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
        self._business_events: dict[str, BusinessEventDefinition] = {}
        self._bulletins: dict[str, Bulletin] = {}
        self._campaigns: dict[str, ExternalTriggerCampaign] = {}
        self._control_groups: dict[str, CustomControlGroup] = {}
        self.settings = WorkspaceSettings()
        self._load_definitions()

    @classmethod
    def sqlite(cls, path: str | Path, *, clock: Clock | None = None, workers: int = 1) -> Workspace:
        """A durable workspace in one SQLite file (created if missing).

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
            )
        except (sqlite3.DatabaseError, OSError) as exc:
            if store is not None:
                store.close()
            raise ArgumentError(
                f"cannot open {str(path)!r} as a tidings database: {exc}", field="path"
            ) from exc

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

    def _load_definitions(self) -> None:
        stored = self.registry.definitions("settings").get("workspace")
        if stored is not None:
            self.settings = WorkspaceSettings.model_validate(stored)
        for key, body in self.registry.definitions("business_event").items():
            self._business_events[key] = BusinessEventDefinition.model_validate(body)
        for key, body in self.registry.definitions("control_group").items():
            self._control_groups[key] = CustomControlGroup.model_validate(body)
        for key, body in self.registry.definitions("bulletin").items():
            self._bulletins[key] = _validate(Bulletin, body, "bulletin")
        for key, body in self.registry.definitions("campaign").items():
            self._campaigns[key] = _validate(ExternalTriggerCampaign, body, "campaign")

    def _save(self, kind: str, key: str, model: BaseModel) -> None:
        self.registry.save_definition(kind, key, model.model_dump(mode="json"))

    def configure(self, settings: WorkspaceSettings | Mapping[str, Any]) -> WorkspaceSettings:
        """Set the workspace-wide delivery settings (default time zone, frequency caps)."""
        model = _validate(WorkspaceSettings, settings, "settings")
        self.settings = model
        self._save("settings", "workspace", model)
        return model

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

    def define_business_event(
        self, definition: BusinessEventDefinition | Mapping[str, Any]
    ) -> BusinessEventDefinition:
        """Define a business event. Defining it again with other properties is an error."""
        event = _validate(BusinessEventDefinition, definition, "business event")
        existing = self._business_events.get(event.name)
        if existing is not None and existing.properties != event.properties:
            raise DefinitionError(
                f"business event {event.name!r} is already defined with properties "
                f"{list(existing.properties)}",
                field="properties",
            )
        self._business_events[event.name] = event
        self._save("business_event", event.name, event)
        return event

    def define_control_group(
        self, group: CustomControlGroup | Mapping[str, Any]
    ) -> CustomControlGroup:
        """Define (or replace) a workspace-wide custom control group."""
        model = _validate(CustomControlGroup, group, "control group")
        self._control_groups[model.name] = model
        self._save("control_group", model.name, model)
        return model

    def publish_bulletin(self, bulletin: Bulletin | Mapping[str, Any]) -> Bulletin:
        """Validate and register a bulletin (only ``published=True`` ones fire)."""
        model = _validate(Bulletin, bulletin, "bulletin")
        event = self._business_events.get(model.business_event)
        if event is None:
            raise DefinitionError(
                f"business event {model.business_event!r} is not defined", field="business_event"
            )
        for i, rule in enumerate(model.match):
            if rule.business_property not in event.properties:
                raise DefinitionError(
                    f"match rule uses {rule.business_property!r}, which business event "
                    f"{event.name!r} does not carry",
                    field=f"match.{i}.business_property",
                )
        self._check_control_group(model.control_group)
        self._bulletins[model.id] = model
        self._save("bulletin", model.id, model)
        return model

    def _check_control_group(self, control: Any) -> None:
        if (
            control is not None
            and control.kind == "custom"
            and control.group not in self._control_groups
        ):
            raise DefinitionError(
                f"custom control group {control.group!r} is not defined", field="control_group"
            )

    def publish_campaign(self, campaign: ExternalTriggerCampaign | Mapping[str, Any]) -> str:
        """Validate and register an External Trigger campaign; return its id.

        Accepts the model, its dict form, or a Create Campaign API body
        (``channel`` + ``content`` + ``audience``). Templates must compile, a
        targeting cap below 100 is rejected, the schedule's end must follow its start.
        """
        if isinstance(campaign, Mapping):
            campaign = _vendor.campaign_from_api(campaign)
        model = _validate(ExternalTriggerCampaign, campaign, "campaign")
        self._check_control_group(model.control_group)
        if model.id is None:
            model = model.model_copy(update={"id": str(self.registry.next_sequence("campaign"))})
        assert model.id is not None  # noqa: S101 - assigned just above
        self._campaigns[model.id] = model
        self._save("campaign", model.id, model)
        return model.id

    @property
    def campaigns(self) -> Mapping[str, ExternalTriggerCampaign]:
        """Published campaigns by id."""
        return dict(self._campaigns)

    @property
    def bulletins(self) -> Mapping[str, Bulletin]:
        """Registered bulletins by id."""
        return dict(self._bulletins)

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

    def raise_business_event(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Raise a business event (Bulletins API body); dispatch every published bulletin.

        The response is ``{"status": "success", "targets": N}`` (N bulletins
        dispatched) or the vendor's ``fail`` shape. Records stream to ``sink`` when
        given, else they are kept on the returned ``Dispatch``.
        """
        refused = _refuse_body(body)
        if refused is not None:
            return refused
        request_key = _vendor.request_key(body, strict=False)
        assert not isinstance(request_key, _vendor.Refusal)  # noqa: S101 - not strict
        response_key = f"business_event:{request_key}" if request_key else None
        if (replayed := self._replay(response_key)) is not None:
            return replayed
        now = self._dispatch_time("business_event", request_key)
        request = _vendor.parse_business_event(body, self._business_events, now)
        if isinstance(request, _vendor.Refusal):
            return Dispatch.fail(request.error)
        dispatch_key = request_key or uuid.uuid4().hex
        result = Dispatch(response={})
        targets = 0
        for bulletin in sorted(self._bulletins.values(), key=lambda b: b.id):
            if not bulletin.published or bulletin.business_event != request.definition.name:
                continue
            plan = DispatchPlan.for_bulletin(
                bulletin,
                event_name=request.definition.name,
                properties=request.properties,
                now=now,
                send_at=max(now, request.when),
                dispatch_key=dispatch_key,
                settings=self.settings,
                custom_groups=self._control_groups,
            )
            summary = dispatch_bulletin(
                plan,
                store=self.store,
                ledger=self.ledger,
                sink=sink,
                keep=self._keep(result, sink),
                workers=self.workers,
            )
            result.summary.merge(summary)
            result.summaries[bulletin.id] = summary
            targets += 1
            self._log_activity(request, bulletin, plan, summary)
        result.response = {"status": "success", "targets": targets}
        if response_key is not None:
            self.registry.save_response(response_key, result.response)
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
            },
            once=f"activity:{plan.dispatch_key}:{bulletin.id}",
        )

    # -- External Trigger campaigns --------------------------------------------------

    def trigger_campaign(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Trigger a published campaign (External Trigger API body).

        Two forms: ``{"to": {"identity": [...]}, "campaign_id": ..., "ExternalTrigger": {...}}``
        (one data object for all) or ``"to": [{"identity": ..., "ExternalTrigger": {...}}, ...]``
        (per recipient). An optional ``idempotency_key`` makes a replay return the
        first response without sending anything again.
        """
        refused = _refuse_body(body)
        if refused is not None:
            return refused
        campaign_id = _vendor.campaign_id(body)
        if isinstance(campaign_id, _vendor.Refusal):
            return Dispatch.fail(campaign_id.error)
        if campaign_id not in self._campaigns:
            return Dispatch.fail("Campaign Not Found")
        assert isinstance(body, Mapping)  # noqa: S101 - campaign_id checked it
        return self._send(self._campaigns[campaign_id], body, sink=sink)

    def message_via_identity(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Send a message whose content comes in the call (no published campaign).

        Body: ``{"to": {"identity": [...]}, "content": {"channel": ..., fields...},
        "ExternalTrigger": {...}}`` plus optional ``name``, ``filters``,
        ``control_group``, ``targeting_cap``; validated like a published campaign.
        """
        refused = _refuse_body(body)
        if refused is not None:
            return refused
        definition = _vendor.identity_message(body, lambda: uuid.uuid4().hex)
        if isinstance(definition, _vendor.Refusal):
            return Dispatch.fail(definition.error)
        try:
            campaign = _validate(ExternalTriggerCampaign, definition, "message")
            self._check_control_group(campaign.control_group)
        except TidingsError as exc:
            return Dispatch.fail(str(exc))
        assert isinstance(body, Mapping)  # noqa: S101 - identity_message checked it
        return self._send(campaign, body, sink=sink)

    def _send(
        self, campaign: ExternalTriggerCampaign, body: Mapping[str, Any], *, sink: Sink | None
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
        plan = DispatchPlan.for_campaign(
            campaign,
            shared_trigger=request.shared,
            now=now,
            dispatch_key=request_key or uuid.uuid4().hex,
            settings=self.settings,
            custom_groups=self._control_groups,
        )
        result = Dispatch(response={})
        summary = dispatch_recipients(
            plan,
            request.recipients,
            store=self.store,
            ledger=self.ledger,
            sink=sink,
            keep=self._keep(result, sink),
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
        return result


def _refuse_body(body: object) -> Dispatch | None:
    """The ``fail`` answer for a body that is not plain, bounded JSON-like data, else None.

    Runs before anything reads the body, so a cycle, a lone surrogate or a
    5,000-digit integer never reaches ``json.dumps`` or the encoder.
    """
    if not isinstance(body, Mapping):
        return None  # each entry point answers "Malformed body" itself
    try:
        check_data(body, "", _BODY_LIMITS)
    except DataError as exc:
        return Dispatch.fail(exc)
    return None
