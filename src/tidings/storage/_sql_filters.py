"""Filters and audiences compiled to one SQL statement: the compiler both SQL stores share.

The semantics are :mod:`tidings.models.evaluation`'s; the in-memory store evaluates the
same filters in Python, and differential tests keep memory, SQLite and PostgreSQL in
agreement. This module holds everything that does not depend on the database: the
audience query's shape (which table drives it, the engaged segment, bulletin matches,
filters), event filters, the operators' logic and parameter binding. A dialect
(:mod:`._sqlite_filters`, :mod:`._pg_filters`) supplies how one JSON value is reached
and tested: a subclass of :class:`FilterCompiler` for its kind of value source.
"""

# ruff: noqa: S608
# S608 (SQL built with f-strings): the f-strings here only splice SQL fragments this
# module or a dialect generates (table aliases, column names, literals of property names
# with quotes doubled); every value that comes from data or filters is bound as a
# parameter.

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Generic, TypeVar

from ..models.evaluation import window_start
from ..models.filters import AudienceQuery, Condition, EventFilter, Filter, MatchRule, Operator
from ..models.users import JsonValue
from ._sqlite_rows import micros
from .memory import MATCH_VALUE_MAX

__all__ = ["FilterCompiler", "audience_sql", "sql_literal"]

Source = TypeVar("Source")
"""How a dialect names one JSON value in SQL (an expression, or a few of them)."""


def sql_literal(text: str) -> str:
    """A SQL string literal (quotes doubled): for property names and paths, never data."""
    return "'" + text.replace("'", "''") + "'"


@dataclass
class FilterCompiler(ABC, Generic[Source]):
    """Builds one SQL statement: fragments with placeholders, and their parameters.

    Every fragment is a boolean that is never NULL where the dialect can promise it;
    negations go through :meth:`negate`, which counts NULL as false, as in Python.

    Attributes:
        now: The time windows' reference (the workspace clock).
        params: The parameters bound so far, in placeholder order.
    """

    now: datetime
    params: list[object] = field(default_factory=list)
    _aliases: int = 0

    placeholder: ClassVar[str]
    """The dialect's parameter marker (``?`` or ``%s``)."""
    true: ClassVar[str]
    """The dialect's constant true (``1`` or ``true``)."""
    false: ClassVar[str]
    """The dialect's constant false (``0`` or ``false``)."""

    def alias(self, prefix: str) -> str:
        """A table alias not used before in this statement."""
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def bind(self, value: object) -> str:
        """Bind ``value`` as the next parameter; return its placeholder."""
        self.params.append(value)
        return self.placeholder

    # -- the dialect's hooks -----------------------------------------------------------

    @abstractmethod
    def absent(self, src: Source) -> str:
        """The value is missing or JSON null."""

    @abstractmethod
    def equals(self, src: Source, operand: JsonValue) -> str:
        """The value equals ``operand`` as JSON (``1 == 1.0``, ``true != 1``)."""

    @abstractmethod
    def contains(self, src: Source, operand: JsonValue) -> str:
        """The value is a string holding ``operand`` or an array with an item equal to it."""

    @abstractmethod
    def ordered(self, src: Source, op: Operator, operand: JsonValue) -> str:
        """``gt``/``gte``/``lt``/``lte``: numbers with numbers, strings by code point."""

    @abstractmethod
    def negate(self, test: str) -> str:
        """``NOT test``, NULL counting as false."""

    def exists(self, src: Source) -> str:
        """The value is present and not JSON null."""
        return self.negate(self.absent(src))

    @abstractmethod
    def property_filter(self, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on a profile value (its own field when set, else its property)."""

    @abstractmethod
    def event_condition(self, event: str, key: str, op: Operator, operand: JsonValue) -> str:
        """A condition on property ``key`` of the events row aliased ``event``."""

    # -- the shared logic ----------------------------------------------------------------

    def condition(self, src: Source, op: Operator, operand: JsonValue) -> str:
        """One operator applied to a value (see :func:`tidings.models.evaluation.value_holds`)."""
        if op == "eq":
            return self.equals(src, operand)
        if op == "ne":
            return self.negate(self.equals(src, operand))
        if op in ("in", "not_in"):
            tests = [self.equals(src, item) for item in operand]
            any_sql = "(" + " OR ".join(tests) + ")" if tests else self.false
            return any_sql if op == "in" else self.negate(any_sql)
        if op == "contains":
            return self.contains(src, operand)
        if op == "exists":
            return self.exists(src)
        if op == "not_exists":
            return self.absent(src)
        return self.ordered(src, op, operand)

    def since(self, column: str, days: int | None) -> list[str]:
        """``column >= start`` of a window of ``days`` (none when there is no window)."""
        start = window_start(self.now, days)
        return [] if start is None else [f"{column} >= {self.bind(micros(start))}"]

    def event_filter(self, rule: EventFilter) -> str:
        """Whether the profile ``p`` did (or did not) do the event, enough times."""
        e = self.alias("e")
        tests = [f"{e}.identity = p.identity", f"{e}.name = {self.bind(rule.event)}"]
        tests += self.since(f"{e}.ts", rule.within_days)
        tests += [self.event_condition(e, c.property, c.op, c.value) for c in rule.where]
        body = f"FROM events {e} WHERE " + " AND ".join(tests)
        if rule.min_count == 1:
            test = f"EXISTS (SELECT 1 {body})"
        else:
            n = rule.min_count  # LIMIT stops counting once min_count events are found.
            test = f"((SELECT COUNT(*) FROM (SELECT 1 {body} LIMIT {n}) c) >= {n})"
        return test if rule.did else f"(NOT {test})"

    def filters(self, filters: Sequence[Filter]) -> list[str]:
        """One fragment per filter, in order."""
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
            f"{alias}.prop = {self.bind(rule.compared.event)}",
            f"{alias}.value = {self.bind(value)}",
            *self.since(f"{alias}.last_ts", rule.within_days),
        ]

    def match(self, rule: MatchRule, value: str) -> str:
        """Whether the profile ``p`` has the matched value (a bulletin's match row)."""
        if len(value) <= MATCH_VALUE_MAX:
            m = self.alias("m")
            tests = [*self.match_lookup(m, rule, value), f"{m}.identity = p.identity"]
            return f"EXISTS (SELECT 1 FROM event_props {m} WHERE {' AND '.join(tests)})"
        # Values this long are not in event_props; only strings are this long (an
        # integer of over 256 digits is beyond SQLite's numbers anyway): scan events.
        scan = EventFilter(
            event=rule.event,
            within_days=rule.within_days,
            where=(Condition(property=rule.compared.event, op="eq", value=value),),
        )
        return self.event_filter(scan)

    def where(self, tests: Sequence[str]) -> str:
        """The tests joined by ``AND`` (true when there are none)."""
        return " AND ".join(tests) if tests else self.true

    # How a match drives the audience query: its FROM clause, the join test (if the
    # FROM clause has none), and the ordering column. SQLite needs CROSS JOIN to keep
    # event_props first; PostgreSQL plans the join order itself.
    driven_from: ClassVar[str] = "event_props d JOIN profiles p ON p.identity = d.identity"
    driven_join: ClassVar[str | None] = None
    driven_order: ClassVar[str] = "p.identity"


def audience_sql(
    compiler: FilterCompiler[Source], query: AudienceQuery, columns: str
) -> tuple[str, list[object]]:
    """The audience query: one SELECT, ordered by identity, with everything pushed down."""
    sql = compiler
    tests: list[str] = []
    source = "profiles p"
    order = "p.identity"
    matches = list(query.matches)
    driver = next(
        (i for i, (_, value) in enumerate(matches) if len(value) <= MATCH_VALUE_MAX), None
    )
    if driver is not None:
        # Start from the users who have the matched value: an index range scan of
        # event_props, already in identity order, then a primary-key lookup in profiles.
        rule, value = matches.pop(driver)
        source, order = sql.driven_from, sql.driven_order
        tests += sql.match_lookup("d", rule, value)
        if sql.driven_join is not None:
            tests.append(sql.driven_join)
    if query.segment.kind == "engaged":
        e = sql.alias("e")
        since = sql.since(f"{e}.ts", query.segment.engaged_days)[0]
        tests.append(
            f"EXISTS (SELECT 1 FROM events {e} WHERE {e}.identity = p.identity AND {since})"
        )
    tests += [sql.match(rule, value) for rule, value in matches]
    tests += sql.filters(query.filters)
    statement = f"SELECT {columns} FROM {source} WHERE {sql.where(tests)} ORDER BY {order}"
    return statement, sql.params
