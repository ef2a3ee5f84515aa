"""The tags that write output, each through the escaper of its context; the limited loops.

Every construct that writes a value (the output statement, ``echo``, ``cycle``,
``increment``, ``decrement``) is python-liquid's, with a node that writes through an
``escaper`` (the environment's mode by default; :mod:`._contexts` picks the one for
each node's position once the template is parsed). ``for`` and ``tablerow`` get
:class:`~._expressions.LimitedLoopExpression`. Previews record the outputs that fell
back to their ``default`` (:data:`FALLBACK_RECORDER`).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, cast

from liquid import Environment, RenderContext
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.cycle_tag import CycleNode, CycleTag
from liquid.builtin.tags.decrement_tag import DecrementNode, DecrementTag
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.increment_tag import IncrementNode, IncrementTag
from liquid.builtin.tags.tablerow_tag import TablerowNode, TablerowTag
from liquid.undefined import Undefined, is_undefined

from ._escape import (
    Escaper,
    escaper_for,
)
from ._expressions import LimitedLoopExpression

if TYPE_CHECKING:
    from liquid.stream import TokenStream
    from liquid.token import Token

    from ._environment import TidingsEnvironment

__all__ = [
    "FALLBACK_RECORDER",
    "OUTPUT_NODES",
    "Fallback",
    "TidingsCycle",
    "TidingsCycleNode",
    "TidingsDecrement",
    "TidingsDecrementNode",
    "TidingsEcho",
    "TidingsEchoNode",
    "TidingsFor",
    "TidingsIncrement",
    "TidingsIncrementNode",
    "TidingsOutput",
    "TidingsOutputNode",
    "TidingsTablerow",
]


@dataclass(frozen=True, slots=True)
class Fallback:
    """An output that fell back to its ``default`` value during a preview render.

    Attributes:
        expression: The expression whose value was missing (``product.imageURL``).
        default: The text used instead.
        line: 1-based line of the output statement.
    """

    expression: str
    default: str
    line: int


# Set only while previewing: output statements that use `default` report fallbacks here.
FALLBACK_RECORDER: contextvars.ContextVar[list[tuple[str, object, int]] | None] = (
    contextvars.ContextVar("tidings_fallback_recorder", default=None)
)


def _is_default_fallback(value: object) -> bool:
    if isinstance(value, Undefined) or value is None or value is False:
        return True
    return isinstance(value, str | list | dict) and not value


class _EscapingOutputMixin:
    """Render an output statement through the escaper of its context."""

    expression: Any
    token: Token
    escaper: Escaper
    default_of: Path | None

    def setup_escaping(self, env: TidingsEnvironment) -> None:
        # The mode's default; the context analysis then picks the one for this spot.
        self.escaper = escaper_for(env.escape_mode)
        expr = self.expression
        self.default_of = None
        if (
            isinstance(expr, FilteredExpression)
            and isinstance(expr.left, Path)
            and expr.filters
            and expr.filters[0].name == "default"
        ):
            self.default_of = expr.left

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        if self.default_of is not None:
            recorder = FALLBACK_RECORDER.get()
            if recorder is not None:
                raw = self.default_of.evaluate(context)
                # Ask the `default` filter itself (it returns its input unchanged
                # when it does not fall back), so `allow_false` and Liquid's
                # emptiness rules are honoured exactly.
                first = self.expression.filters[0].evaluate(raw, context)
                if _is_default_fallback(raw) and first is not raw:
                    value = self.expression.evaluate(context)
                    recorder.append((str(self.default_of), value, self.token.start_index))
                    return buffer.write(self.escaper(value))
        return buffer.write(self.escaper(self.expression.evaluate(context)))


class TidingsOutputNode(_EscapingOutputMixin, OutputNode):
    """``{{ ... }}`` escaped for its output context."""

    __slots__ = ("default_of", "escaper")


class TidingsEchoNode(_EscapingOutputMixin, EchoNode):
    """``{% echo ... %}`` escaped for its output context."""

    __slots__ = ("default_of", "escaper")


class TidingsOutput(Output):
    """Output statement whose node escapes for the environment's mode."""

    node_class = TidingsOutputNode

    def parse(self, stream: TokenStream) -> OutputNode:
        node = super().parse(stream)
        assert isinstance(node, TidingsOutputNode)  # noqa: S101 - node_class above
        node.setup_escaping(cast("TidingsEnvironment", self.env))
        return node


class TidingsEcho(EchoTag):
    """``echo`` tag whose node escapes for the environment's mode."""

    node_class = TidingsEchoNode

    def parse(self, stream: TokenStream) -> Any:
        node = super().parse(stream)
        assert isinstance(node, TidingsEchoNode)  # noqa: S101 - node_class above
        node.setup_escaping(cast("TidingsEnvironment", self.env))
        return node


class TidingsCycleNode(CycleNode):
    """``{% cycle %}`` writing its value through the escaper of its context."""

    __slots__ = ("escaper",)
    escaper: Escaper

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Write the next value of the cycle, escaped."""
        # python-liquid's CycleNode.render_to_output, with the escaper instead of
        # to_liquid_string (which wrote data unescaped in json and url templates).
        if self.group:
            group = self.group.evaluate(context)
            group_name = "__UNDEFINED" if is_undefined(group) else str(group)
        else:
            group_name = ""
        args = [arg.evaluate(context) for arg in self.args]
        key = group_name if group_name else str(args)
        index = context.cycle(key, len(args))
        if index >= len(args):
            return 0
        return buffer.write(self.escaper(args[index]))


class TidingsIncrementNode(IncrementNode):
    """``{% increment %}`` writing its number through the escaper of its context."""

    __slots__ = ("escaper",)
    escaper: Escaper

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Write the counter's value, then add one to it."""
        return buffer.write(self.escaper(context.increment(self.name)))


class TidingsDecrementNode(DecrementNode):
    """``{% decrement %}`` writing its number through the escaper of its context."""

    __slots__ = ("escaper",)
    escaper: Escaper

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        """Subtract one from the counter, then write its value."""
        return buffer.write(self.escaper(context.decrement(self.name)))


def _with_default_escaper(node: Any, env: Environment) -> Any:
    node.escaper = escaper_for(cast("TidingsEnvironment", env).escape_mode)
    return node


class TidingsCycle(CycleTag):
    """``cycle`` tag whose node escapes for its context."""

    node_class = TidingsCycleNode

    def parse(self, stream: TokenStream) -> Any:
        return _with_default_escaper(super().parse(stream), self.env)


class TidingsIncrement(IncrementTag):
    """``increment`` tag whose node escapes for its context."""

    node_class = TidingsIncrementNode

    def parse(self, stream: TokenStream) -> Any:
        return _with_default_escaper(super().parse(stream), self.env)


class TidingsDecrement(DecrementTag):
    """``decrement`` tag whose node escapes for its context."""

    node_class = TidingsDecrementNode

    def parse(self, stream: TokenStream) -> Any:
        return _with_default_escaper(super().parse(stream), self.env)


OUTPUT_NODES = (
    TidingsOutputNode,
    TidingsEchoNode,
    TidingsCycleNode,
    TidingsIncrementNode,
    TidingsDecrementNode,
)
"""Every node that writes a value: each has an ``escaper``."""


class TidingsFor(ForTag):
    """``for`` with :class:`LimitedLoopExpression`."""

    def parse(self, stream: TokenStream) -> Any:
        node = super().parse(stream)
        # Same slots, so the parsed expression can change class in place.
        cast("ForNode", node).expression.__class__ = LimitedLoopExpression
        return node


class TidingsTablerow(TablerowTag):
    """``tablerow`` with :class:`LimitedLoopExpression`."""

    def parse(self, stream: TokenStream) -> Any:
        node = super().parse(stream)
        assert isinstance(node, TablerowNode)  # noqa: S101 - TablerowTag's node
        node.expression.__class__ = LimitedLoopExpression
        return node
