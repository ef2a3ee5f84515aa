"""python-liquid's errors as tidings' :class:`~tidings.errors.TemplateError`, located.

Every error a template raises, at compile or render time, becomes the
:class:`~tidings.errors.TemplateError` subclass for its kind, with the line, column
and source line of the offending spot. Where python-liquid ran out of input and
knows no location, the spot is found again here: the expression that ends too early,
or the opening tag of a block never closed.
"""

from __future__ import annotations

from liquid.exceptions import (
    BlockNestingError,
    LiquidError,
    LiquidSyntaxError,
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
    ResourceLimitError,
    UndefinedError,
)
from liquid.exceptions import (
    UnknownFilterError as LiquidUnknownFilterError,
)
from liquid.token import TOKEN_EOF, TOKEN_EXPRESSION, TOKEN_OUTPUT, TOKEN_TAG

from ..errors import (
    LimitExceededError,
    RenderError,
    TemplateError,
    TemplateSyntaxError,
    UndefinedValueError,
    UnknownFilterError,
    UnsafeOutputError,
)
from ._contexts import UnsafeContextError
from ._environment import (
    Limits,
    TidingsEnvironment,
)

__all__ = ["PARTIAL_TAGS", "line_col", "wrap_liquid_error"]


def line_col(source: str, index: int) -> tuple[int, int, str]:
    """1-based line and column of ``index`` in ``source``, and that line's text.

    An index past the end (errors found at the end of input) points just after
    the last character.
    """
    if index < 0 or index > len(source):
        index = len(source)
    line = source.count("\n", 0, index) + 1
    line_start = source.rfind("\n", 0, index) + 1
    line_end = source.find("\n", index)
    if line_end == -1:
        line_end = len(source)
    return line, index - line_start + 1, source[line_start:line_end].rstrip("\r")


def _error_class(exc: LiquidError) -> type[TemplateError]:
    if isinstance(exc, UnsafeContextError):
        return UnsafeOutputError
    if isinstance(exc, LiquidUnknownFilterError):
        return UnknownFilterError
    if isinstance(exc, LiquidSyntaxError):
        return TemplateSyntaxError
    if isinstance(exc, ResourceLimitError):
        return LimitExceededError
    if isinstance(exc, UndefinedError):
        return UndefinedValueError
    return RenderError


# Tags that open a block closed by `end<name>`.
_BLOCK_TAGS = frozenset(
    {"capture", "case", "comment", "doc", "for", "if", "ifchanged", "raw", "tablerow", "unless"}
)

# Tags that load other templates: tidings has no template loader.
PARTIAL_TAGS = ("include", "render")


def _unclosed_block(env: TidingsEnvironment, source: str) -> tuple[str, int] | None:
    """The innermost block tag left open at the end of ``source`` and its offset."""
    try:
        tokens = list(env.tokenizer()(source))
    except LiquidError:
        return None
    stack: list[tuple[str, int]] = []
    for token in tokens:
        if token.kind != TOKEN_TAG:
            continue
        if token.value in _BLOCK_TAGS:
            stack.append((token.value, token.start_index))
        elif token.value.startswith("end") and token.value[3:] in _BLOCK_TAGS:
            closed = token.value[3:]
            while stack and stack.pop()[0] != closed:
                pass
    return stack[-1] if stack else None


def _snippet(tag: str, expression: str) -> str:
    """A one-tag template that parses ``expression`` the way ``tag`` does."""
    if tag == "elsif":
        return f"{{% if true %}}{{% elsif {expression} %}}{{% endif %}}"
    if tag == "when":
        return f"{{% case 1 %}}{{% when {expression} %}}{{% endcase %}}"
    if tag in _BLOCK_TAGS:
        return f"{{% {tag} {expression} %}}{{% end{tag} %}}"
    return f"{{% {tag} {expression} %}}"


def _incomplete_expression(env: TidingsEnvironment, source: str) -> int | None:
    """Offset just after the first tag or output expression that ends too early.

    python-liquid reports ``{{ name | }}`` as "expected word, found end of
    expression" without a location. Parse each tag and output on its own (only
    on this error path) to find the one that fails the same way.
    """
    try:
        tokens = list(env.tokenizer()(source))
    except LiquidError:
        return None
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        if following is None or following.kind != TOKEN_EXPRESSION:
            continue
        if token.kind == TOKEN_OUTPUT:
            snippet = f"{{{{ {following.value} }}}}"
        elif token.kind == TOKEN_TAG:
            snippet = _snippet(token.value, following.value)
        else:
            continue
        try:
            env.from_string(snippet)
        except LiquidError as exc:
            if exc.token is not None and exc.token.kind == TOKEN_EOF:
                return following.start_index + len(following.value)
    return None


def _limit_message(exc: ResourceLimitError, limits: Limits) -> str:
    """Say which limit was reached and its value, in words a marketer understands."""
    if isinstance(exc, LoopIterationLimitError):
        return f"loop iteration limit reached (at most {limits.loop_iterations} iterations)"
    if isinstance(exc, OutputStreamLimitError):
        return f"output size limit reached (at most {limits.output_bytes} bytes)"
    if isinstance(exc, LocalNamespaceLimitError):
        return (
            "assigned and captured variables are over the size limit "
            f"(about {limits.output_bytes} bytes)"
        )
    if isinstance(exc, BlockNestingError):
        return f"blocks are nested too deeply (at most {limits.nesting_depth} levels)"
    return str(exc.message)


def wrap_liquid_error(
    exc: LiquidError,
    source: str,
    *,
    name: str | None,
    at_end: bool = False,
    env: TidingsEnvironment | None = None,
) -> TemplateError:
    index = exc.token.start_index if exc.token is not None else (len(source) if at_end else 0)
    message = str(exc.message) if exc.message is not None else type(exc).__name__
    if exc.token is not None and exc.token.kind == TOKEN_EOF:
        # The parser ran out of input, with no location: either an expression
        # ends too early ("expected word, found end of expression") or a block
        # is never closed ("expected tag endfor, found end of expression").
        # Point at the expression, else at the opening tag of the block.
        incomplete = _incomplete_expression(env, source) if env is not None else None
        unclosed = _unclosed_block(env, source) if env is not None else None
        if incomplete is not None:
            index = incomplete
        elif unclosed is not None:
            tag, index = unclosed
            message = f"'{tag}' tag was never closed: add {{% end{tag} %}}"
        else:
            index = len(source)
    if isinstance(exc, ResourceLimitError) and env is not None:
        message = _limit_message(exc, env.limits)
    line, column, text = line_col(source, index)
    cls = _error_class(exc)
    if cls is UndefinedValueError:
        path = message.removesuffix(" is undefined").strip("'")
        return UndefinedValueError(
            message, line=line, column=column, source_line=text, template_name=name, path=path
        )
    return cls(message, line=line, column=column, source_line=text, template_name=name)
