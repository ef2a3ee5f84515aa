"""python-liquid environments configured for tidings.

One environment per (escape mode, strictness, limits). Each replaces every tag
that writes output (the output statement, ``echo``, ``cycle``, ``increment``,
``decrement``) with a version that writes through an escaper (chosen for each
node by :mod:`._contexts` once the template is parsed), charges loops, filters,
``contains`` and comparisons (``==``, ``case``/``when``, ...) to the render's work
budget, and adds the ``raw``/``safe`` and ``json`` filters.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO, cast

from liquid import Environment, RenderContext
from liquid.ast import Node
from liquid.builtin.expressions import FilteredExpression, LoopExpression, Path
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
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.case_tag import _AnyExpression
from liquid.builtin.tags.cycle_tag import CycleNode, CycleTag
from liquid.builtin.tags.decrement_tag import DecrementNode, DecrementTag
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.increment_tag import IncrementNode, IncrementTag
from liquid.builtin.tags.tablerow_tag import TablerowNode, TablerowTag
from liquid.exceptions import (
    LoopIterationLimitError,
    OutputStreamLimitError,
)
from liquid.expression import Expression
from liquid.filter import with_environment
from liquid.output import LimitedStringIO
from liquid.template import BoundTemplate
from liquid.undefined import UNDEFINED, StrictDefaultUndefined, Undefined, is_undefined

from ._escape import (
    EscapeMode,
    Escaper,
    JsonFragment,
    Trusted,
    dump_json,
    escaper_for,
)
from ._limits import (
    CONTAINS_COST,
    DEFAULT_LIMITS,
    LOOP_ITERATION_COST,
    FilterLimitError,
    Limits,
    check_range,
    compare_cost,
    filter_cost,
    guard_filter,
    size_of,
    work_limit_error,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from liquid.stream import TokenStream
    from liquid.token import Token

__all__ = [
    "DEFAULT_LIMITS",
    "FALLBACK_RECORDER",
    "Fallback",
    "FilterLimitError",
    "Limits",
    "TidingsContext",
    "TidingsEnvironment",
    "get_environment",
    "with_paths",
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
        assert isinstance(self.env, TidingsEnvironment)  # noqa: S101 - registered there only
        node.setup_escaping(self.env)
        return node


class TidingsEcho(EchoTag):
    """``echo`` tag whose node escapes for the environment's mode."""

    node_class = TidingsEchoNode

    def parse(self, stream: TokenStream) -> Any:
        node = super().parse(stream)
        assert isinstance(node, TidingsEchoNode)  # noqa: S101 - node_class above
        assert isinstance(self.env, TidingsEnvironment)  # noqa: S101 - registered there only
        node.setup_escaping(self.env)
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
    assert isinstance(env, TidingsEnvironment)  # noqa: S101 - registered there only
    node.escaper = escaper_for(env.escape_mode)
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
    charges :func:`~._limits.compare_cost`, then compares as python-liquid does.
    """

    __slots__ = ()
    left: Expression
    right: Expression
    token: Token

    def evaluate(self, context: RenderContext) -> object:
        """The comparison's value, after charging its work."""
        left = self.left.evaluate(context)
        right = self.right.evaluate(context)
        cast("TidingsContext", context).charge(compare_cost(left, right), self.token)
        return self.compare(left, right)

    def compare(self, left: object, right: object) -> bool:
        """Compare the evaluated sides (each subclass: its operator)."""
        raise NotImplementedError


class ChargedEqExpression(_ChargedComparison, EqExpression):
    """``==`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's equality."""
        return bool(_eq(left, right))


class ChargedNeExpression(_ChargedComparison, NeExpression):
    """``!=`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's inequality."""
        return not _eq(left, right)


class ChargedLtExpression(_ChargedComparison, LtExpression):
    """``<`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's ``<`` (raises for types it cannot order)."""
        return bool(_lt(self.token, left, right))


class ChargedGtExpression(_ChargedComparison, GtExpression):
    """``>`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's ``>`` (raises for types it cannot order)."""
        return bool(_lt(self.token, right, left))


class ChargedLeExpression(_ChargedComparison, LeExpression):
    """``<=`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's ``<=`` (equality for values it cannot order)."""
        return bool(_le(left, right))


class ChargedGeExpression(_ChargedComparison, GeExpression):
    """``>=`` charged to the work budget."""

    __slots__ = ()

    def compare(self, left: object, right: object) -> bool:
        """Liquid's ``>=`` (equality for values it cannot order)."""
        return bool(_le(right, left))


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


def raw_filter(value: object) -> Trusted:
    """Mark a value as safe: it is written without escaping in every context."""
    if isinstance(value, Trusted):
        return value
    if isinstance(value, Undefined) or value is None:
        return Trusted("")
    if isinstance(value, bool):
        return Trusted(str(value).lower())
    return Trusted(str(value))


@with_environment
def json_filter(value: object, *, environment: Environment) -> str:
    """Serialise any value (list, object, number, string) as JSON text."""
    return JsonFragment(dump_json(value))


def _format_segment(segment: object) -> str:
    if isinstance(segment, str) and segment.isidentifier():
        return f".{segment}"
    return f"[{segment!r}]" if isinstance(segment, str) else f"[{segment}]"


class PathDict(dict[str, Any]):
    """A dict that remembers where it sits in the render data (strict mode only)."""

    __slots__ = ("tidings_path",)
    tidings_path: str


class PathList(list[Any]):
    """A list that remembers where it sits in the render data (strict mode only)."""

    __slots__ = ("tidings_path",)
    tidings_path: str


def with_paths(value: object, path: str) -> object:
    """Copy JSON-like data into containers that remember their path (strict mode)."""
    if isinstance(value, Mapping):
        mapping = PathDict()
        mapping.tidings_path = path
        for key, item in value.items():
            mapping[key] = with_paths(item, path + _format_segment(key))
        return mapping
    if isinstance(value, list | tuple):
        sequence = PathList()
        sequence.tidings_path = path
        sequence.extend(with_paths(item, f"{path}[{i}]") for i, item in enumerate(value))
        return sequence
    return value


class OutputBuffer(LimitedStringIO):
    r"""The output buffer of every render: counts UTF-8 bytes, keeps text as written.

    Two fixes over python-liquid's ``LimitedStringIO``: it defaults to universal
    newlines, which turned every ``\r\n`` into ``\n``; and it counted bytes with a
    strict UTF-8 encode, so a lone surrogate in the data (``json.loads`` accepts
    ``"\ud800"``) crashed the render instead of being written like any text.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit, newline="\n")

    def write(self, text: str, /) -> int:
        """Write ``text``; raise once the output is over the byte limit."""
        if text:
            self.size += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
            if self.size > self.limit:
                raise OutputStreamLimitError("output stream limit reached", token=None)
        return StringIO.write(self, text)


class TidingsContext(RenderContext):
    """The render context of every tidings template: guarded filters, faithful buffers.

    One per render: it also counts the render's work (see :class:`Limits`).
    """

    __slots__ = ("budget", "limits", "work")

    def __init__(self, template: BoundTemplate, **kwargs: Any) -> None:
        super().__init__(template, **kwargs)
        self.limits: Limits = getattr(self.env, "limits", DEFAULT_LIMITS)
        self.budget = self.limits.work_budget
        self.work = 0

    def charge(self, units: int, token: Token | None) -> None:
        """Add ``units`` of work; raise once the render is over its work budget."""
        self.work += units
        if self.work > self.budget:
            raise work_limit_error(self.budget, token)

    def get_buffer(self, buf: TextIO | None = None) -> StringIO:
        """Return an :class:`OutputBuffer` for a capture, sharing the output limit."""
        limit = self.env.output_stream_limit
        assert limit is not None  # noqa: S101 - always set by get_environment
        carry = buf.size if isinstance(buf, LimitedStringIO) else 0
        return OutputBuffer(limit=limit - carry)

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        """Return the filter ``name`` wrapped in resource-limit checks.

        A filter may not iterate a range longer than the loop iteration limit
        (``(1..100000000) | join`` would hang), nor build a string or array
        longer than the output limit (``replace`` and ``join`` are estimated
        before they run, so they fail before allocating), nor a number too
        large to print; each call is charged to the render's work budget.
        """
        guarded = guard_filter(super().filter(name, token=token), name, token, self.limits)

        def charged(left: object, *args: object, **kwargs: object) -> object:
            self.charge(filter_cost(name, left, args), token)
            return guarded(left, *args, **kwargs)

        return charged


class TidingsTemplate(BoundTemplate):
    """A bound template rendered with :class:`TidingsContext` into an :class:`OutputBuffer`."""

    context_class = TidingsContext

    def _get_buffer(self) -> StringIO:
        limit = self.env.output_stream_limit
        assert limit is not None  # noqa: S101 - always set by get_environment
        return OutputBuffer(limit=limit)


class StrictContext(TidingsContext):
    """A render context whose undefined values name their full data path."""

    def get(
        self, path: list[object], *, token: Token | None, default: object = UNDEFINED
    ) -> object:
        """Resolve ``path``; a missing value is described by its full data path."""
        result = super().get(path, token=token, default=default)
        if type(result) is StrictUndefinedPath:
            full = self._describe(path)
            return self.env.undefined(full, hint=f"{full} is undefined", token=token)
        return result

    def _describe(self, path: list[object]) -> str:
        it = iter(path)
        root = next(it)
        name = str(root)
        try:
            obj: Any = self.scope[str(root)]
        except (KeyError, TypeError, IndexError):
            return name
        for segment in it:
            seg = segment
            if isinstance(seg, Path):
                seg = seg.evaluate(self)
            name = getattr(obj, "tidings_path", name)
            try:
                obj = self.get_item(obj, seg)
            except (KeyError, TypeError, IndexError):
                return name + _format_segment(seg)
        return getattr(obj, "tidings_path", name)


class StrictUndefinedPath(StrictDefaultUndefined):
    """Strict undefined that allows ``default`` and carries the full path as its name."""

    __slots__ = ()


class StrictTemplate(TidingsTemplate):
    """A bound template rendered with the path-aware strict context."""

    context_class = StrictContext


class TidingsEnvironment(Environment):
    """A python-liquid environment for one escape mode, strictness and set of limits."""

    escape_mode: EscapeMode = "text"

    def __init__(self, *, escape: EscapeMode, strict: bool, limits: Limits) -> None:
        self.escape_mode = escape
        self.strict = strict
        self.limits = limits
        super().__init__(
            autoescape=escape == "html",
            undefined=StrictUndefinedPath if strict else Undefined,
            strict_filters=True,
        )
        self.template_class = StrictTemplate if strict else TidingsTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        """Register Liquid's standard tags and filters, then tidings' own."""
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(TidingsOutput)
        self.add_tag(TidingsEcho)
        self.add_tag(TidingsCycle)
        self.add_tag(TidingsIncrement)
        self.add_tag(TidingsDecrement)
        self.add_tag(TidingsFor)
        self.add_tag(TidingsTablerow)
        self.add_filter("raw", raw_filter)
        self.add_filter("safe", raw_filter)
        self.add_filter("json", json_filter)


@lru_cache(maxsize=64)
def get_environment(escape: EscapeMode, strict: bool, limits: Limits) -> TidingsEnvironment:
    """Return the (shared, immutable once built) environment for this configuration."""
    cls = type(
        "TidingsLimitedEnvironment",
        (TidingsEnvironment,),
        {
            "loop_iteration_limit": limits.loop_iterations,
            "output_stream_limit": limits.output_bytes,
            "block_nesting_limit": limits.nesting_depth,
            # Without it `{% assign s = s | append: s %}` in a loop doubles a
            # string until memory runs out while writing nothing.
            "local_namespace_limit": limits.output_bytes,
        },
    )
    env = cls(escape=escape, strict=strict, limits=limits)
    assert isinstance(env, TidingsEnvironment)  # noqa: S101 - built from it above
    return env
