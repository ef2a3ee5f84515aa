"""Audience filters: on user properties and on past behaviour (user events).

One filter model serves bulletins and campaigns. Stores evaluate them: the
in-memory store in Python, the SQLite store in SQL (pushed down).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import DefinitionError, _InvalidInputError
from ._base import ValidatedModel
from .data import DataLimits, check_data
from .users import JsonValue

__all__ = [
    "AudienceQuery",
    "Condition",
    "EventFilter",
    "Filter",
    "MatchRule",
    "Operator",
    "PropertyFilter",
    "Segment",
]

MAX_DAYS = 36_500
"""The longest look-back of a filter, a match rule or a segment: a hundred years."""

MAX_COUNT = 1_000_000
"""The largest ``min_count`` of an event filter."""

_OPERAND_LIMITS = DataLimits(allow_non_finite=True)
"""A NaN operand is allowed: it compares false with every value."""

Operator = Literal[
    "eq", "ne", "in", "not_in", "contains", "exists", "not_exists", "gt", "gte", "lt", "lte"
]
"""How a property is compared with ``value``.

``eq``/``ne`` compare equal values (numbers compare numerically, ``1 == 1.0``);
``in``/``not_in`` take a list; ``contains`` is substring for strings and
membership for lists; ``exists``/``not_exists`` ignore ``value`` (null counts
as absent); ``gt``/``gte``/``lt``/``lte`` compare numbers with numbers and
strings with strings, and are false for mixed or missing values.
"""


class _Rule(ValidatedModel):
    """A definition part: a problem raises :class:`~tidings.errors.DefinitionError`."""

    _error_type: ClassVar[type[_InvalidInputError]] = DefinitionError
    _what: ClassVar[str] = "filter"


class Condition(_Rule):
    """One comparison of a property (of a profile or of an event) with a value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str = Field(min_length=1, max_length=120)
    op: Operator = "eq"
    value: JsonValue = None

    @field_validator("value")
    @classmethod
    def _plain_value(cls, value: JsonValue) -> JsonValue:
        check_data(value, "value", _OPERAND_LIMITS)
        return value

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and not isinstance(self.value, int | float | str):
            raise ValueError(f"operator {self.op!r} needs a number or string value")
        return self


class PropertyFilter(Condition):
    """Keep users whose profile property satisfies the condition.

    ``property`` names a key of ``UserProfile.properties``, or one of the
    profile's own fields ``identity``, ``name``, ``email``, ``timezone``.
    """

    kind: Literal["property"] = "property"


class EventFilter(_Rule):
    """Keep users who did (or did not do) an event, with conditions, recently enough.

    ``did=True``: at least ``min_count`` events named ``event`` whose properties
    satisfy every condition in ``where``, within the last ``within_days`` days
    (all time if ``None``). ``did=False``: fewer than ``min_count`` such events.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["event"] = "event"
    event: str = Field(min_length=1, max_length=120)
    did: bool = True
    within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    min_count: int = Field(default=1, ge=1, le=MAX_COUNT)
    where: tuple[Condition, ...] = ()


Filter = Annotated[PropertyFilter | EventFilter, Field(discriminator="kind")]


class MatchRule(_Rule):
    """Bulletin match: a business event property equals a user event's property.

    ``genre`` == ``Movie Watched.genre``: ``business_property="genre"``,
    ``event="Movie Watched"``, ``event_property="genre"``. The value compared
    is the raised business event's property (a string).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_property: str = Field(min_length=1, max_length=120)
    event: str = Field(min_length=1, max_length=120)
    event_property: str = Field(min_length=1, max_length=120)
    within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)


class Segment(_Rule):
    """Who a bulletin starts from: all users, or users engaged in the last N days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["all", "engaged"] = "all"
    engaged_days: int = Field(default=30, ge=1, le=MAX_DAYS)


class AudienceQuery(BaseModel):
    """A resolved audience: segment AND every match (with its value) AND every filter.

    ``matches`` pairs each rule with the value the business event carried; a user
    qualifies when, for every pair, they have an event ``rule.event`` whose
    property ``rule.event_property`` equals that value (string comparison of the
    stored value), within ``rule.within_days`` if set.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    segment: Segment = Segment()
    matches: tuple[tuple[MatchRule, str], ...] = ()
    filters: tuple[Filter, ...] = ()
