"""What marketers define: business events, control groups, goals, schedules, settings.

The two definitions that carry a channel message, :class:`~tidings.campaigns.Bulletin`
and :class:`~tidings.campaigns.ExternalTriggerCampaign`, live one layer up in
:mod:`tidings.campaigns`, beside the channels they hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from ..errors import DefinitionError, _InvalidInputError
from ._base import ValidatedModel
from .filters import Condition
from .instants import check_instant
from .preferences import FrequencyCap
from .users import check_timezone

__all__ = [
    "FROZEN",
    "MAX_EVENT_KEY_LENGTH",
    "BusinessEventDefinition",
    "ControlGroup",
    "CustomControlGroup",
    "DefinitionModel",
    "Goal",
    "Schedule",
    "WorkspaceSettings",
]

MAX_EVENT_KEY_LENGTH = 120
"""Event keys (names and property names) are limited to 120 characters (vendor rule)."""

MIN_TARGETING_CAP = 100
"""The vendor rejects a campaign limit below 100."""

MAX_TARGETING_CAP: Final = 1_000_000_000
"""The largest targeting cap (a billion users)."""

MAX_TTL_SECONDS: Final = 366 * 24 * 3600
"""The longest time-to-live: a year."""

MAX_TRIGGER_BYTES: Final = 16 * 1024 * 1024
"""The largest ``max_trigger_bytes`` a campaign may set (16 MiB)."""

FROZEN: Final = ConfigDict(frozen=True, extra="forbid")


class DefinitionModel(ValidatedModel):
    """A definition: a problem raises :class:`DefinitionError` naming the field."""

    model_config = FROZEN
    _error_type: ClassVar[type[_InvalidInputError]] = DefinitionError
    _what: ClassVar[str] = "definition"


class Goal(DefinitionModel):
    """A conversion goal: the user event that counts, with conditions, and how long after the send.

    ``where``: conditions on the goal event's properties, all of which must hold
    (the guide's "purchased worth at least X": ``{"event": "Charged", "where":
    [{"property": "amount", "op": "gte", "value": 500}]}``). Operators as in an
    event filter (:data:`~tidings.models.filters.Operator`).
    """

    model_config = FROZEN
    _what: ClassVar[str] = "goal"

    event: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    window_hours: int = Field(default=24, ge=1, le=24 * 90)
    where: tuple[Condition, ...] = ()


class BusinessEventDefinition(DefinitionModel):
    """A business event (``Program Released``) and the properties it must carry."""

    model_config = FROZEN
    _what: ClassVar[str] = "business event"

    name: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    properties: tuple[str, ...] = ()
    goal: Goal | None = None

    @model_validator(mode="after")
    def _check_properties(self) -> BusinessEventDefinition:
        for prop in self.properties:
            if not prop or len(prop) > MAX_EVENT_KEY_LENGTH:
                raise ValueError(
                    f"property name {prop!r} must be 1 to {MAX_EVENT_KEY_LENGTH} characters"
                )
        if len(set(self.properties)) != len(self.properties):
            raise ValueError("property names must be unique")
        return self


class ControlGroup(DefinitionModel):
    """Who is held out: a share of this campaign's users, or a named custom group.

    ``kind="campaign"``: ``percent`` of this campaign's (or bulletin's) eligible
    users. ``kind="custom"``: the workspace-wide group named ``group`` (see
    :class:`CustomControlGroup`), shared by every campaign that chooses it.
    """

    model_config = FROZEN
    _what: ClassVar[str] = "control group"

    kind: Literal["campaign", "custom"] = "campaign"
    percent: float = Field(default=0.0, ge=0.0, le=100.0)
    group: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ControlGroup:
        if self.kind == "custom" and not self.group:
            raise ValueError("a custom control group needs the group's name")
        return self


class CustomControlGroup(DefinitionModel):
    """A named, workspace-wide hold-out: a fixed share of all users or an explicit list."""

    model_config = FROZEN
    _what: ClassVar[str] = "control group"

    name: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    percent: float = Field(default=0.0, ge=0.0, le=100.0)
    identities: frozenset[str] = frozenset()


class Schedule(DefinitionModel):
    """When a campaign may be triggered, and until when its messages may go out.

    A trigger before ``start`` or after ``end`` is refused. ``cutoff``: a delivery
    whose send time (after a DND delay or a local send time) falls after it is
    dropped (``past_cutoff``).
    """

    model_config = FROZEN
    _what: ClassVar[str] = "schedule"

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    cutoff: AwareDatetime | None = None

    @field_validator("start", "end", "cutoff")
    @classmethod
    def _usable_instant(cls, value: datetime | None) -> datetime | None:
        return None if value is None else check_instant(value)

    @model_validator(mode="after")
    def _end_after_start(self) -> Schedule:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("the schedule's end must be after its start")
        if self.start is not None and self.cutoff is not None and self.cutoff <= self.start:
            raise ValueError("the schedule's cut-off must be after its start")
        return self

    def refusal(self, now: datetime) -> str | None:
        """Why a trigger at ``now`` is refused, or None when the campaign is running."""
        if self.start is not None and now < self.start:
            return f"Campaign has not started: it starts at {self.start.isoformat()}"
        if self.end is not None and now > self.end:
            return f"Campaign has ended: it ended at {self.end.isoformat()}"
        return None


class WorkspaceSettings(DefinitionModel):
    """Workspace-wide delivery settings.

    Attributes:
        default_timezone: The zone of users whose profile has none (IANA name).
        frequency_caps: Global limits on messages per user per local day/week,
            per channel or across channels; campaigns may opt out.
    """

    model_config = FROZEN
    _what: ClassVar[str] = "settings"

    default_timezone: str = "UTC"
    frequency_caps: tuple[FrequencyCap, ...] = ()

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)
