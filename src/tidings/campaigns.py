"""The definitions that carry a channel message: bulletins and External Trigger campaigns.

They sit one layer above :mod:`tidings.models` (the ground floor) because each holds
its compiled channel message (:data:`tidings.channels.MessageField`); the rest of what
marketers define is in :mod:`tidings.models.definitions`.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from .channels import MessageField
from .models.definitions import (
    FROZEN,
    MAX_EVENT_KEY_LENGTH,
    MAX_TARGETING_CAP,
    MAX_TRIGGER_BYTES,
    MAX_TTL_SECONDS,
    MIN_TARGETING_CAP,
    ControlGroup,
    DefinitionModel,
    Goal,
    Schedule,
)
from .models.filters import Filter, MatchRow, Segment
from .models.preferences import DeliveryPreferences

__all__ = ["Bulletin", "ExternalTriggerCampaign"]


class Bulletin(DefinitionModel):
    """A message dispatched to matching users each time its business event is raised."""

    model_config = FROZEN
    _what: ClassVar[str] = "bulletin"

    id: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    name: str = Field(min_length=1)
    business_event: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    segment: Segment = Segment()
    match: tuple[MatchRow, ...] = Field(min_length=1)
    filters: tuple[Filter, ...] = ()
    message: MessageField
    control_group: ControlGroup | None = None
    targeting_cap: int | None = Field(default=None, ge=1, le=MAX_TARGETING_CAP)
    ttl_seconds: int | None = Field(default=None, ge=0, le=MAX_TTL_SECONDS)
    creator: str = ""
    published: bool = False
    delivery: DeliveryPreferences = DeliveryPreferences()


class ExternalTriggerCampaign(DefinitionModel):
    """A message written once and sent when a service triggers it for some users.

    ``id`` is assigned when the campaign is published (unless given).
    """

    model_config = FROZEN
    _what: ClassVar[str] = "campaign"

    id: str | None = Field(default=None, min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    name: str = Field(min_length=1)
    message: MessageField
    filters: tuple[Filter, ...] = ()
    control_group: ControlGroup | None = None
    targeting_cap: int | None = Field(default=None, le=MAX_TARGETING_CAP)
    goal: Goal | None = None
    schedule: Schedule = Schedule()
    max_recipients_per_call: int = Field(default=1000, ge=1, le=1_000_000)
    max_trigger_bytes: int = Field(default=64 * 1024, ge=1, le=MAX_TRIGGER_BYTES)
    delivery: DeliveryPreferences = DeliveryPreferences()

    @field_validator("targeting_cap")
    @classmethod
    def _check_cap(cls, value: int | None) -> int | None:
        if value is not None and value < MIN_TARGETING_CAP:
            raise ValueError(f"targeting cap must be {MIN_TARGETING_CAP} or more, not {value}")
        return value
