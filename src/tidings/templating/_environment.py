"""python-liquid environments configured for tidings.

One environment per (escape mode, strictness, limits). Each replaces the output
statement and ``echo`` tag with versions that escape for the output context, and
adds the ``raw``/``safe`` and ``json`` filters.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from functools import lru_cache
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO, cast

from liquid import Environment, Markup, RenderContext
from liquid.builtin.expressions import FilteredExpression, LoopExpression, Path
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.builtin.tags.for_tag import ForNode, ForTag
from liquid.builtin.tags.tablerow_tag import TablerowNode, TablerowTag
from liquid.exceptions import (
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
)
from liquid.filter import with_environment
from liquid.output import LimitedStringIO
from liquid.template import BoundTemplate
from liquid.undefined import UNDEFINED, StrictDefaultUndefined, Undefined

from ._escape import (
    EscapeMode,
    Escaper,
    JsonFragment,
    dump_json,
    escaper_for,
    json_string_outputs,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from liquid.stream import TokenStream
    from liquid.token import Token


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits that keep a hostile template or payload from hurting the process.

    Attributes:
        loop_iterations: Most iterations of a loop, counting nested loops as the
            product of their lengths (Liquid's rule).
        output_bytes: Most bytes (UTF-8) one render may produce. It also bounds
            any single value a filter builds and, approximately, the total size
            of the variables a template assigns or captures, so a template
            cannot run out of memory without writing anything.
        nesting_depth: Most nested blocks (``if`` inside ``for`` inside ...) a
            template may contain.
    """

    loop_iterations: int = 10_000
    output_bytes: int = 1_000_000
    nesting_depth: int = 30

    def __post_init__(self) -> None:
        for name in ("loop_iterations", "output_bytes", "nesting_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")


DEFAULT_LIMITS = Limits()


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
        in_string = False
        if env.escape_mode == "json":
            tokens = tuple(env.tokenizer()(self.token.source))
            in_string = self.token.start_index in json_string_outputs(self.token.source, tokens)
        self.escaper = escaper_for(env.escape_mode, in_json_string=in_string)
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


class LimitedLoopExpression(LoopExpression):
    """A loop expression that refuses a range longer than the loop iteration limit.

    python-liquid checks the limit only once the loop starts, after ``reversed``
    has built a list of the whole range and ``offset`` has skipped through it:
    ``(1..100000000) reversed`` would hang first.
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


def raw_filter(value: object) -> Markup:
    """Mark a value as safe: it is written without escaping in every context."""
    if isinstance(value, Markup):
        return value
    if isinstance(value, Undefined) or value is None:
        return Markup("")
    if isinstance(value, bool):
        return Markup(str(value).lower())
    return Markup(str(value))


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


class FilterLimitError(ResourceLimitError):
    """A filter's input or result is over a resource limit (becomes LimitExceededError)."""


# Python refuses to print ints over 4300 digits (about 14,300 bits) anyway.
MAX_INT_BITS = 14_000

# Filters whose result can be far larger than their inputs: checked before they run.
_MULTIPLYING_FILTERS = frozenset({"replace", "join"})


def _estimated_size(name: str, left: object, args: tuple[object, ...]) -> int:
    """A cheap upper estimate of the length of a multiplying filter's result."""
    if name == "replace" and type(left) is str and len(args) >= 1:
        old = str(args[0])
        new = str(args[1]) if len(args) > 1 else ""
        count = left.count(old) if old else len(left) + 1
        return len(left) + count * len(new)
    if name == "join" and type(left) in (list, tuple):
        items = cast("Sequence[object]", left)
        sep = str(args[0]) if args else " "
        # Non-string items are short (numbers) or bounded by the result check.
        texts = sum(len(str(item)) for item in items if type(item) is str)
        return max(len(items) - 1, 0) * len(sep) + texts
    return 0


def _check_range(value: object, limit: int, token: Token | None) -> None:
    # type(), not isinstance(): a strict Undefined raises on any attribute access,
    # __class__ included, and must reach the `default` filter untouched.
    if type(value) is range and len(value) > limit:
        raise FilterLimitError(
            f"range of {len(value)} items is over the loop iteration limit of {limit}",
            token=token,
        )


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
    """The render context of every tidings template: guarded filters, faithful buffers."""

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
        large to print.
        """
        func = super().filter(name, token=token)
        limits: Limits = getattr(self.env, "limits", DEFAULT_LIMITS)

        def guarded(left: object, *args: object, **kwargs: object) -> object:
            _check_range(left, limits.loop_iterations, token)
            for arg in args:
                _check_range(arg, limits.loop_iterations, token)
            if (
                name in _MULTIPLYING_FILTERS
                and _estimated_size(name, left, args) > limits.output_bytes
            ):
                raise FilterLimitError(
                    f"'{name}' would build a value over the output limit "
                    f"of {limits.output_bytes} bytes",
                    token=token,
                )
            result = func(left, *args, **kwargs)
            if type(result) is int and result.bit_length() > MAX_INT_BITS:
                # `{% assign n = n | times: n %}` in a loop squares its way to
                # numbers that take seconds to multiply and cannot be printed.
                raise FilterLimitError(f"'{name}' built a number too large to use", token=token)
            if (
                issubclass(type(result), str | list)
                and len(cast("Sized", result)) > limits.output_bytes
            ):
                raise FilterLimitError(
                    f"'{name}' built a value over the output limit of {limits.output_bytes} bytes",
                    token=token,
                )
            return result

        return guarded


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
