"""python-liquid environments configured for tidings.

One environment per (escape mode, strictness, limits). Each replaces the output
statement and ``echo`` tag with versions that escape for the output context, and
adds the ``raw``/``safe`` and ``json`` filters.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TextIO

from liquid import Environment, Markup, RenderContext
from liquid.builtin.expressions import FilteredExpression, Path
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.filter import with_environment
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
    from liquid.stream import TokenStream
    from liquid.token import Token


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits that keep a hostile template or payload from hurting the process.

    Attributes:
        loop_iterations: Most iterations of a loop, counting nested loops as the
            product of their lengths (Liquid's rule).
        output_bytes: Most bytes (UTF-8) one render may produce.
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
                if _is_default_fallback(raw):
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


class StrictContext(RenderContext):
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


class StrictTemplate(BoundTemplate):
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
        if strict:
            self.template_class = StrictTemplate

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        """Register Liquid's standard tags and filters, then tidings' own."""
        super().setup_tags_and_filters(extra=extra)
        self.add_tag(TidingsOutput)
        self.add_tag(TidingsEcho)
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
        },
    )
    env = cls(escape=escape, strict=strict, limits=limits)
    assert isinstance(env, TidingsEnvironment)  # noqa: S101 - built from it above
    return env
