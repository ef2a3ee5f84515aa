"""The definitions of a workspace: validated once, kept in memory, persisted in the registry.

Business events, custom control groups, bulletins, External Trigger campaigns and
the workspace settings. :class:`Definitions` checks what refers to what (a
bulletin's business event and match properties, a custom control group) and
saves each definition in a :class:`~tidings.storage.Registry`, from which a
reopened workspace loads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from . import _vendor
from ._publish import bulletin_problems, campaign_problems
from .channels import message_from_dict
from .errors import DefinitionError, DefinitionProblem
from .models.definitions import (
    Bulletin,
    BusinessEventDefinition,
    ControlGroup,
    CustomControlGroup,
    ExternalTriggerCampaign,
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


class Definitions:
    """The registry of definitions: validated, cross-checked, persisted.

    Args:
        registry: Where definitions are saved (and loaded from at start).
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
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

        Raises:
            DefinitionError: The definition is invalid; ``problems`` lists every
                publish-time problem at once (see :mod:`tidings._publish`).
            TemplateError: A template does not compile.
        """
        model = validate_definition(Bulletin, bulletin, "bulletin")
        event = self.business_events.get(model.business_event)
        if event is None:
            raise DefinitionError(
                f"business event {model.business_event!r} is not defined", field="business_event"
            )
        problems = bulletin_problems(model.match, model.message, event)
        problems += self._control_group_problems(model.control_group)
        if problems:
            raise DefinitionError.from_problems("bulletin", problems)
        self.bulletins[model.id] = model
        self._save("bulletin", model.id, model)
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

        Accepts the model, its dict form, or a Create Campaign API body
        (``channel`` + ``content`` + ``audience``). Templates must compile, a
        targeting cap below 100 is rejected, the schedule's end must follow its start.
        """
        if isinstance(campaign, Mapping):
            campaign = _vendor.campaign_from_api(campaign)
        model = validate_definition(ExternalTriggerCampaign, campaign, "campaign")
        problems = campaign_problems(model.message)
        problems += self._control_group_problems(model.control_group)
        if problems:
            raise DefinitionError.from_problems("campaign", problems)
        if model.id is None:
            model = model.model_copy(update={"id": str(self._registry.next_sequence("campaign"))})
        assert model.id is not None  # noqa: S101 - assigned just above
        self.campaigns[model.id] = model
        self._save("campaign", model.id, model)
        return model.id
