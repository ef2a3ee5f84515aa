"""The SQLite store's filters and audiences compiled to SQL (values bound as parameters).

The semantics are :mod:`tidings.audience.evaluate`'s; the in-memory store evaluates
the same filters in Python and differential tests keep the two in agreement.
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module generates (table aliases, JSON path literals with quotes doubled); every value
# that comes from data or filters is bound as a ``?`` parameter.

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, cast

from ..audience.evaluate import (
    PROFILE_FIELDS,
    json_equal,
    value_holds,
    window_start,
)
from ..models.filters import (
    AudienceQuery,
    Condition,
    EventFilter,
    Filter,
    MatchRule,
    Operator,
)
from ..models.users import JsonValue
from ._sqlite_rows import PROFILE_COLUMNS, micros
from .memory import MATCH_VALUE_MAX

__all__ = ["FilterCompiler", "audience_sql", "udf_cond", "udf_json_eq", "where_clause"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


# -- Python functions registered on each connection ---------------------------------


def udf_json_eq(actual: str | None, operand: str) -> int:
    """SQL ``tidings_json_eq(json_text, json_text)``: JSON equality of two documents."""
    # SQL does not short-circuit AND: this also runs on rows whose value is not an
    # array or object (the type test beside it then decides), so non-JSON is "no".
    if not isinstance(actual, str):
        return 0
    try:
        document = json.loads(actual)
    except ValueError:
        return 0
    return int(json_equal(document, json.loads(operand)))


def udf_cond(document: str | None, key: str, op: str, operand: str) -> int:
    """SQL ``tidings_cond(properties, key, op, operand_json)``: one condition, in Python."""
    properties = json.loads(document) if document else {}
    actual = properties.get(key) if isinstance(properties, dict) else None
    return int(value_holds(actual, cast(Operator, op), json.loads(operand)))


# -- Compiling filters to SQL --------------------------------------------------------


def _sql_text(text: str) -> str:
    """A SQL string literal (quotes doubled); used for JSON paths, never for user values."""
    return "'" + text.replace("'", "''") + "'"


def _json_path(key: str) -> str | None:
    """The SQL literal of the JSON path of a top-level key, or None if a path can't spell it.

    SQLite compares quoted path labels with the raw JSON text of keys, so a key is
    spellable when JSON writes it unescaped (no quote, backslash or control character).
    """
    if json.dumps(key, ensure_ascii=False)[1:-1] != key:
        return None
    return _sql_text(f'$."{key}"')


@dataclass(frozen=True)
class _Operand:
    """Where a compared value comes from, as SQL.

    Attributes:
        type: SQL giving the value's JSON type name (``'text'``, ``'integer'``, ...),
            NULL when the key is missing.
        value: SQL giving the value (1/0 for booleans, JSON text for arrays/objects).
        array: ``json_each`` arguments reaching the value when it is an array, if it can be.
    """

    type: str
    value: str
    array: str | None = None


def _property_source(document: str, key: str) -> _Operand | None:
    path = _json_path(key)
    if path is None:
        return None
    return _Operand(
        f"json_type({document}, {path})",
        f"json_extract({document}, {path})",
        f"{document}, {path}",
    )


def _profile_source(key: str) -> _Operand | None:
    """A profile value: its own field when set, else ``properties[key]`` (see profile_value)."""
    if key == "identity":
        return _Operand("'text'", "p.identity")
    if key in PROFILE_FIELDS:
        path = _json_path(key)
        column = f"p.{key}"
        return _Operand(
            f"(CASE WHEN {column} IS NOT NULL THEN 'text' "
            f"ELSE json_type(p.properties, {path}) END)",
            f"COALESCE({column}, json_extract(p.properties, {path}))",
            f"p.properties, {path}",
        )
    return _property_source("p.properties", key)


def _number(value: int | float) -> int | float:
    # sqlite3 cannot bind integers outside 64 bits; such numbers compare approximately.
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return float(value)
    return value


@dataclass
class FilterCompiler:
    """Builds one SQL statement: fragments with ``?`` placeholders and their parameters."""

    now: datetime
    params: list[object] = field(default_factory=list)
    _aliases: int = 0

    def alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def bind(self, value: object) -> str:
        self.params.append(value)
        return "?"

    # Every fragment below is 0/1, never NULL, except comparisons with a NaN operand
    # (bound as NULL); negations wrap IFNULL so NULL counts as false, as in Python.

    def absent(self, src: _Operand) -> str:
        return f"({src.type} IS NULL OR {src.type} IS 'null')"

    def equals(self, src: _Operand, operand: JsonValue) -> str:
        t, x = src.type, src.value
        if operand is None:
            return self.absent(src)
        if isinstance(operand, bool):
            return f"({t} IS '{'true' if operand else 'false'}')"
        if isinstance(operand, int | float):
            return f"(({t} IS 'integer' OR {t} IS 'real') AND {x} = {self.bind(_number(operand))})"
        if isinstance(operand, str):
            return f"({t} IS 'text' AND {x} = {self.bind(operand)})"
        if isinstance(operand, list | tuple | Mapping):
            kind = "object" if isinstance(operand, Mapping) else "array"
            text = json.dumps(operand)
            return f"({t} IS '{kind}' AND tidings_json_eq({x}, {self.bind(text)}))"
        return "0"  # not a JSON value: equal to nothing

    def contains(self, src: _Operand, operand: JsonValue) -> str:
        parts = []
        if isinstance(operand, str):
            parts.append(f"({src.type} IS 'text' AND instr({src.value}, {self.bind(operand)}) > 0)")
        if src.array is not None:
            item = self.alias("j")
            test = self.equals(_Operand(f"{item}.type", f"{item}.value"), operand)
            parts.append(
                f"({src.type} IS 'array' AND EXISTS "
                f"(SELECT 1 FROM json_each({src.array}) {item} WHERE {test}))"
            )
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def ordered(self, src: _Operand, op: Operator, operand: JsonValue) -> str:
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        if isinstance(operand, bool):
            return "0"
        if isinstance(operand, int | float):
            bound = self.bind(_number(operand))
            numeric = f"({src.type} IS 'integer' OR {src.type} IS 'real')"
            return f"({numeric} AND {src.value} {symbol} {bound})"
        if isinstance(operand, str):
            return f"({src.type} IS 'text' AND {src.value} {symbol} {self.bind(operand)})"
        return "0"

    def condition(self, src: _Operand, op: Operator, operand: JsonValue) -> str:
        if op == "eq":
            return self.equals(src, operand)
        if op == "ne":
            return f"(NOT IFNULL({self.equals(src, operand)}, 0))"
        if op in ("in", "not_in"):
            tests = [self.equals(src, item) for item in operand]
            any_sql = "(" + " OR ".join(tests) + ")" if tests else "0"
            return any_sql if op == "in" else f"(NOT IFNULL({any_sql}, 0))"
        if op == "contains":
            return self.contains(src, operand)
        if op == "exists":
            return f"({src.type} IS NOT NULL AND {src.type} IS NOT 'null')"
        if op == "not_exists":
            return self.absent(src)
        return self.ordered(src, op, operand)

    def python_condition(self, document: str, key: str, op: Operator, operand: JsonValue) -> str:
        # A key a JSON path cannot spell: evaluate this one condition in Python, per row.
        key_p, op_p, operand_p = self.bind(key), self.bind(op), self.bind(json.dumps(operand))
        return f"tidings_cond({document}, {key_p}, {op_p}, {operand_p})"

    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        src = _profile_source(key)
        if src is None:
            return self.python_condition("p.properties", key, op, operand)
        return self.condition(src, op, operand)

    def event_condition(self, document: str, key: str, op: Operator, operand: JsonValue) -> str:
        src = _property_source(document, key)
        if src is None:
            return self.python_condition(document, key, op, operand)
        return self.condition(src, op, operand)

    def since(self, column: str, days: int | None) -> list[str]:
        start = window_start(self.now, days)
        return [] if start is None else [f"{column} >= {self.bind(micros(start))}"]

    def event_filter(self, rule: EventFilter) -> str:
        e = self.alias("e")
        tests = [f"{e}.identity = p.identity", f"{e}.name = {self.bind(rule.event)}"]
        tests += self.since(f"{e}.ts", rule.within_days)
        tests += [
            self.event_condition(f"{e}.properties", c.property, c.op, c.value) for c in rule.where
        ]
        body = f"FROM events {e} WHERE " + " AND ".join(tests)
        if rule.min_count == 1:
            test = f"EXISTS (SELECT 1 {body})"
        else:
            # LIMIT stops counting once min_count events are found.
            n = rule.min_count
            test = f"((SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {n})) >= {n})"
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
        # Values this long are not in event_props; only strings are this long (an
        # integer of over 256 digits is beyond SQLite's numbers anyway): scan events.
        scan = EventFilter(
            event=rule.event,
            within_days=rule.within_days,
            where=(Condition(property=rule.compared[1], op="eq", value=value),),
        )
        return self.event_filter(scan)


def where_clause(tests: Sequence[str]) -> str:
    return " AND ".join(tests) if tests else "1"


def audience_sql(
    query: AudienceQuery, now: datetime, columns: str = PROFILE_COLUMNS
) -> tuple[str, list[object]]:
    """The audience query: one SELECT, ordered by identity, with everything pushed down."""
    sql = FilterCompiler(now)
    tests: list[str] = []
    source = "profiles p"
    order = "p.identity"
    matches = list(query.matches)
    driver = next(
        (i for i, (_, value) in enumerate(matches) if len(value) <= MATCH_VALUE_MAX), None
    )
    if driver is not None:
        # Start from the users who have the matched value: an index range scan on
        # event_props in identity order, then a primary-key lookup in profiles.
        # CROSS JOIN pins that join order.
        rule, value = matches.pop(driver)
        source = "event_props d CROSS JOIN profiles p"
        order = "d.identity"
        tests += sql.match_lookup("d", rule, value)
        tests.append("p.identity = d.identity")
    if query.segment.kind == "engaged":
        e = sql.alias("e")
        since = sql.since(f"{e}.ts", query.segment.engaged_days)[0]
        tests.append(
            f"EXISTS (SELECT 1 FROM events {e} WHERE {e}.identity = p.identity AND {since})"
        )
    tests += [sql.match(rule, value) for rule, value in matches]
    tests += sql.filters(query.filters)
    statement = f"SELECT {columns} FROM {source} WHERE {where_clause(tests)} ORDER BY {order}"
    return statement, sql.params
