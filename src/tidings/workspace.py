"""The workspace: definitions, store, ledger and clock, and the vendor-compatible entry points.

``Workspace()`` keeps everything in memory; ``Workspace.sqlite(path)`` keeps
profiles, events, definitions and the ledger in one SQLite file, so another
process (``tidings dispatch``) can pick them up.

Request-level problems (unknown campaign, malformed body) come back as a
``Dispatch`` whose ``response`` is ``{"status": "fail", "error": ..., "code": 400}``
with the vendor's documented messages; per-user problems are ``Skip`` records.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .audience.filters import AudienceQuery
from .channels import message_from_dict
from .dispatch import (
    DispatchPlan,
    HoldOut,
    Recipient,
    dispatch_bulletin,
    dispatch_recipients,
)
from .errors import DefinitionError, MissingTriggerKeyError, TidingsError
from .models.definitions import (
    MAX_EVENT_KEY_LENGTH,
    Bulletin,
    BusinessEventDefinition,
    CustomControlGroup,
    ExternalTriggerCampaign,
    WorkspaceSettings,
)
from .models.records import Dispatch, Sink, Summary
from .models.users import UserEvent, UserProfile
from .storage.base import Store
from .storage.ledger import Ledger, MemoryLedger
from .storage.registry import MemoryRegistry, Registry, SQLiteRegistry
from .storage.sqlite_ledger import SQLiteLedger

__all__ = ["Clock", "Workspace"]

Clock = Callable[[], datetime]

MAX_PROPERTY_VALUE_BYTES = 512
"""Business event property values are limited to 512 bytes (vendor rule)."""

_M = TypeVar("_M", bound=BaseModel)


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


def _parse_when(value: object, now: datetime) -> datetime | None:
    if value == "now":
        return now
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _describe(value: object) -> str:
    return "null" if value is None else str(value)


def _campaign_from_api(body: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the Create Campaign API shape (``channel`` + ``content``) as well as ours."""
    data = dict(body)
    if "content" in data and "message" not in data:
        content = data.pop("content")
        if not isinstance(content, Mapping):
            raise DefinitionError('"content" must be an object', field="content")
        channel = data.pop("channel", content.get("channel"))
        data["message"] = {**content, "channel": channel}
    audience = data.pop("audience", None)
    if isinstance(audience, Mapping):
        data.setdefault("filters", audience.get("filters", ()))
    elif audience is not None:
        raise DefinitionError('"audience" must be an object', field="audience")
    return data


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
        ValueError: ``workers`` is below 1.
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
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
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
        """A durable workspace in one SQLite file (created if missing)."""
        from .storage.sqlite import SQLiteStore

        return cls(
            SQLiteStore(path),
            SQLiteLedger(path),
            SQLiteRegistry(path),
            clock=clock,
            workers=workers,
        )

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
            campaign = _campaign_from_api(campaign)
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
        """Insert or replace profiles (models or dicts); return the count."""
        return self.store.upsert_profiles(
            p if isinstance(p, UserProfile) else UserProfile.model_validate(p) for p in profiles
        )

    def record_events(self, events: Iterable[UserEvent | Mapping[str, Any]]) -> int:
        """Append user events (models or dicts); return the count."""
        return self.store.append_events(
            e if isinstance(e, UserEvent) else UserEvent.model_validate(e) for e in events
        )

    def activity_log(self) -> list[dict[str, Any]]:
        """Dispatched bulletins, newest first: business event, bulletin, time, sent, creator."""
        return self.registry.activity()

    # -- business events -----------------------------------------------------------

    def _validate_business_event(
        self, body: object, now: datetime
    ) -> tuple[BusinessEventDefinition, dict[str, str], datetime, str, str] | str:
        if not isinstance(body, Mapping):
            return "Malformed body: expected a JSON object"
        name = body.get("business_event")
        if not isinstance(name, str) or name not in self._business_events:
            return "Business Event Not Found"
        definition = self._business_events[name]
        when = _parse_when(body.get("when"), now)
        if when is None:
            return f'"when" has an incorrect value - {_describe(body.get("when"))}'
        bulletin_name = body.get("name")
        if not isinstance(bulletin_name, str) or not bulletin_name:
            return f'"name" has an incorrect value - {_describe(bulletin_name)}'
        creator = body.get("c-by")
        if not isinstance(creator, str) or not creator:
            return f'"c-by" has an incorrect value - {_describe(creator)}'
        properties = body.get("properties")
        if not isinstance(properties, Mapping):
            return f'"properties" has an incorrect value - {_describe(properties)}'
        for key, value in properties.items():
            if not isinstance(key, str) or len(key) > MAX_EVENT_KEY_LENGTH:
                return f"Event key {str(key)[:40]!r} exceeds {MAX_EVENT_KEY_LENGTH} characters"
            if not isinstance(value, str):
                return f"Property {key} must be a string"
            if len(value.encode()) > MAX_PROPERTY_VALUE_BYTES:
                return f"Property {key} value exceeds {MAX_PROPERTY_VALUE_BYTES} bytes"
        for required in definition.properties:
            if required not in properties:
                return f"Property {required} missing"
        return definition, dict(properties), when, bulletin_name, creator

    def raise_business_event(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Raise a business event (Bulletins API body); dispatch every published bulletin.

        The response is ``{"status": "success", "targets": N}`` (N bulletins
        dispatched) or the vendor's ``fail`` shape. Records stream to ``sink`` when
        given, else they are kept on the returned ``Dispatch``.
        """
        request_key = body.get("idempotency_key") if isinstance(body, Mapping) else None
        if not (isinstance(request_key, str) and request_key):
            request_key = None
        if request_key is not None:
            saved = self.registry.saved_response(f"business_event:{request_key}")
            if saved is not None:
                return Dispatch(response=saved)
        now = self._dispatch_time("business_event", request_key)
        checked = self._validate_business_event(body, now)
        if isinstance(checked, str):
            return Dispatch.fail(checked)
        definition, properties, when, instance_name, creator = checked
        dispatch_key = request_key or uuid.uuid4().hex
        send_at = max(now, when)
        result = Dispatch(response={})
        keep = None if sink is not None else (result.kept_deliveries, result.kept_skips)
        targets = 0
        for bulletin in sorted(self._bulletins.values(), key=lambda b: b.id):
            if not bulletin.published or bulletin.business_event != definition.name:
                continue
            summary = self._dispatch_bulletin(
                bulletin, properties, definition.name, now, send_at, dispatch_key, sink, keep
            )
            result.summary.merge(summary)
            result.summaries[bulletin.id] = summary
            targets += 1
            marker = f"activity:{dispatch_key}:{bulletin.id}"
            if self.registry.saved_response(marker) is not None:
                continue  # a resumed dispatch: this bulletin was logged by the first run
            self.registry.save_response(marker, {"logged": True})
            self.registry.log_activity(
                {
                    "business_event": definition.name,
                    "bulletin_id": bulletin.id,
                    "bulletin": bulletin.name,
                    "name": instance_name,
                    "event_time": when.isoformat(),
                    "dispatched_at": now.isoformat(),
                    "sent": summary.sent,
                    "qualified": summary.qualified,
                    "creator": creator,
                }
            )
        result.response = {"status": "success", "targets": targets}
        if request_key is not None:
            self.registry.save_response(f"business_event:{request_key}", result.response)
        return result

    def _dispatch_bulletin(
        self,
        bulletin: Bulletin,
        properties: dict[str, str],
        event_name: str,
        now: datetime,
        send_at: datetime,
        dispatch_key: str,
        sink: Sink | None,
        keep: Any,
    ) -> Summary:
        query = AudienceQuery(
            segment=bulletin.segment,
            matches=tuple((rule, properties[rule.business_property]) for rule in bulletin.match),
            filters=bulletin.filters,
        )
        hold_out = HoldOut.resolve(
            bulletin.control_group,
            source_scope=f"bulletin:{bulletin.id}",
            custom_groups=self._control_groups,
        )
        plan = DispatchPlan(
            source="bulletin",
            source_id=bulletin.id,
            message=bulletin.message,
            dispatch_key=dispatch_key,
            now=now,
            send_base=send_at,
            namespaces={
                "BusinessEvent": {"name": event_name, **properties},
                "Campaign": {"id": bulletin.id, "name": bulletin.name},
            },
            audience=query,
            hold_out=hold_out,
            cap=bulletin.targeting_cap,
            ttl_seconds=bulletin.ttl_seconds,
            preferences=bulletin.delivery,
            frequency_caps=self.settings.frequency_caps,
            default_timezone=self.settings.default_timezone,
        )
        return dispatch_bulletin(
            plan, store=self.store, ledger=self.ledger, sink=sink, keep=keep, workers=self.workers
        )

    # -- External Trigger campaigns --------------------------------------------------

    def trigger_campaign(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Trigger a published campaign (External Trigger API body).

        Two forms: ``{"to": {"identity": [...]}, "campaign_id": ..., "ExternalTrigger": {...}}``
        (one data object for all) or ``"to": [{"identity": ..., "ExternalTrigger": {...}}, ...]``
        (per recipient). An optional ``idempotency_key`` makes a replay return the
        first response without sending anything again.
        """
        if not isinstance(body, Mapping):
            return Dispatch.fail("Malformed body: expected a JSON object")
        campaign_id = body.get("campaign_id")
        if isinstance(campaign_id, int) and not isinstance(campaign_id, bool):
            campaign_id = str(campaign_id)
        if not isinstance(campaign_id, str) or campaign_id not in self._campaigns:
            return Dispatch.fail("Campaign Not Found")
        return self._send(self._campaigns[campaign_id], body, sink=sink)

    def message_via_identity(self, body: object, *, sink: Sink | None = None) -> Dispatch:
        """Send a message whose content comes in the call (no published campaign).

        Body: ``{"to": {"identity": [...]}, "content": {"channel": ..., fields...},
        "ExternalTrigger": {...}}`` plus optional ``name``, ``filters``,
        ``control_group``, ``targeting_cap``; validated like a published campaign.
        """
        if not isinstance(body, Mapping):
            return Dispatch.fail("Malformed body: expected a JSON object")
        content = body.get("content")
        if not isinstance(content, Mapping):
            return Dispatch.fail('"content" has an incorrect value - ' + _describe(content))
        definition = {
            key: body[key]
            for key in ("filters", "control_group", "targeting_cap", "schedule")
            if key in body
        }
        definition["name"] = str(body.get("name") or "Message via Identity")
        definition["message"] = dict(content)
        request_key = body.get("idempotency_key")
        definition["id"] = f"identity:{request_key or uuid.uuid4().hex}"[:MAX_EVENT_KEY_LENGTH]
        try:
            campaign = _validate(ExternalTriggerCampaign, definition, "message")
        except TidingsError as exc:
            return Dispatch.fail(str(exc))
        try:
            self._check_control_group(campaign.control_group)
        except DefinitionError as exc:
            return Dispatch.fail(str(exc))
        return self._send(campaign, body, sink=sink)

    def _recipients(
        self, body: Mapping[str, Any]
    ) -> tuple[list[tuple[str, Mapping[str, Any] | None]], Mapping[str, Any] | None] | str:
        to = body.get("to")
        shared = body.get("ExternalTrigger")
        if shared is not None and not isinstance(shared, Mapping):
            return '"ExternalTrigger" has an incorrect value - must be an object'
        recipients: list[tuple[str, Mapping[str, Any] | None]] = []
        if isinstance(to, Mapping):
            identities = to.get("identity")
            if isinstance(identities, str):
                identities = [identities]
            if not isinstance(identities, list) or not identities:
                return '"to.identity" has an incorrect value - ' + _describe(identities)
            for identity in identities:
                if not isinstance(identity, str) or not identity:
                    return f'"to.identity" has an incorrect value - {_describe(identity)}'
                recipients.append((identity, None))
        elif isinstance(to, list) and to:
            for i, entry in enumerate(to):
                if not isinstance(entry, Mapping):
                    return f'"to[{i}]" has an incorrect value - must be an object'
                identity = entry.get("identity")
                if not isinstance(identity, str) or not identity:
                    return f'"to[{i}].identity" has an incorrect value - {_describe(identity)}'
                data = entry.get("ExternalTrigger")
                if data is not None and not isinstance(data, Mapping):
                    return f'"to[{i}].ExternalTrigger" has an incorrect value - must be an object'
                recipients.append((identity, data))
        else:
            return '"to" has an incorrect value - ' + _describe(to)
        return recipients, shared

    def _send(
        self, campaign: ExternalTriggerCampaign, body: Mapping[str, Any], *, sink: Sink | None
    ) -> Dispatch:
        assert campaign.id is not None  # noqa: S101 - published campaigns have ids
        request_key = body.get("idempotency_key")
        if request_key is not None and not (isinstance(request_key, str) and request_key):
            return Dispatch.fail('"idempotency_key" has an incorrect value - must be a string')
        ledger_key = f"campaign:{campaign.id}:{request_key}" if request_key else None
        if ledger_key is not None:
            saved = self.registry.saved_response(ledger_key)
            if saved is not None:
                return Dispatch(response=saved)
        now = self._dispatch_time(f"campaign:{campaign.id}", request_key)
        parsed = self._recipients(body)
        if isinstance(parsed, str):
            return Dispatch.fail(parsed)
        recipients, shared = parsed
        if len(recipients) > campaign.max_recipients_per_call:
            return Dispatch.fail(
                f"Too many recipients: {len(recipients)} "
                f"(at most {campaign.max_recipients_per_call} per call)"
            )
        refusal = campaign.schedule.refusal(now)
        if refusal is not None:
            return Dispatch.fail(refusal)
        if shared is not None:
            size = len(json.dumps(shared, ensure_ascii=False, default=str).encode())
            if size > campaign.max_trigger_bytes:
                return Dispatch.fail(
                    f"ExternalTrigger data is {size} bytes, over the limit of "
                    f"{campaign.max_trigger_bytes} bytes"
                )
            if all(data is None for _, data in recipients):
                missing = [
                    k for k in campaign.message.required_trigger_keys if shared.get(k) is None
                ]
                if missing:
                    return Dispatch.fail(str(MissingTriggerKeyError(missing)))
        dispatch_key = request_key or uuid.uuid4().hex
        plan = DispatchPlan(
            source="campaign",
            source_id=campaign.id,
            message=campaign.message,
            dispatch_key=dispatch_key,
            now=now,
            namespaces={"Campaign": {"id": campaign.id, "name": campaign.name}},
            filters=campaign.filters,
            hold_out=HoldOut.resolve(
                campaign.control_group,
                source_scope=f"campaign:{campaign.id}",
                custom_groups=self._control_groups,
            ),
            cap=campaign.targeting_cap,
            max_trigger_bytes=campaign.max_trigger_bytes,
            shared_trigger=shared,
            preferences=campaign.delivery,
            cutoff=campaign.schedule.cutoff,
            frequency_caps=self.settings.frequency_caps,
            default_timezone=self.settings.default_timezone,
        )
        result = Dispatch(response={})
        keep = None if sink is not None else (result.kept_deliveries, result.kept_skips)
        summary = dispatch_recipients(
            plan,
            [Recipient(identity, data) for identity, data in recipients],
            store=self.store,
            ledger=self.ledger,
            sink=sink,
            keep=keep,
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
        if ledger_key is not None:
            self.registry.save_response(ledger_key, result.response)
        return result
