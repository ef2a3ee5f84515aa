"""Static analysis of a parsed template: which ExternalTrigger keys it needs.

A top-level key is *used* wherever ``ExternalTrigger.key`` appears. It is
*required* when at least one use has no fallback: not the subject of a
filter chain that contains ``default``, and not guarded by an ``if``/``unless``/``case`` that tests
the same key (``{% if ExternalTrigger.coupon %}{{ ExternalTrigger.coupon }}{% endif %}``).
A condition itself never makes a key required: testing for absence is its job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from liquid.ast import ConditionalBlockNode, Node
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.tags.case_tag import CaseNode, MultiExpressionBlockNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.context import RenderContext
from liquid.expression import Expression
from liquid.template import BoundTemplate

TRIGGER_NAMESPACE = "ExternalTrigger"
_GUARD_NODES = (IfNode, UnlessNode, ConditionalBlockNode, CaseNode, MultiExpressionBlockNode)


@dataclass
class KeyUsage:
    """Top-level ExternalTrigger keys a template uses, and those it needs."""

    used: set[str] = field(default_factory=set)
    required: set[str] = field(default_factory=set)


def _trigger_key(path: Path) -> str | None:
    segments = path.path
    if len(segments) >= 2 and segments[0] == TRIGGER_NAMESPACE and isinstance(segments[1], str):
        return segments[1]
    return None


def _paths(expr: Expression) -> Iterable[Path]:
    if isinstance(expr, Path):
        yield expr
        for segment in expr.path:
            if isinstance(segment, Path):
                yield from _paths(segment)
        return
    for child in expr.children():
        yield from _paths(child)


def _visit_expression(expr: Expression, guarded: frozenset[str], usage: KeyUsage) -> None:
    if isinstance(expr, FilteredExpression) and isinstance(expr.left, Path):
        filters = expr.filters or []
        # A `default` anywhere in the chain is a fallback: `x | strip | default: "a"`
        # gets "a" when x is missing (filters before it turn nil into "" or nil).
        if any(f.name == "default" for f in filters):
            key = _trigger_key(expr.left)
            if key is not None:
                usage.used.add(key)
            for segment in expr.left.path:
                if isinstance(segment, Path):
                    _visit_expression(segment, guarded, usage)
            for child in expr.children():
                if child is not expr.left:
                    _visit_expression(child, guarded, usage)
            return
    if isinstance(expr, Path):
        key = _trigger_key(expr)
        if key is not None:
            usage.used.add(key)
            if key not in guarded:
                usage.required.add(key)
        for segment in expr.path:
            if isinstance(segment, Path):
                _visit_expression(segment, guarded, usage)
        return
    for child in expr.children():
        _visit_expression(child, guarded, usage)


def _visit_node(
    node: Node, guarded: frozenset[str], usage: KeyUsage, static: RenderContext
) -> None:
    if isinstance(node, _GUARD_NODES):
        tested: set[str] = set()
        for expr in node.expressions():
            for path in _paths(expr):
                key = _trigger_key(path)
                if key is not None:
                    usage.used.add(key)
                    tested.add(key)
        guarded = guarded | tested
    else:
        for expr in node.expressions():
            _visit_expression(expr, guarded, usage)
    for child in node.children(static, include_partials=False):
        _visit_node(child, guarded, usage, static)


def analyze_trigger_keys(template: BoundTemplate) -> KeyUsage:
    """Return the ExternalTrigger keys ``template`` uses and requires."""
    usage = KeyUsage()
    static = RenderContext(template)
    for node in template.nodes:
        _visit_node(node, frozenset(), usage, static)
    return usage
