"""The PostgreSQL dialect of the filter compiler: JSON values as ``jsonb``.

:mod:`._sql_filters` builds the statement; this module says how PostgreSQL reaches
and tests one JSON value. Differences from SQLite that make this simpler: a key is
looked up with ``props -> 'key'`` (a literal can spell any key, so no Python fallback
is needed), ``jsonb`` equality is JSON equality (``1 = 1.0``, ``true <> 1``, objects by
keys), and numbers compare as ``numeric`` (exact).

PostgreSQL does not promise to evaluate ``AND`` left to right, so every test that
casts a value (to ``numeric``, to an array's elements) is guarded by ``CASE``.
Strings order by code point: ``COLLATE "C"`` on UTF-8 text.
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module generates (table aliases, column names); every value that comes from data or
# filters is bound as a ``%s`` parameter.

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, Final

from ..models.evaluation import PROFILE_FIELDS
from ..models.filters import Operator
from ..models.users import JsonValue
from ._sql_filters import FilterCompiler, sql_literal

__all__ = ["PgFilterCompiler"]

_ORDER: Final = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _number(value: int | float) -> Decimal | None:
    """A number as exact ``numeric``: floats by their shortest repr, as JSON stores them.

    None for NaN, which equals and orders against nothing (as in Python).
    """
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(value)
    return Decimal(value)


def _json_operand(value: JsonValue) -> str | None:
    """``value`` as JSON text for ``::jsonb``, or None when it is no JSON value (NaN, inf)."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None


@dataclass
class PgFilterCompiler(FilterCompiler[str]):
    """The filter compiler for PostgreSQL: ``%s`` parameters, values as ``jsonb`` expressions.

    Property names are spliced as literals (a fragment may use a value more than
    once); connections set ``standard_conforming_strings``, so backslashes in them are
    plain characters. Values from data are always bound as parameters.
    """

    placeholder: ClassVar[str] = "%s"
    true: ClassVar[str] = "true"
    false: ClassVar[str] = "false"

    # Every fragment below is true/false, never NULL.

    def negate(self, test: str) -> str:
        """``NOT test`` (the fragments are never NULL)."""
        return f"(NOT {test})"

    def absent(self, src: str) -> str:
        """The value is missing or JSON null."""
        return f"({src} IS NULL OR {src} = 'null'::jsonb)"

    def equals(self, src: str, operand: JsonValue) -> str:
        """``jsonb`` equality: JSON equality."""
        if operand is None:
            return self.absent(src)
        if isinstance(operand, bool | str | int | float | list | tuple | Mapping):
            text = _json_operand(operand)
            if text is None:
                return "false"
            return f"COALESCE({src} = {self.bind(text)}::jsonb, false)"
        return "false"  # not a JSON value: equal to nothing

    def contains(self, src: str, operand: JsonValue) -> str:
        """A substring of a string value, or an item of an array value."""
        parts = []
        if isinstance(operand, str):
            parts.append(
                f"(CASE WHEN jsonb_typeof({src}) = 'string' "
                f"THEN strpos({src} #>> '{{}}', {self.bind(operand)}) > 0 ELSE false END)"
            )
        item = self.alias("j")
        test = self.equals(f"{item}.value", operand)
        parts.append(
            f"(CASE WHEN jsonb_typeof({src}) = 'array' THEN EXISTS "
            f"(SELECT 1 FROM jsonb_array_elements({src}) {item} WHERE {test}) ELSE false END)"
        )
        return "(" + " OR ".join(parts) + ")"

    def ordered(self, src: str, op: Operator, operand: JsonValue) -> str:
        """Numbers as exact ``numeric``, strings by code point (``COLLATE "C"``)."""
        symbol = _ORDER[op]
        if isinstance(operand, bool):
            return "false"
        if isinstance(operand, int | float):
            number = _number(operand)
            if number is None:
                return "false"
            return (
                f"(CASE WHEN jsonb_typeof({src}) = 'number' "
                f"THEN ({src})::numeric {symbol} {self.bind(number)}::numeric ELSE false END)"
            )
        if isinstance(operand, str):
            return (
                f"(CASE WHEN jsonb_typeof({src}) = 'string' "
                f"THEN ({src} #>> '{{}}') COLLATE \"C\" {symbol} {self.bind(operand)} "
                "ELSE false END)"
            )
        return "false"

    def profile_value(self, key: str) -> str:
        """A profile value: its own field when set, else ``properties[key]`` (see profile_value)."""
        if key == "identity":
            return "to_jsonb(p.identity)"
        lookup = f"(p.props -> {sql_literal(key)}::text)"
        if key in PROFILE_FIELDS:
            return f"COALESCE(to_jsonb(p.{key}), {lookup})"
        return lookup

    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on a profile value (its own field when set, else its property)."""
        return self.condition(self.profile_value(key), op, operand)

    def event_condition(self, event: str, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on property ``key`` of the events row aliased ``event``."""
        return self.condition(f"({event}.props -> {sql_literal(key)}::text)", op, operand)
