"""Compiled templates: ``compile_template`` and ``Template``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from liquid.exceptions import (
    LiquidError,
)

from ..errors import (
    ArgumentError,
    LimitExceededError,
    MissingTriggerKeyError,
    RenderError,
    TidingsError,
    TriggerDataError,
)
from ._analysis import TRIGGER_NAMESPACE, analyze_trigger_keys
from ._compiler import RenderFunction, compile_render
from ._environment import (
    DEFAULT_LIMITS,
    Limits,
    TidingsEnvironment,
    get_environment,
    with_paths,
)
from ._escape import ESCAPE_MODES, EscapeMode, escape_text
from ._limits import WorkLimitError
from ._liquid_errors import line_col, wrap_liquid_error
from ._nodes import (
    FALLBACK_RECORDER,
    Fallback,
)
from ._outline import TemplateOutline
from ._parse import check_names, parse_template

NAMESPACES: frozenset[str] = frozenset({"Profile", TRIGGER_NAMESPACE, "BusinessEvent", "Campaign"})
"""Top-level names a template may use (besides loop variables and assigned names)."""


@dataclass(frozen=True, slots=True)
class RenderReport:
    """A render's text with what a preview should warn about.

    Attributes:
        text: The rendered output.
        fallbacks: Outputs that used their ``default`` value.
        absent_keys: Keys the template uses that the trigger data does not carry.
    """

    text: str
    fallbacks: tuple[Fallback, ...]
    absent_keys: frozenset[str]


class Template:
    """A Liquid template compiled once, rendered many times (thread-safe).

    Build it with :func:`compile_template`. Rendering is pure: the same inputs
    always give the same text.

    Attributes:
        source: The Liquid source.
        escape: The output context (``text``, ``html``, ``json`` or ``url``).
        strict: Whether a missing value is an error instead of empty text.
        limits: The resource limits in force.
        name: An optional name used in error messages.
        trigger_keys: Every top-level ``ExternalTrigger`` key the template uses.
        required_trigger_keys: Keys used at least once without a ``default``
            fallback (or an ``if`` guard); a trigger missing one is rejected.
        compiled: Whether renders run compiled Python code (the fast path)
            rather than python-liquid's interpreter. Both give the same text
            and the same errors; templates using a feature outside the
            compiled subset, and strict templates, are interpreted.
    """

    __slots__ = (
        "_bound",
        "_render_fn",
        "_required",
        "compiled",
        "escape",
        "limits",
        "name",
        "required_trigger_keys",
        "source",
        "strict",
        "trigger_keys",
    )

    def __init__(
        self,
        source: str,
        *,
        escape: EscapeMode = "text",
        strict: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        name: str | None = None,
        namespaces: frozenset[str] | None = NAMESPACES,
        compile: bool = True,
    ) -> None:
        if escape not in ESCAPE_MODES:
            raise ArgumentError(
                f"escape must be one of {', '.join(ESCAPE_MODES)}, not {escape!r}", field="escape"
            )
        if not isinstance(source, str):
            raise ArgumentError(
                f"template source must be a str, not {type(source).__name__}", field="source"
            )
        self.source = source
        self.escape: EscapeMode = escape
        self.strict = strict
        self.limits = limits
        self.name = name
        env = get_environment(escape, strict, limits)
        self._bound, analysis = parse_template(env, source, name)
        if namespaces is not None:
            check_names(source, name, namespaces, analysis)
        usage = analyze_trigger_keys(self._bound)
        self.trigger_keys: frozenset[str] = frozenset(usage.used)
        self.required_trigger_keys: frozenset[str] = frozenset(usage.required)
        self._required = tuple(sorted(self.required_trigger_keys))
        self._render_fn: RenderFunction | None = (
            compile_render(self._bound, name) if compile and not strict else None
        )
        self.compiled: bool = self._render_fn is not None

    def outline(self) -> TemplateOutline:
        """What the template reads (namespace paths) and writes itself (its literal text)."""
        return TemplateOutline(self._bound, self.source)

    def __repr__(self) -> str:
        return f"Template({self.source[:40]!r}, escape={self.escape!r}, strict={self.strict})"

    def missing_trigger_keys(self, trigger: Mapping[str, Any] | None) -> frozenset[str]:
        """Required keys that ``trigger`` lacks (absent or null)."""
        if not self.required_trigger_keys:
            return frozenset()
        data = trigger or {}
        return frozenset(k for k in self.required_trigger_keys if data.get(k) is None)

    def check_trigger(self, trigger: Mapping[str, Any] | None) -> None:
        """Raise :class:`MissingTriggerKeyError` if a required key is missing."""
        if trigger is not None and not isinstance(trigger, Mapping):
            raise TriggerDataError(
                f"ExternalTrigger data must be an object, not {type(trigger).__name__}"
            )
        missing = self.missing_trigger_keys(trigger)
        if missing:
            raise MissingTriggerKeyError(sorted(missing))

    def _namespaces(
        self,
        profile: Mapping[str, Any] | None,
        trigger: Mapping[str, Any] | None,
        extra: Mapping[str, Any],
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"Profile": profile or {}, TRIGGER_NAMESPACE: trigger or {}}
        if extra:
            for key in extra:
                if key not in NAMESPACES:
                    raise ArgumentError(
                        f"unknown namespace {key!r}; expected one of {sorted(NAMESPACES)}"
                    )
            data.update(extra)
        return data

    def render(
        self,
        profile: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        **namespaces: Any,
    ) -> str:
        """Render for one user.

        Args:
            profile: The ``Profile`` namespace (the user's profile properties).
            trigger: The ``ExternalTrigger`` namespace (the trigger call's data).
            **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

        Returns:
            The rendered text, escaped for the template's output context.

        Raises:
            MissingTriggerKeyError: A required ``ExternalTrigger`` key is missing.
            TemplateError: Rendering failed (a ``RenderError`` subclass, with line).
        """
        # The hot path of a dispatch: keep the work around the render minimal.
        if trigger is None or type(trigger) is not dict:
            self.check_trigger(trigger)
        else:
            for key in self._required:
                if trigger.get(key) is None:
                    self.check_trigger(trigger)  # raises, naming every missing key
        data = {"Profile": profile or {}, TRIGGER_NAMESPACE: trigger or {}}
        if namespaces:
            return self._render_data(self._namespaces(profile, trigger, namespaces))
        return self._render_data(data)

    def renders_alike(self, names: frozenset[str]) -> bool:
        """Whether the template renders the same text whenever the namespaces ``names`` do.

        True when every top-level name it reads is one of ``names`` and it never
        reads the clock (the ``date`` filter turns ``"now"`` into the time): a
        template reading only namespaces that are the same for every user of a
        dispatch (``BusinessEvent``, ``Campaign``) renders the same text for all
        of them, so a batch renders it once.
        """
        analysis = self._bound.analyze(include_partials=False)
        return "date" not in analysis.filters and all(name in names for name in analysis.globals)

    def render_function(self) -> Callable[[dict[str, Any]], str]:
        """The function :meth:`render` ends in, for namespaces built once per user by a batch.

        It takes the top-level variables (``{"Profile": ..., "ExternalTrigger":
        ..., "BusinessEvent": ...}``, every key a namespace, the trigger already
        checked). The compiled function when there is one: it returns the text
        :meth:`render` would, or raises (any exception) where the interpreter
        would report an error or render instead; a caller then renders through
        :meth:`render` to get that exact outcome.
        """
        return self._render_fn if self._render_fn is not None else self._render_data

    def render_globals(self, data: Mapping[str, Any]) -> str:
        """Render with ``data`` as the top-level variables (plain Liquid).

        For templates compiled with ``namespaces=None`` (conformance suites,
        generic Liquid text): no namespaces are filled in and no trigger keys
        are checked. Strict mode, escaping and limits apply as in :meth:`render`.

        Args:
            data: Top-level variable names and their values.

        Returns:
            The rendered text, escaped for the template's output context.

        Raises:
            TemplateError: Rendering failed (a ``RenderError`` subclass, with line).
        """
        if not isinstance(data, Mapping):
            raise ArgumentError(f"render data must be a mapping, not {type(data).__name__}")
        values = dict(data)
        # Keyword arguments must be strings: the interpreter reports other keys.
        return self._render_data(values, interpret=not all(type(k) is str for k in values))

    def _render_data(self, data: dict[str, Any], *, interpret: bool = False) -> str:
        """Render ``data`` compiled if possible, else (or on any error) interpreted.

        The compiled function raises wherever the interpreter would raise; the
        interpreter then renders again and raises the exact, located error.
        """
        render_fn = self._render_fn
        if render_fn is not None and not interpret:
            try:
                return render_fn(data)
            except WorkLimitError as exc:
                # Raised by the compiled code exactly where the interpreter would:
                # a second render would only take as long again.
                env = self._bound.env
                assert isinstance(env, TidingsEnvironment)  # noqa: S101 - built by get_environment
                raise wrap_liquid_error(exc, self.source, name=self.name, env=env) from exc
            except Exception:  # noqa: BLE001, S110 - the interpreter reports it exactly
                pass
        return self._interpret(data)

    def _interpret(self, data: dict[str, Any]) -> str:
        """Render on python-liquid's interpreter (the reference), wrapping its errors."""
        if self.strict:
            data = {key: with_paths(value, str(key)) for key, value in data.items()}
        try:
            return self._bound.render(**data)
        except LiquidError as exc:
            env = self._bound.env
            assert isinstance(env, TidingsEnvironment)  # noqa: S101 - built by get_environment
            raise wrap_liquid_error(exc, self.source, name=self.name, env=env) from exc
        except TidingsError:
            raise
        except (RecursionError, MemoryError) as exc:
            raise LimitExceededError(
                f"rendering exhausted resources ({type(exc).__name__})",
                line=1,
                column=1,
                source_line=self.source.split("\n", 1)[0],
                template_name=self.name,
            ) from exc
        except Exception as exc:
            raise RenderError(
                f"rendering failed: {type(exc).__name__}: {exc}",
                line=1,
                column=1,
                source_line=self.source.split("\n", 1)[0],
                template_name=self.name,
            ) from exc

    def render_with_report(
        self,
        profile: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        **namespaces: Any,
    ) -> RenderReport:
        """Render like :meth:`render` and report defaults used and absent keys (for previews).

        Slower than :meth:`render`; meant for previews and tests, not dispatch.
        """
        recorded: list[tuple[str, object, int]] = []
        self.check_trigger(trigger)
        data = self._namespaces(profile, trigger, namespaces)
        token = FALLBACK_RECORDER.set(recorded)
        try:
            # The interpreter's output nodes record the defaults used.
            text = self._render_data(data, interpret=True)
        finally:
            FALLBACK_RECORDER.reset(token)
        fallbacks = tuple(
            Fallback(expression=expr, default=escape_text(value), line=line_col(self.source, i)[0])
            for expr, value, i in recorded
        )
        trigger_data = trigger or {}
        absent = frozenset(k for k in self.trigger_keys if k not in trigger_data)
        return RenderReport(text=text, fallbacks=fallbacks, absent_keys=absent)


@lru_cache(maxsize=2048)
def _compile_cached(
    source: str,
    escape: EscapeMode,
    strict: bool,
    limits: Limits,
    name: str | None,
    namespaces: frozenset[str] | None,
) -> Template:
    return Template(
        source, escape=escape, strict=strict, limits=limits, name=name, namespaces=namespaces
    )


def compile_template(
    source: str,
    *,
    escape: EscapeMode = "text",
    strict: bool = False,
    limits: Limits | None = None,
    name: str | None = None,
    namespaces: frozenset[str] | None = NAMESPACES,
) -> Template:
    """Compile Liquid ``source`` once (cached by source and options).

    Args:
        source: The Liquid template text.
        escape: The output context: ``text`` (push), ``html`` (email bodies,
            autoescaped), ``json`` (webhook bodies, always valid JSON) or ``url``
            (every value percent-encoded).
        strict: If true, any undefined value is an :class:`UndefinedValueError`
            naming its path (``ExternalTrigger.productDetails[0].price``).
        limits: Resource limits (loop iterations, output size, nesting depth).
        name: A name for error messages.
        namespaces: The top-level names a template may use; ``None`` allows any
            (plain Liquid, for conformance suites).

    Raises:
        TemplateSyntaxError: Bad Liquid syntax, with line and column.
        UnknownFilterError: A filter that does not exist.
        UnknownNameError: A top-level name that is not a namespace (``Profle.name``).
        ArgumentError: ``source`` is not a str or ``escape`` not a known mode.
    """
    # Checked before the cache, which would raise TypeError on an unhashable argument.
    if not isinstance(source, str):
        raise ArgumentError(
            f"template source must be a str, not {type(source).__name__}", field="source"
        )
    given: object = escape  # untyped callers pass anything; the cache needs it hashable
    if not isinstance(given, str) or given not in ESCAPE_MODES:
        raise ArgumentError(
            f"escape must be one of {', '.join(ESCAPE_MODES)}, not {escape!r}", field="escape"
        )
    return _compile_cached(source, escape, strict, limits or DEFAULT_LIMITS, name, namespaces)
