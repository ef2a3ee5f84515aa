"""The SQLite dialect of the filter compiler: JSON values reached with ``json_extract``.

:mod:`._sql_filters` builds the statement; this module says how SQLite reaches and
tests one JSON value: by ``json_type`` (so ``true`` is never ``1`` and a JSON array is
never its text), numbers bound as numbers and strings as strings. Two cases are
finished by small Python functions registered on each connection (still inside SQL,
so event filters stay pushed down): comparing with a list or object operand
(``tidings_json_eq``) and property names that a JSON path cannot spell
(``tidings_cond``).
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module generates (table aliases, JSON path literals with quotes doubled); every value
# that comes from data or filters is bound as a ``?`` parameter.

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Final, cast

from ..models.evaluation import PROFILE_FIELDS, json_equal, value_holds
from ..models.filters import Operator
from ..models.users import JsonValue
from ._sql_filters import FilterCompiler, sql_literal

__all__ = ["SQLiteFilterCompiler", "udf_cond", "udf_json_eq"]

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


def _json_path(key: str) -> str | None:
    """The SQL literal of the JSON path of a top-level key, or None if a path can't spell it.

    SQLite compares quoted path labels with the raw JSON text of keys, so a key is
    spellable when JSON writes it unescaped (no quote, backslash or control character).
    """
    if json.dumps(key, ensure_ascii=False)[1:-1] != key:
        return None
    return sql_literal(f'$."{key}"')


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
class SQLiteFilterCompiler(FilterCompiler[_Operand]):
    """The filter compiler for SQLite: ``?`` parameters, values reached by JSON path."""

    placeholder: ClassVar[str] = "?"
    true: ClassVar[str] = "1"
    false: ClassVar[str] = "0"
    # CROSS JOIN pins the join order: event_props first, then profiles by key.
    driven_from: ClassVar[str] = "event_props d CROSS JOIN profiles p"
    driven_join: ClassVar[str | None] = "p.identity = d.identity"
    driven_order: ClassVar[str] = "d.identity"

    # Every fragment below is 0/1, never NULL, except comparisons with a NaN operand
    # (bound as NULL); negations wrap IFNULL so NULL counts as false, as in Python.

    def negate(self, test: str) -> str:
        """``NOT test``, NULL counting as false."""
        return f"(NOT IFNULL({test}, 0))"

    def absent(self, src: _Operand) -> str:
        """The value is missing or JSON null."""
        return f"({src.type} IS NULL OR {src.type} IS 'null')"

    def exists(self, src: _Operand) -> str:
        """The value is present and not JSON null."""
        return f"({src.type} IS NOT NULL AND {src.type} IS NOT 'null')"

    def equals(self, src: _Operand, operand: JsonValue) -> str:
        """JSON equality, by type first."""
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
        """A substring of a text value, or an item of an array value."""
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
        """Numbers with numbers, text with text (SQLite's BINARY order: code points)."""
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

    def python_condition(self, document: str, key: str, op: Operator, operand: JsonValue) -> str:
        """A key a JSON path cannot spell: this one condition evaluated in Python, per row."""
        key_p, op_p, operand_p = self.bind(key), self.bind(op), self.bind(json.dumps(operand))
        return f"tidings_cond({document}, {key_p}, {op_p}, {operand_p})"

    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on a profile value (its own field when set, else its property)."""
        src = _profile_source(key)
        if src is None:
            return self.python_condition("p.properties", key, op, operand)
        return self.condition(src, op, operand)

    def event_condition(self, event: str, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on property ``key`` of the events row aliased ``event``."""
        document = f"{event}.properties"
        src = _property_source(document, key)
        if src is None:
            return self.python_condition(document, key, op, operand)
        return self.condition(src, op, operand)
