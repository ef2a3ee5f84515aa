"""python-liquid environments configured for tidings: contexts, buffers, filters.

One environment per (escape mode, strictness, limits). Each replaces every tag
that writes output with a version that writes through an escaper
(:mod:`._nodes`), charges loops, filters, ``contains`` and comparisons to the
render's work budget (:mod:`._expressions`, :class:`TidingsContext`), and adds the
``raw``/``safe`` and ``json`` filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from io import StringIO
from typing import TYPE_CHECKING, Any, TextIO

from liquid import Environment, RenderContext
from liquid.builtin.expressions import Path
from liquid.exceptions import (
    OutputStreamLimitError,
)
from liquid.filter import with_environment
from liquid.output import LimitedStringIO
from liquid.template import BoundTemplate
from liquid.undefined import UNDEFINED, StrictDefaultUndefined, Undefined

from ._escape import (
    EscapeMode,
    JsonFragment,
    Trusted,
    dump_json,
)
from ._limits import (
    DEFAULT_LIMITS,
    FilterLimitError,
    Limits,
    filter_cost,
    guard_filter,
    work_limit_error,
)
from ._nodes import (
    TidingsCycle,
    TidingsDecrement,
    TidingsEcho,
    TidingsFor,
    TidingsIncrement,
    TidingsOutput,
    TidingsTablerow,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from liquid.token import Token

__all__ = [
    "DEFAULT_LIMITS",
    "FilterLimitError",
    "Limits",
    "TidingsContext",
    "TidingsEnvironment",
    "get_environment",
    "json_filter",
    "with_paths",
]


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
