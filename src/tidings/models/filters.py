"""Audience filters: on user properties and on past behaviour (user events).

One filter model serves bulletins and campaigns. Stores evaluate them: the
in-memory store in Python, the SQLite store in SQL (pushed down).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, ClassVar, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from ..errors import DefinitionError, _InvalidInputError
from ._base import ValidatedModel
from .data import DataLimits, check_data
from .users import JsonValue

__all__ = [
    "AudienceQuery",
    "ComparedProperties",
    "Condition",
    "EventFilter",
    "Filter",
    "MatchCondition",
    "MatchOperator",
    "MatchRow",
    "MatchRule",
    "Operator",
    "ProfileMatch",
    "PropertyFilter",
    "Segment",
    "match_row_business_properties",
]

MAX_DAYS = 36_500
"""The longest look-back of a filter, a match rule or a segment: a hundred years."""

MAX_MATCH_CONDITIONS = 50
"""The most conditions a match row may add with ``where``."""

MAX_COUNT = 1_000_000
"""The largest ``min_count`` of an event filter."""

_OPERAND_LIMITS = DataLimits(allow_non_finite=True)
"""A NaN operand is allowed: it compares false with every value."""


def _plain_operand(value: JsonValue) -> JsonValue:
    check_data(value, "value", _OPERAND_LIMITS)
    return value


Operand = Annotated[JsonValue, AfterValidator(_plain_operand)]
"""A condition's ``value``: plain JSON-like data within the operand limits."""

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
    value: Operand = None

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


MatchOperator = Literal["eq", "ne", "in", "contains", "gt", "gte", "lt", "lte"]
"""How a match condition compares a property with its operand (see :class:`MatchCondition`)."""

_DECIMAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ORDERED: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})


def _business_operand(op: MatchOperator, text: str) -> tuple[Operator, JsonValue]:
    """The filter operator and operand a business-event value gives (see MatchCondition)."""
    if op in ("eq", "ne"):
        if _DECIMAL_INTEGER.fullmatch(text) and len(text) <= _MAX_INTEGER_DIGITS:
            # The value text of an integer property is its decimal spelling.
            return ("in" if op == "eq" else "not_in"), [text, int(text)]
        return op, text
    if op in _ORDERED:
        number = _number_from_text(text)
        return op, text if number is None else number
    return op, text


_MAX_INTEGER_DIGITS = 18
"""Longer integer spellings are not read as integers: SQLite's are 64-bit."""


def _number_from_text(text: str) -> int | float | None:
    """The number a JSON number spelling gives (an integer when exact), else None."""
    if _DECIMAL_INTEGER.fullmatch(text) and len(text) <= _MAX_INTEGER_DIGITS:
        return int(text)
    if not _JSON_NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


class MatchCondition(_Rule):
    """One condition of a match row: a property compared with a business value or a literal.

    ``property`` names the row's event property (or, in a :class:`ProfileMatch`, a
    profile property). The operand is the raised business event's
    ``business_property`` when set, else the literal ``value``.

    Against a business value (business event properties are text):

    * ``eq``/``ne``: the property's text equals it: a string as it is, an integer
      in decimal (``123457`` equals ``"123457"``);
    * ``contains``: substring of a string property, or an item of a list property;
    * ``gt``/``gte``/``lt``/``lte``: a value that spells a number compares as that
      number (``"100"`` < ``250``), any other as a string;
    * ``in`` takes a list literal only.

    Against a literal, the operators mean what they mean in filters (:data:`Operator`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    property: str = Field(min_length=1, max_length=120)
    op: MatchOperator = "eq"
    business_property: str | None = Field(default=None, min_length=1, max_length=120)
    value: Operand = None

    @model_validator(mode="after")
    def _one_operand(self) -> MatchCondition:
        if self.business_property is not None:
            if self.value is not None:
                raise ValueError("give either business_property or value, not both")
            if self.op == "in":
                raise ValueError("operator 'in' needs a list value, not a business property")
            return self
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("operator 'in' needs a list value")
        if self.op in _ORDERED and not isinstance(self.value, int | float | str):
            raise ValueError(f"operator {self.op!r} needs a number or string value")
        if isinstance(self.value, bool) and self.op in _ORDERED:
            raise ValueError(f"operator {self.op!r} needs a number or string value")
        return self

    def resolve(self, business: Mapping[str, str]) -> Condition:
        """The condition with its operand read from the raised business event's properties.

        Raises:
            KeyError: ``business_property`` is not among ``business``.
        """
        if self.business_property is None:
            return Condition(property=self.property, op=self.op, value=self.value)
        op, operand = _business_operand(self.op, business[self.business_property])
        return Condition(property=self.property, op=op, value=operand)


class ComparedProperties(NamedTuple):
    """The two properties a single-condition match row compares for equality."""

    business: str
    """The business event's property."""
    event: str
    """The user event's property."""


class MatchRule(_Rule):
    """A match row on one user event: a past event satisfying every condition of the row.

    A user matches the row when ONE of their events named ``event``, within the
    last ``within_days`` days (all time if None), satisfies all of the row's
    conditions together ("watched program 123457 *in Tamil*" is one event).

    The single-condition form ``genre == Movie Watched.genre``
    (``business_property="genre"``, ``event="Movie Watched"``,
    ``event_property="genre"``) is a row of one condition; ``where`` adds further
    conditions on the same event.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["event"] = "event"
    event: str = Field(min_length=1, max_length=120)
    business_property: str | None = Field(default=None, min_length=1, max_length=120)
    event_property: str | None = Field(default=None, min_length=1, max_length=120)
    where: tuple[MatchCondition, ...] = Field(default=(), max_length=MAX_MATCH_CONDITIONS)
    within_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)

    @model_validator(mode="after")
    def _some_condition(self) -> MatchRule:
        if (self.business_property is None) != (self.event_property is None):
            raise ValueError("business_property and event_property go together")
        if self.business_property is None and not self.where:
            raise ValueError("a match row needs at least one condition")
        return self

    @property
    def indexed(self) -> bool:
        """Whether the row is the single-condition form (served by the match index)."""
        return self.business_property is not None and not self.where

    @property
    def compared(self) -> ComparedProperties:
        """The single-condition form's business property and event property.

        Raises:
            ValueError: The row is not the single-condition form (see :attr:`indexed`).
        """
        if self.business_property is None or self.event_property is None or self.where:
            raise ValueError("only a single-condition match row compares one property")
        return ComparedProperties(self.business_property, self.event_property)

    def conditions(self) -> tuple[MatchCondition, ...]:
        """Every condition of the row, the single-condition form's first."""
        if self.business_property is None or self.event_property is None:
            return self.where
        head = MatchCondition(
            property=self.event_property, business_property=self.business_property
        )
        return (head, *self.where)


class ProfileMatch(MatchCondition):
    """A match row on a profile property: ``Profile.language == BusinessEvent.language``.

    ``property`` names a profile property as in :class:`PropertyFilter`
    (``identity``, ``name``, ``email``, ``timezone`` or a key of ``properties``).
    """

    kind: Literal["profile"] = "profile"

    def resolve_filter(self, business: Mapping[str, str]) -> PropertyFilter:
        """The row as a property filter, its operand read from the business event."""
        condition = self.resolve(business)
        return PropertyFilter(property=condition.property, op=condition.op, value=condition.value)


def _row_kind(row: object) -> str:
    kind = row.get("kind", "event") if isinstance(row, Mapping) else getattr(row, "kind", "event")
    return kind if kind in ("event", "profile") else "event"


MatchRow = Annotated[
    Annotated[MatchRule, Tag("event")] | Annotated[ProfileMatch, Tag("profile")],
    Discriminator(_row_kind),
]
"""One row of a bulletin's match: a :class:`MatchRule` (the default) or a :class:`ProfileMatch`."""


def match_row_business_properties(row: MatchRule | ProfileMatch) -> tuple[str, ...]:
    """The business-event properties a match row reads."""
    conditions = row.conditions() if isinstance(row, MatchRule) else (row,)
    return tuple(c.business_property for c in conditions if c.business_property is not None)


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

    @model_validator(mode="after")
    def _single_condition_matches(self) -> AudienceQuery:
        for rule, _ in self.matches:
            if not rule.indexed:
                raise ValueError(
                    "matches take single-condition rows; build other rows with for_rows"
                )
        return self

    @classmethod
    def for_rows(
        cls,
        rows: Sequence[MatchRule | ProfileMatch],
        business: Mapping[str, str],
        *,
        segment: Segment | None = None,
        filters: Sequence[Filter] = (),
    ) -> AudienceQuery:
        """The audience of match rows (ANDed) for a raised business event's properties.

        Single-condition rows become indexed ``matches``; a row with several
        conditions becomes an :class:`EventFilter` (one event satisfying all of
        them) and a profile row a :class:`PropertyFilter`, ahead of ``filters``.

        Raises:
            KeyError: A row reads a business property ``business`` does not carry.
        """
        matches: list[tuple[MatchRule, str]] = []
        resolved: list[Filter] = []
        for row in rows:
            if isinstance(row, ProfileMatch):
                resolved.append(row.resolve_filter(business))
            elif row.indexed:
                matches.append((row, business[row.compared.business]))
            else:
                resolved.append(
                    EventFilter(
                        event=row.event,
                        within_days=row.within_days,
                        where=tuple(c.resolve(business) for c in row.conditions()),
                    )
                )
        return cls(
            segment=segment or Segment(),
            matches=tuple(matches),
            filters=(*resolved, *filters),
        )
