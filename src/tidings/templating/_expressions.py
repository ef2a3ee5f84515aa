"""Expressions with limits: ranges bounded, loops, ``contains`` and comparisons charged.

Ranges are refused where they are built when longer than the loop limit; loops,
``contains`` and comparisons are charged to the render's work budget.

python-liquid parses its own expression classes; :func:`limit_expressions` gives each
parsed range literal, ``contains``, comparison and ``when`` its subclass here (same
slots, so the class changes in place). The compiled path (:mod:`._compiler`) refuses
any expression that did not get its class, so both paths charge the same events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from liquid import RenderContext
from liquid.ast import Node
from liquid.builtin.expressions import LoopExpression
from liquid.builtin.expressions.logical import (
    ContainsExpression,
    EqExpression,
    GeExpression,
    GtExpression,
    LeExpression,
    LtExpression,
    NeExpression,
    _contains,
    _eq,
    _le,
    _lt,
)
from liquid.builtin.expressions.primitive import RangeLiteral
from liquid.builtin.tags.case_tag import _AnyExpression
from liquid.exceptions import (
    LoopIterationLimitError,
)
from liquid.expression import Expression

from ._limits import (
    CONTAINS_COST,
    LOOP_ITERATION_COST,
    check_range,
    compare_cost,
    size_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from liquid.token import Token

    from ._environment import TidingsContext

__all__ = [
    "CHARGED_CLASSES",
    "ChargedContainsExpression",
    "ChargedEqExpression",
    "ChargedGeExpression",
    "ChargedGtExpression",
    "ChargedLeExpression",
    "ChargedLtExpression",
    "ChargedNeExpression",
    "ChargedWhenExpression",
    "LimitedLoopExpression",
    "LimitedRangeLiteral",
    "limit_expressions",
]


class LimitedLoopExpression(LoopExpression):
    """A loop expression that refuses a range longer than the loop iteration limit.

    python-liquid checks the limit only once the loop starts, after ``reversed``
    has built a list of the whole range and ``offset`` has skipped through it:
    ``(1..100000000) reversed`` would hang first. Each loop also charges its
    length to the render's work budget.
    """

    __slots__ = ()

    def _to_iter(self, obj: object, context: RenderContext) -> tuple[Iterator[Any], int]:
        limit = context.env.loop_iteration_limit
        if type(obj) is range and limit is not None:
            try:
                too_long = len(obj) > limit
            except OverflowError:
                too_long = True
            if too_long:
                raise LoopIterationLimitError("loop iteration limit reached", token=self.token)
        return super()._to_iter(obj, context)

    def evaluate(self, context: RenderContext) -> tuple[Iterator[object], int]:
        """The loop's items and length; the length is charged to the work budget."""
        items, length = super().evaluate(context)
        if length:
            cast("TidingsContext", context).charge(LOOP_ITERATION_COST * length, self.token)
        return items, length


class LimitedRangeLiteral(RangeLiteral):
    """A range literal that refuses more items than the loop iteration limit.

    A range is lazy, but much of Liquid materialises it (a JSON output, ``contains``
    with a string, filters): refusing it where it is built bounds them all.
    """

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> range:
        """Build the range; raise if it is longer than the loop iteration limit."""
        value = super().evaluate(context)
        limit = context.env.loop_iteration_limit
        if limit is not None:
            check_range(value, limit, self.token)
        return value


class ChargedContainsExpression(ContainsExpression):
    """``contains`` charged to the work budget: searching walks what is searched."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> object:
        """Whether the left side contains the right side."""
        left = self.left.evaluate(context)
        right = self.right.evaluate(context)
        cast("TidingsContext", context).charge(CONTAINS_COST + size_of(left), self.token)
        return _contains(self.token, left, right)


class _ChargedComparison:
    """A comparison charged to the work budget: ``==`` on equal-sized data walks it.

    Mixed into python-liquid's comparison classes (same slots, so a parsed
    expression changes class in place); each evaluates both sides in order,
    charges :func:`~._limits.compare_cost`, then compares as python-liquid does,
    with the subclass's ``compare(token, left, right)``.
    """

    __slots__ = ()
    left: Expression
    right: Expression
    token: Token
    compare: Callable[[Token, object, object], object]

    def evaluate(self, context: RenderContext) -> object:
        """The comparison's value, after charging its work."""
        left = self.left.evaluate(context)
        right = self.right.evaluate(context)
        cast("TidingsContext", context).charge(compare_cost(left, right), self.token)
        return self.compare(self.token, left, right)


# python-liquid's own comparisons (`_lt` raises for types it cannot order; `_le` falls
# back to equality), taking the operands in the order each operator gives them.
class ChargedEqExpression(_ChargedComparison, EqExpression):
    """``==`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda _token, left, right: _eq(left, right))


class ChargedNeExpression(_ChargedComparison, NeExpression):
    """``!=`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda _token, left, right: not _eq(left, right))


class ChargedLtExpression(_ChargedComparison, LtExpression):
    """``<`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda token, left, right: _lt(token, left, right))


class ChargedGtExpression(_ChargedComparison, GtExpression):
    """``>`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda token, left, right: _lt(token, right, left))


class ChargedLeExpression(_ChargedComparison, LeExpression):
    """``<=`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda _token, left, right: _le(left, right))


class ChargedGeExpression(_ChargedComparison, GeExpression):
    """``>=`` charged to the work budget."""

    __slots__ = ()
    compare = staticmethod(lambda _token, left, right: _le(right, left))


class ChargedWhenExpression(_AnyExpression):
    """A ``when``'s values compared with its ``case``, each comparison charged."""

    __slots__ = ()

    def evaluate(self, context: RenderContext) -> list[bool]:
        """Whether the case's value equals each of the ``when``'s values, in order."""
        left = self.left.evaluate(context)
        charge = cast("TidingsContext", context).charge
        matches = []
        for expression in self.expressions:
            right = expression.evaluate(context)
            charge(compare_cost(left, right), self.token)
            matches.append(bool(_eq(left, right)))
        return matches


CHARGED_CLASSES: dict[type[Expression], type[Expression]] = {
    RangeLiteral: LimitedRangeLiteral,
    ContainsExpression: ChargedContainsExpression,
    EqExpression: ChargedEqExpression,
    NeExpression: ChargedNeExpression,
    LtExpression: ChargedLtExpression,
    GtExpression: ChargedGtExpression,
    LeExpression: ChargedLeExpression,
    GeExpression: ChargedGeExpression,
    _AnyExpression: ChargedWhenExpression,
}
"""python-liquid's expression classes and the limited or charged class each becomes."""


def _expressions(node: Node) -> Iterable[Expression]:
    stack = list(node.expressions())
    while stack:
        expr = stack.pop()
        yield expr
        stack.extend(expr.children())


def limit_expressions(nodes: Iterable[Node], context: RenderContext) -> None:
    """Give every range literal, ``contains`` and comparison of the tree its limited class.

    Same slots, so each parsed expression can change class in place.
    """
    stack = list(nodes)
    while stack:
        node = stack.pop()
        for expr in _expressions(node):
            charged = CHARGED_CLASSES.get(type(expr))
            if charged is not None:
                expr.__class__ = charged
        stack.extend(node.children(context, include_partials=False))
