"""What marketers define: business events, bulletins, External Trigger campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final, Literal

from pydantic import AwareDatetime, ConfigDict, Field, field_validator, model_validator

from ..channels import MessageField
from ..errors import DefinitionError, _InvalidInputError
from ._base import ValidatedModel
from .filters import Condition, Filter, MatchRow, Segment
from .instants import check_instant
from .preferences import DeliveryPreferences, FrequencyCap
from .users import check_timezone

__all__ = [
    "MAX_EVENT_KEY_LENGTH",
    "Bulletin",
    "BusinessEventDefinition",
    "ControlGroup",
    "CustomControlGroup",
    "ExternalTriggerCampaign",
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

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class _Definition(ValidatedModel):
    """A definition: a problem raises :class:`DefinitionError` naming the field."""

    model_config = _FROZEN
    _error_type: ClassVar[type[_InvalidInputError]] = DefinitionError
    _what: ClassVar[str] = "definition"


class Goal(_Definition):
    """A conversion goal: the user event that counts, with conditions, and how long after the send.

    ``where``: conditions on the goal event's properties, all of which must hold
    (the guide's "purchased worth at least X": ``{"event": "Charged", "where":
    [{"property": "amount", "op": "gte", "value": 500}]}``). Operators as in an
    event filter (:data:`~tidings.models.filters.Operator`).
    """

    model_config = _FROZEN
    _what: ClassVar[str] = "goal"

    event: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    window_hours: int = Field(default=24, ge=1, le=24 * 90)
    where: tuple[Condition, ...] = ()


class BusinessEventDefinition(_Definition):
    """A business event (``Program Released``) and the properties it must carry."""

    model_config = _FROZEN
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


class ControlGroup(_Definition):
    """Who is held out: a share of this campaign's users, or a named custom group.

    ``kind="campaign"``: ``percent`` of this campaign's (or bulletin's) eligible
    users. ``kind="custom"``: the workspace-wide group named ``group`` (see
    :class:`CustomControlGroup`), shared by every campaign that chooses it.
    """

    model_config = _FROZEN
    _what: ClassVar[str] = "control group"

    kind: Literal["campaign", "custom"] = "campaign"
    percent: float = Field(default=0.0, ge=0.0, le=100.0)
    group: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ControlGroup:
        if self.kind == "custom" and not self.group:
            raise ValueError("a custom control group needs the group's name")
        return self


class CustomControlGroup(_Definition):
    """A named, workspace-wide hold-out: a fixed share of all users or an explicit list."""

    model_config = _FROZEN
    _what: ClassVar[str] = "control group"

    name: str = Field(min_length=1, max_length=MAX_EVENT_KEY_LENGTH)
    percent: float = Field(default=0.0, ge=0.0, le=100.0)
    identities: frozenset[str] = frozenset()


class Schedule(_Definition):
    """When a campaign may be triggered, and until when its messages may go out.

    A trigger before ``start`` or after ``end`` is refused. ``cutoff``: a delivery
    whose send time (after a DND delay or a local send time) falls after it is
    dropped (``past_cutoff``).
    """

    model_config = _FROZEN
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


class Bulletin(_Definition):
    """A message dispatched to matching users each time its business event is raised."""

    model_config = _FROZEN
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


class ExternalTriggerCampaign(_Definition):
    """A message written once and sent when a service triggers it for some users.

    ``id`` is assigned when the campaign is published (unless given).
    """

    model_config = _FROZEN
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


class WorkspaceSettings(_Definition):
    """Workspace-wide delivery settings.

    Attributes:
        default_timezone: The zone of users whose profile has none (IANA name).
        frequency_caps: Global limits on messages per user per local day/week,
            per channel or across channels; campaigns may opt out.
    """

    model_config = _FROZEN
    _what: ClassVar[str] = "settings"

    default_timezone: str = "UTC"
    frequency_caps: tuple[FrequencyCap, ...] = ()

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)
