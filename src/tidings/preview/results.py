"""What a preview found: the rendered output, warnings and errors, as values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import TemplateError, TidingsError
from ..templating import EscapeMode

__all__ = ["Preview", "PreviewError", "PreviewKind", "PreviewWarning", "WarningKind", "jsonable"]


PreviewKind = Literal["template", "message", "push", "email", "webhook"]
WarningKind = Literal["fallback", "absent_key", "absent_profile_key"]


@dataclass(frozen=True, slots=True)
class PreviewWarning:
    """Something in a successful render worth a look before publishing.

    Attributes:
        kind: ``fallback`` (an output used its ``default``), ``absent_key``
            (a trigger key the template uses is not in the sample data) or
            ``absent_profile_key`` (a ``Profile.<key>`` the template reads is absent
            from, or null in, the sample profile: a typo such as ``Profile.nmae``
            renders as nothing).
        message: A sentence a marketer understands.
        field: The message field (``email.subject``), or ``None`` for a bare template.
        expression: For a fallback, the expression whose value was missing.
        default: For a fallback, the text used instead.
        key: For an absent key, the top-level ``ExternalTrigger`` (or ``Profile``) key.
        line: 1-based template line (fallbacks and absent profile keys).
        count: How many times the same fallback happened (once per loop pass).
    """

    kind: WarningKind
    message: str
    field: str | None = None
    expression: str | None = None
    default: str | None = None
    key: str | None = None
    line: int | None = None
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the warning."""
        return {
            "kind": self.kind,
            "message": self.message,
            "field": self.field,
            "expression": self.expression,
            "default": self.default,
            "key": self.key,
            "line": self.line,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class PreviewError:
    """A problem that stops the message from rendering.

    Attributes:
        code: The error's code (``template_syntax``, ``missing_trigger_key``,
            ``invalid_definition``...).
        message: The bare message.
        field: The message field it belongs to, if known.
        line: 1-based template line, for template errors.
        column: 1-based column, for template errors.
        source_line: The offending template line, for template errors.
        detail: The full report: message, location and a caret under the column
            when the error has one.
    """

    code: str
    message: str
    field: str | None = None
    line: int | None = None
    column: int | None = None
    source_line: str | None = None
    detail: str = ""

    @classmethod
    def from_exception(cls, exc: TidingsError, *, field: str | None = None) -> PreviewError:
        """Describe a tidings error, keeping its location if it has one.

        ``field`` names the message field when the error does not say it itself.
        """
        if exc.field is None and field is not None:
            if isinstance(exc, TemplateError):
                exc = exc.with_field(field)
            else:
                detail = f"{field}: {exc.message}"
                return cls(code=exc.code, message=exc.message, field=field, detail=detail)
        if isinstance(exc, TemplateError):
            return cls(
                code=exc.code,
                message=exc.message,
                field=exc.field,
                line=exc.line,
                column=exc.column,
                source_line=exc.source_line,
                detail=exc.detailed_message(),
            )
        return cls(code=exc.code, message=exc.message, field=exc.field, detail=str(exc))

    @property
    def location(self) -> str:
        """``field:line:column`` (whatever of it is known), for one-line reports."""
        parts = [self.field or ("template" if self.line is not None else "")]
        if self.line is not None:
            parts.append(str(self.line))
        if self.column is not None:
            parts.append(str(self.column))
        return ":".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the error."""
        return {
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "line": self.line,
            "column": self.column,
            "source_line": self.source_line,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Preview:
    """The outcome of a preview: what renders, what to look at, what is broken.

    Attributes:
        kind: ``template`` for a bare template, else the message's channel
            (``message`` when a definition names no known channel).
        text: The rendered text (bare templates only; ``None`` on error).
        payload: The rendered channel payload as a dict (messages only; ``None`` on error).
        warnings: Fallbacks to defaults, absent trigger keys and absent profile keys.
        errors: Why it did not render (empty when it did).
        escape: The output context of a bare template.
    """

    kind: PreviewKind
    text: str | None = None
    payload: Mapping[str, Any] | None = None
    warnings: tuple[PreviewWarning, ...] = ()
    errors: tuple[PreviewError, ...] = ()
    escape: EscapeMode | None = None

    @property
    def ok(self) -> bool:
        """Whether it rendered without error."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the preview (for ``--format json``)."""
        return {
            "kind": self.kind,
            "ok": self.ok,
            "escape": self.escape,
            "text": self.text,
            "payload": jsonable(self.payload),
            "warnings": [w.to_dict() for w in self.warnings],
            "errors": [e.to_dict() for e in self.errors],
        }


def jsonable(value: Any) -> Any:
    """``value`` with mappings and sequences turned into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
