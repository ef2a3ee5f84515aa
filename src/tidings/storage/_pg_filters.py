"""The PostgreSQL store's filters and audiences compiled to SQL (values bound as parameters).

The mirror of :mod:`tidings.storage._sqlite_filters` for ``jsonb``: the semantics
are :mod:`tidings.audience.evaluate`'s, and the store contract tests run the same
cases on memory, SQLite and PostgreSQL. Differences from SQLite that make this
simpler: a key is looked up with ``props -> %s`` (any key, bound as a parameter,
so no Python fallback is needed), ``jsonb`` equality is JSON equality (``1 = 1.0``,
``true <> 1``, objects by keys), and numbers compare as ``numeric`` (exact).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Final

from ..audience.evaluate import PROFILE_FIELDS, window_start
from ..models.filters import (
    AudienceQuery,
    Condition,
    EventFilter,
    Filter,
    MatchRule,
    Operator,
)
from ..models.users import JsonValue
from ._sqlite_rows import micros
from .memory import MATCH_VALUE_MAX

__all__ = ["PG_LIGHT_PROFILE_COLUMNS", "PG_PROFILE_COLUMNS", "PgFilterCompiler", "pg_audience_sql"]

PG_PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone, p.properties"
PG_LIGHT_PROFILE_COLUMNS: Final = "p.identity, p.name, p.email, p.push_tokens, p.timezone"

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


def _literal(text: str) -> str:
    """A SQL string literal (quotes doubled) for a property name.

    Names are spliced because a fragment may use its value more than once.
    Connections set ``standard_conforming_strings``, so backslashes are plain
    characters; values from data are always bound as parameters instead.
    """
    return "'" + text.replace("'", "''") + "'"


def _json_operand(value: JsonValue) -> str | None:
    """``value`` as JSON text for ``::jsonb``, or None when it is no JSON value (NaN, inf)."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None


@dataclass
class PgFilterCompiler:
    """Builds one SQL statement: fragments with ``%s`` placeholders and their parameters."""

    now: datetime
    params: list[object] = field(default_factory=list)
    _aliases: int = 0

    def alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "%s"

    # Every fragment below is true/false, never NULL.

    def absent(self, x: str) -> str:
        return f"({x} IS NULL OR {x} = 'null'::jsonb)"

    def equals(self, x: str, operand: JsonValue) -> str:
        if operand is None:
            return self.absent(x)
        if isinstance(operand, bool | str | int | float | list | tuple | Mapping):
            text = _json_operand(operand)
            if text is None:
                return "false"
            return f"COALESCE({x} = {self.bind(text)}::jsonb, false)"
        return "false"  # not a JSON value: equal to nothing

    def contains(self, x: str, operand: JsonValue) -> str:
        parts = []
        if isinstance(operand, str):
            parts.append(
                f"(CASE WHEN jsonb_typeof({x}) = 'string' "
                f"THEN strpos({x} #>> '{{}}', {self.bind(operand)}) > 0 ELSE false END)"
            )
        item = self.alias("j")
        test = self.equals(f"{item}.value", operand)
        parts.append(
            f"(CASE WHEN jsonb_typeof({x}) = 'array' THEN EXISTS "
            f"(SELECT 1 FROM jsonb_array_elements({x}) {item} WHERE {test}) ELSE false END)"
        )
        return "(" + " OR ".join(parts) + ")"

    def ordered(self, x: str, op: Operator, operand: JsonValue) -> str:
        symbol = _ORDER[op]
        if isinstance(operand, bool):
            return "false"
        if isinstance(operand, int | float):
            number = _number(operand)
            if number is None:
                return "false"
            return (
                f"(CASE WHEN jsonb_typeof({x}) = 'number' "
                f"THEN ({x})::numeric {symbol} {self.bind(number)}::numeric ELSE false END)"
            )
        if isinstance(operand, str):
            return (
                f"(CASE WHEN jsonb_typeof({x}) = 'string' "
                f"THEN ({x} #>> '{{}}') COLLATE \"C\" {symbol} {self.bind(operand)} "
                "ELSE false END)"
            )
        return "false"

    def condition(self, x: str, op: Operator, operand: JsonValue) -> str:
        if op == "eq":
            return self.equals(x, operand)
        if op == "ne":
            return f"(NOT {self.equals(x, operand)})"
        if op in ("in", "not_in"):
            tests = [self.equals(x, item) for item in operand]
            any_sql = "(" + " OR ".join(tests) + ")" if tests else "false"
            return any_sql if op == "in" else f"(NOT {any_sql})"
        if op == "contains":
            return self.contains(x, operand)
        if op == "exists":
            return f"(NOT {self.absent(x)})"
        if op == "not_exists":
            return self.absent(x)
        return self.ordered(x, op, operand)

    def profile_value(self, key: str) -> str:
        """A profile value: its own field when set, else ``properties[key]`` (see profile_value)."""
        if key == "identity":
            return "to_jsonb(p.identity)"
        lookup = f"(p.props -> {_literal(key)}::text)"
        if key in PROFILE_FIELDS:
            return f"COALESCE(to_jsonb(p.{key}), {lookup})"
        return lookup

    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        return self.condition(self.profile_value(key), op, operand)

    def since(self, column: str, days: int | None) -> list[str]:
        start = window_start(self.now, days)
        return [] if start is None else [f"{column} >= {self.bind(micros(start))}"]

    def event_filter(self, rule: EventFilter) -> str:
        e = self.alias("e")
        tests = [f"{e}.identity = p.identity", f"{e}.name = {self.bind(rule.event)}"]
        tests += self.since(f"{e}.ts", rule.within_days)
        tests += [
            self.condition(f"({e}.props -> {_literal(c.property)}::text)", c.op, c.value)
            for c in rule.where
        ]
        body = f"FROM events {e} WHERE " + " AND ".join(tests)
        if rule.min_count == 1:
            test = f"EXISTS (SELECT 1 {body})"
        else:
            n = rule.min_count  # LIMIT stops counting once min_count events are found.
            test = f"((SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {n}) c) >= {n})"
        return test if rule.did else f"(NOT {test})"

    def filters(self, filters: Sequence[Filter]) -> list[str]:
        return [
            self.event_filter(rule)
            if isinstance(rule, EventFilter)
            else self.property_filter(rule.property, rule.op, rule.value)
            for rule in filters
        ]

    def match_lookup(self, alias: str, rule: MatchRule, value: str) -> list[str]:
        """Conditions on an ``event_props`` row for one indexed match."""
        return [
            f"{alias}.event_name = {self.bind(rule.event)}",
            f"{alias}.prop = {self.bind(rule.compared[1])}",
            f"{alias}.value = {self.bind(value)}",
            *self.since(f"{alias}.last_ts", rule.within_days),
        ]

    def match(self, rule: MatchRule, value: str) -> str:
        if len(value) <= MATCH_VALUE_MAX:
            m = self.alias("m")
            tests = [*self.match_lookup(m, rule, value), f"{m}.identity = p.identity"]
            return f"EXISTS (SELECT 1 FROM event_props {m} WHERE {' AND '.join(tests)})"
        # Values this long are not in event_props (only strings are this long): scan events.
        scan = EventFilter(
            event=rule.event,
            within_days=rule.within_days,
            where=(Condition(property=rule.compared[1], op="eq", value=value),),
        )
        return self.event_filter(scan)


def pg_where(tests: Sequence[str]) -> str:
    return " AND ".join(tests) if tests else "true"


def pg_audience_sql(
    query: AudienceQuery, now: datetime, columns: str = PG_PROFILE_COLUMNS
) -> tuple[str, list[object]]:
    """The audience query: one SELECT, ordered by identity, with everything pushed down."""
    sql = PgFilterCompiler(now)
    tests: list[str] = []
    source = "profiles p"
    matches = list(query.matches)
    driver = next(
        (i for i, (_, value) in enumerate(matches) if len(value) <= MATCH_VALUE_MAX), None
    )
    if driver is not None:
        # Start from the users who have the matched value (an index range scan of
        # event_props, already in identity order), then join profiles by key.
        rule, value = matches.pop(driver)
        source = "event_props d JOIN profiles p ON p.identity = d.identity"
        tests += sql.match_lookup("d", rule, value)
    if query.segment.kind == "engaged":
        e = sql.alias("e")
        since = sql.since(f"{e}.ts", query.segment.engaged_days)[0]
        tests.append(
            f"EXISTS (SELECT 1 FROM events {e} WHERE {e}.identity = p.identity AND {since})"
        )
    tests += [sql.match(rule, value) for rule, value in matches]
    tests += sql.filters(query.filters)
    statement = f"SELECT {columns} FROM {source} WHERE {pg_where(tests)} ORDER BY p.identity"
    return statement, sql.params
