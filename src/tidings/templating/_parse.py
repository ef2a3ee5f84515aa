"""Parsing a template once, with every check that can be made before the first render."""

from __future__ import annotations

from liquid import RenderContext
from liquid.exceptions import (
    LiquidError,
)
from liquid.static_analysis import TemplateAnalysis
from liquid.template import BoundTemplate

from ..errors import (
    TemplateSyntaxError,
    UnknownFilterError,
    UnknownNameError,
)
from ._contexts import assign_escapers
from ._environment import (
    TidingsEnvironment,
)
from ._expressions import limit_expressions
from ._liquid_errors import PARTIAL_TAGS, line_col, wrap_liquid_error
from ._prescan import Refusal, costly_expression, unclosed_raw_blocks

__all__ = ["check_names", "parse_template"]


def _prescan(env: TidingsEnvironment, source: str, name: str | None) -> None:
    """Refuse, before parsing, a template python-liquid would take quadratic time on."""
    refusal: Refusal | None = unclosed_raw_blocks(source)
    if refusal is None:
        try:
            refusal = costly_expression(env.tokenizer()(source))
        except LiquidError:
            return  # the parser reports it, located
    if refusal is not None:
        line, column, text = line_col(source, refusal.offset)
        raise TemplateSyntaxError(
            refusal.message, line=line, column=column, source_line=text, template_name=name
        )


def parse_template(
    env: TidingsEnvironment, source: str, name: str | None
) -> tuple[BoundTemplate, TemplateAnalysis]:
    """Parse ``source``, refusing at once what would only fail (or hang) later.

    Refused with a located :class:`~tidings.errors.TemplateError`: a lone surrogate,
    a template python-liquid would parse in quadratic time, a syntax error,
    ``include``/``render``, an unknown filter, an output in an unsafe position. The
    parsed tree gets its limited expressions and the escaper of each output.
    """
    if not source.isascii():
        try:
            source.encode("utf-8")
        except UnicodeEncodeError as exc:
            # Its output could not be encoded (a payload, a JSON line): refuse it now.
            line, column, text = line_col(source, exc.start)
            raise TemplateSyntaxError(
                f"the template holds a lone surrogate (U+{ord(source[exc.start]):04X}), "
                "which is not valid Unicode text",
                line=line,
                column=column,
                source_line=text.encode("utf-8", "replace").decode("utf-8"),
                template_name=name,
            ) from None
    _prescan(env, source, name)
    try:
        bound = env.from_string(source, name=name or "")
        # Unknown filters are only reported when rendered: find them now.
        analysis = bound.analyze(include_partials=False)
    except LiquidError as exc:
        if type(exc) is LiquidError and exc.__cause__ is not None:
            # python-liquid's "unexpected liquid parsing error", wrapping the
            # exception its parser raised (RecursionError when nested too deeply).
            cause = exc.__cause__
            raise TemplateSyntaxError(
                "template is nested too deeply"
                if isinstance(cause, RecursionError)
                else f"template could not be parsed: {type(cause).__name__}: {cause}",
                line=1,
                column=1,
                source_line=source.split("\n", 1)[0],
                template_name=name,
            ) from exc
        raise wrap_liquid_error(exc, source, name=name, at_end=True, env=env) from exc
    except RecursionError as exc:
        raise TemplateSyntaxError(
            "template is nested too deeply",
            line=1,
            column=1,
            source_line=source.split("\n", 1)[0],
            template_name=name,
        ) from exc
    for tag_name in PARTIAL_TAGS:
        # Without a loader these would only fail at send time.
        if tag_name in analysis.tags:
            line, column, text = line_col(source, analysis.tags[tag_name][0].index)
            raise TemplateSyntaxError(
                f"the '{tag_name}' tag is not supported: a message template "
                "cannot load other templates",
                line=line,
                column=column,
                source_line=text,
                template_name=name,
            )
    for filter_name, spans in analysis.filters.items():
        if filter_name not in env.filters:
            line, column, text = line_col(source, spans[0].index)
            raise UnknownFilterError(
                f"unknown filter '{filter_name}'",
                line=line,
                column=column,
                source_line=text,
                template_name=name,
            )
    limit_expressions(bound.nodes, RenderContext(bound))
    try:
        assign_escapers(bound)
    except LiquidError as exc:
        raise wrap_liquid_error(exc, source, name=name, env=env) from exc
    return bound, analysis


def check_names(
    source: str, name: str | None, namespaces: frozenset[str], analysis: TemplateAnalysis
) -> None:
    """Refuse a top-level name that is none of ``namespaces`` (a loop or assigned name is fine)."""
    for root, variables in analysis.globals.items():
        if root in namespaces:
            continue
        line, column, text = line_col(source, variables[0].span.index)
        known = ", ".join(sorted(namespaces))
        raise UnknownNameError(
            f"unknown name '{root}': use a namespace ({known}), "
            "a loop variable or an assigned name",
            line=line,
            column=column,
            source_line=text,
            template_name=name,
        )
