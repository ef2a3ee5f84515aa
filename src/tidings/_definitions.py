"""The definitions of a workspace: validated once, kept in memory, persisted in the registry.

Business events, custom control groups, bulletins, External Trigger campaigns and
the workspace settings. :class:`Definitions` checks what refers to what (a
bulletin's business event and match properties, a custom control group) and
saves each definition in a :class:`~tidings.storage.Registry`, from which a
reopened workspace loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from . import _vendor
from ._publish import bulletin_problems, campaign_problems, match_problems
from .campaigns import Bulletin, ExternalTriggerCampaign
from .channels import EmailMessage, PushMessage, WebhookMessage, message_from_dict
from .channels._base import ChannelMessage, compile_errors
from .errors import DefinitionError, DefinitionProblem, TemplateError, TidingsError
from .lifecycle import DefinitionKind, Lifecycle
from .models.definitions import (
    BusinessEventDefinition,
    ControlGroup,
    CustomControlGroup,
    WorkspaceSettings,
)
from .storage.registry import Registry

__all__ = ["Definitions", "validate_definition"]

_M = TypeVar("_M", bound=BaseModel)


def validate_definition(model: type[_M], data: Mapping[str, Any] | _M, what: str) -> _M:
    """Validate a definition (model or dict), turning pydantic's error into a DefinitionError.

    Raises:
        DefinitionError: ``data`` is not a valid ``what``; its field is named.
    """
    if isinstance(data, model):
        return data
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{what} must be an object, not {type(data).__name__}")
    data = dict(data)
    if "message" in data and isinstance(data["message"], Mapping):
        # Build the message first so a template error keeps its own type and field.
        data["message"] = message_from_dict(dict(data["message"]))
    # Definition models raise DefinitionError themselves (models/_base.py), naming the field.
    return model.model_validate(data)


_CHANNELS: dict[object, type[ChannelMessage]] = {
    "push": PushMessage,
    "email": EmailMessage,
    "webhook": WebhookMessage,
}
_SET_ASIDE = {"channel": "push", "title": "-", "body": "-"}
"""A message that compiles, checked in place of one whose templates do not."""


def _template_problem(error: TemplateError) -> DefinitionProblem:
    """A template error as a publish-time problem (``push.title`` -> ``message.title``)."""
    key = (error.field or "message").split(".", 1)[-1]
    return DefinitionProblem(f"message.{key}", error.message, error.line, error.column)


def checked_definition(
    model: type[_M], data: Mapping[str, Any] | _M, what: str
) -> tuple[_M, list[DefinitionProblem], TemplateError | None]:
    """Validate a definition, turning template compile errors into problems.

    Returns the model, the problems found so far and the first template error.
    When a template does not compile, every template of the message is compiled
    to list each failing one (field, line, column), the rest of the definition is
    checked with the message set aside, and the returned model carries a stand-in
    message: the caller must not use it beyond the non-message checks.

    Raises:
        DefinitionError: The definition is invalid apart from its templates (a
            template problem found too is listed first in ``problems``).
    """
    try:
        return validate_definition(model, data, what), [], None
    except TemplateError as exc:
        first = exc
    assert isinstance(data, Mapping)  # noqa: S101 - a built model has compiled templates
    message = dict(data["message"])
    try:
        errors = compile_errors(_CHANNELS[message.get("channel")], message)
    except (TidingsError, KeyError):  # not the plain field values a valid message holds
        errors = []
    problems = [_template_problem(error) for error in errors or [first]]
    try:
        stand_in = validate_definition(model, {**data, "message": _SET_ASIDE}, what)
    except DefinitionError as exc:
        problems += exc.problems or [DefinitionProblem(exc.field or what, exc.reason)]
        raise DefinitionError.from_problems(what, problems) from first
    return stand_in, problems, first


class Definitions:
    """The registry of definitions: validated, cross-checked, persisted.

    Publishing a campaign or bulletin id again makes a new version when the
    definition changed (see :mod:`tidings.lifecycle`); :meth:`version_of` says
    which version sends now.

    Args:
        registry: Where definitions are saved (and loaded from at start).
        clock: The time of publications and state changes (default: now, UTC).
    """

    def __init__(self, registry: Registry, clock: Callable[[], datetime] | None = None) -> None:
        self._registry = registry
        self.lifecycle = Lifecycle(registry, clock or (lambda: datetime.now(UTC)), self._exists)
        self._versions: dict[tuple[DefinitionKind, str], int] = {}
        self.business_events: dict[str, BusinessEventDefinition] = {}
        self.bulletins: dict[str, Bulletin] = {}
        self.campaigns: dict[str, ExternalTriggerCampaign] = {}
        self.control_groups: dict[str, CustomControlGroup] = {}
        self.settings = WorkspaceSettings()
        self._load()

    def _load(self) -> None:
        stored = self._registry.definitions("settings").get("workspace")
        if stored is not None:
            self.settings = WorkspaceSettings.model_validate(stored)
        for key, body in self._registry.definitions("business_event").items():
            self.business_events[key] = BusinessEventDefinition.model_validate(body)
        for key, body in self._registry.definitions("control_group").items():
            self.control_groups[key] = CustomControlGroup.model_validate(body)
        for key, body in self._registry.definitions("bulletin").items():
            self.bulletins[key] = validate_definition(Bulletin, body, "bulletin")
        for key, body in self._registry.definitions("campaign").items():
            self.campaigns[key] = validate_definition(ExternalTriggerCampaign, body, "campaign")
        for kind in ("campaign", "bulletin"):
            for key, version in self.lifecycle.current_versions(kind).items():
                self._versions[kind, key] = version

    def _exists(self, kind: DefinitionKind, key: str) -> bool:
        return key in (self.campaigns if kind == "campaign" else self.bulletins)

    def version_of(self, kind: DefinitionKind, key: str) -> int:
        """The version of a campaign or bulletin that sends now (1 if never published again)."""
        return self._versions.get((kind, key), 1)

    def _publish(self, kind: DefinitionKind, key: str, model: BaseModel) -> None:
        """Save a campaign or bulletin as its current definition and record its version."""
        current = self.campaigns.get(key) if kind == "campaign" else self.bulletins.get(key)
        previous = current.model_dump(mode="json") if current is not None else None
        body = model.model_dump(mode="json")
        self._versions[kind, key] = self.lifecycle.record_publish(kind, key, body, previous)
        self._registry.save_definition(kind, key, body)

    def _save(self, kind: str, key: str, model: BaseModel) -> None:
        self._registry.save_definition(kind, key, model.model_dump(mode="json"))

    def configure(self, settings: WorkspaceSettings | Mapping[str, Any]) -> WorkspaceSettings:
        """Set the workspace-wide delivery settings (default time zone, frequency caps)."""
        model = validate_definition(WorkspaceSettings, settings, "settings")
        self.settings = model
        self._save("settings", "workspace", model)
        return model

    def define_business_event(
        self, definition: BusinessEventDefinition | Mapping[str, Any]
    ) -> BusinessEventDefinition:
        """Define a business event. Defining it again with other properties is an error."""
        event = validate_definition(BusinessEventDefinition, definition, "business event")
        existing = self.business_events.get(event.name)
        if existing is not None and existing.properties != event.properties:
            raise DefinitionError(
                f"business event {event.name!r} is already defined with properties "
                f"{list(existing.properties)}",
                field="properties",
            )
        self.business_events[event.name] = event
        self._save("business_event", event.name, event)
        return event

    def define_control_group(
        self, group: CustomControlGroup | Mapping[str, Any]
    ) -> CustomControlGroup:
        """Define (or replace) a workspace-wide custom control group."""
        model = validate_definition(CustomControlGroup, group, "control group")
        self.control_groups[model.name] = model
        self._save("control_group", model.name, model)
        return model

    def publish_bulletin(self, bulletin: Bulletin | Mapping[str, Any]) -> Bulletin:
        """Validate and register a bulletin (only ``published=True`` ones fire).

        An id published before gets a new version when the definition changed.

        Raises:
            DefinitionError: The definition is invalid; ``problems`` lists every
                publish-time problem at once (see :mod:`tidings._publish`), a
                template that does not compile among them (with its line and
                column; the first :class:`TemplateError` is the ``__cause__``).
        """
        model, problems, cause = checked_definition(Bulletin, bulletin, "bulletin")
        event = self.business_events.get(model.business_event)
        if event is None:
            problems.append(
                DefinitionProblem(
                    "business_event", f"business event {model.business_event!r} is not defined"
                )
            )
        elif cause is None:
            problems += bulletin_problems(model.match, model.message, event)
        else:
            problems += match_problems(model.match, event)
        problems += self._control_group_problems(model.control_group)
        if problems:
            raise DefinitionError.from_problems("bulletin", problems) from cause
        self._publish("bulletin", model.id, model)
        self.bulletins[model.id] = model
        return model

    def _control_group_problems(self, control: ControlGroup | None) -> list[DefinitionProblem]:
        if (
            control is not None
            and control.kind == "custom"
            and control.group not in self.control_groups
        ):
            return [
                DefinitionProblem(
                    "control_group", f"custom control group {control.group!r} is not defined"
                )
            ]
        return []

    def check_control_group(self, control: ControlGroup | None) -> None:
        """Raise :class:`DefinitionError` if ``control`` names an undefined custom group."""
        problems = self._control_group_problems(control)
        if problems:
            raise DefinitionError.from_problems("definition", problems)

    def publish_campaign(self, campaign: ExternalTriggerCampaign | Mapping[str, Any]) -> str:
        """Validate and register an External Trigger campaign; return its id.

        An id published before gets a new version when the definition changed.
        Accepts the model, its dict form, or a Create Campaign API body
        (``channel`` + ``content`` + ``audience``). Templates must compile, a
        targeting cap below 100 is rejected, the schedule's end must follow its start.

        Raises:
            DefinitionError: The definition is invalid; ``problems`` lists every
                publish-time problem at once, templates that do not compile included.
        """
        if isinstance(campaign, Mapping):
            campaign = _vendor.campaign_from_api(campaign)
        model, problems, cause = checked_definition(ExternalTriggerCampaign, campaign, "campaign")
        if cause is None:
            problems += campaign_problems(model.message)
        problems += self._control_group_problems(model.control_group)
        if problems:
            raise DefinitionError.from_problems("campaign", problems) from cause
        if model.id is None:
            model = model.model_copy(update={"id": str(self._registry.next_sequence("campaign"))})
        assert model.id is not None  # noqa: S101 - assigned just above
        self._publish("campaign", model.id, model)
        self.campaigns[model.id] = model
        return model.id
