"""Errors of templates: compiling, rendering, limits (each located by line and column)."""

from __future__ import annotations

from ._base import ErrorCode, TidingsError

__all__ = [
    "LimitExceededError",
    "RenderError",
    "TemplateError",
    "TemplateSyntaxError",
    "UndefinedValueError",
    "UnknownFilterError",
    "UnknownNameError",
    "UnsafeOutputError",
]


class TemplateError(TidingsError, ValueError):
    """A template that cannot be compiled or rendered.

    Attributes:
        line: 1-based line of the offending token in the template source.
        column: 1-based column of the offending token.
        source_line: The text of that line (without its newline).
        template_name: A name for the template, if the caller gave one.
    """

    code: ErrorCode = "render_error"

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        source_line: str = "",
        field: str | None = None,
        template_name: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.line = line
        self.column = column
        self.source_line = source_line
        self.template_name = template_name

    @property
    def location(self) -> str:
        """``field:line:column`` (or ``template:line:column``) for one-line reports."""
        where = self.field or self.template_name or "template"
        return f"{where}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.message} ({self.location})"

    def detailed_message(self) -> str:
        """The message followed by the offending line and a caret under the column."""
        gutter = str(self.line)
        pad = " " * len(gutter)
        caret = " " * (self.column - 1) + "^"
        return (
            f"{self.message}\n"
            f"{pad} --> {self.location}\n"
            f"{gutter} | {self.source_line}\n"
            f"{pad} | {caret}"
        )

    def with_field(self, field: str) -> TemplateError:
        """Return a copy of this error attributed to a message field."""
        clone = type(self)(
            self.message,
            line=self.line,
            column=self.column,
            source_line=self.source_line,
            field=field,
            template_name=self.template_name,
        )
        clone.__cause__ = self.__cause__
        return clone


class TemplateSyntaxError(TemplateError):
    """Liquid syntax the parser rejects (found when the template is compiled)."""

    code: ErrorCode = "template_syntax"


class UnknownFilterError(TemplateError):
    """A filter name that is not registered (found when the template is compiled)."""

    code: ErrorCode = "unknown_filter"


class UnknownNameError(TemplateError):
    """A top-level variable that is not a namespace, loop variable or assigned name.

    Catches typos such as ``{{ Profle.name }}`` at compile time.
    """

    code: ErrorCode = "unknown_name"


class UnsafeOutputError(TemplateError):
    """An output placed where escaping cannot keep data from changing the message.

    Found when the template is compiled: an unquoted HTML attribute value
    (``<a title={{ x }}>``), the inside of a tag, a ``<script>``, an event-handler
    attribute, a JSON output that may or may not sit inside a string, a
    ``tablerow`` in a JSON or URL template.
    """

    code: ErrorCode = "unsafe_output"


class RenderError(TemplateError):
    """A template failed while rendering (a filter rejected its input, for example)."""

    code: ErrorCode = "render_error"


class UndefinedValueError(RenderError, LookupError):
    """Strict mode: a value the template uses is missing from the data.

    Attributes:
        path: The full path of the missing value, ``ExternalTrigger.items[0].price``.
    """

    code: ErrorCode = "undefined_value"

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        source_line: str = "",
        field: str | None = None,
        template_name: str | None = None,
        path: str = "",
    ) -> None:
        super().__init__(
            message,
            line=line,
            column=column,
            source_line=source_line,
            field=field,
            template_name=template_name,
        )
        self.path = path

    def with_field(self, field: str) -> UndefinedValueError:
        """Return a copy of this error attributed to a message field."""
        clone = UndefinedValueError(
            self.message,
            line=self.line,
            column=self.column,
            source_line=self.source_line,
            field=field,
            template_name=self.template_name,
            path=self.path,
        )
        clone.__cause__ = self.__cause__
        return clone


class LimitExceededError(RenderError):
    """A resource limit (loop iterations, output size, nesting depth) was reached."""

    code: ErrorCode = "limit_exceeded"
