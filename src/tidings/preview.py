"""Preview a template or a channel message with sample data.

A preview renders exactly what a user would receive and says what to look at
before publishing: outputs that fell back to their ``default`` value, keys the
template uses that the sample trigger data does not carry, and errors with
their line, column and a caret under the offending spot. It never raises for a
problem in the template or the data: those become :attr:`Preview.errors`.

>>> from tidings.preview import preview_template
>>> result = preview_template('Hi {{ Profile.name | default: "there" }}', {}, {})
>>> result.text
'Hi there'
>>> [w.message for w in result.warnings]
['Profile.name fell back to its default "there"']

:func:`render_preview_html` draws one self-contained page (Jinja2, autoescaped,
no network for its own assets) showing a push notification mock, an email in a
sandboxed iframe, or a webhook request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import jinja2
from pydantic import ValidationError

from .channels import Message, message_from_dict
from .errors import TemplateError, TidingsError
from .templating import EscapeMode, RenderReport, Template, compile_template

__all__ = [
    "Preview",
    "PreviewError",
    "PreviewKind",
    "PreviewWarning",
    "WarningKind",
    "preview_message",
    "preview_template",
    "render_index_html",
    "render_preview_html",
]

PreviewKind = Literal["template", "message", "push", "email", "webhook"]
WarningKind = Literal["fallback", "absent_key"]

_CHANNELS: tuple[PreviewKind, ...] = ("push", "email", "webhook")


@dataclass(frozen=True, slots=True)
class PreviewWarning:
    """Something in a successful render worth a look before publishing.

    Attributes:
        kind: ``fallback`` (an output used its ``default``) or ``absent_key``
            (a trigger key the template uses is not in the sample data).
        message: A sentence a marketer understands.
        field: The message field (``email.subject``), or ``None`` for a bare template.
        expression: For a fallback, the expression whose value was missing.
        default: For a fallback, the text used instead.
        key: For an absent key, the top-level ``ExternalTrigger`` key.
        line: 1-based template line (fallbacks only).
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
        warnings: Fallbacks to defaults and absent trigger keys.
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
            "payload": _jsonable(self.payload),
            "warnings": [w.to_dict() for w in self.warnings],
            "errors": [e.to_dict() for e in self.errors],
        }


def _jsonable(value: Any) -> Any:
    """``value`` with mappings and sequences turned into dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


_TRIGGER_ROOT = re.compile(r"ExternalTrigger(?:\.(\w+)|\[[\"'](.+?)[\"']\])")


def _trigger_key_of(expression: str) -> str | None:
    """The top-level ``ExternalTrigger`` key an expression reads, if it reads one."""
    match = _TRIGGER_ROOT.match(expression)
    if match is None:
        return None
    return match.group(1) or match.group(2)


def _report_warnings(report: RenderReport, field_name: str | None) -> list[PreviewWarning]:
    """Warnings of one render: fallbacks (counted, in order) then other absent keys (sorted).

    A fallback caused by an absent trigger key says so and carries the key; that
    key is not listed a second time as an ``absent_key`` warning.
    """
    counts: dict[tuple[str, str, int], int] = {}
    for fb in report.fallbacks:
        entry = (fb.expression, str(fb.default), fb.line)
        counts[entry] = counts.get(entry, 0) + 1
    warnings: list[PreviewWarning] = []
    explained: set[str] = set()
    for (expression, default, line), count in counts.items():
        times = f" ({count} times)" if count > 1 else ""
        key = _trigger_key_of(expression)
        if key is not None and key in report.absent_keys:
            explained.add(key)
            message = (
                f"{expression} is absent from the trigger data: used the default "
                f"{json.dumps(default)}{times}"
            )
        else:
            key = None
            message = f"{expression} fell back to its default {json.dumps(default)}{times}"
        warnings.append(
            PreviewWarning(
                kind="fallback",
                message=message,
                field=field_name,
                expression=expression,
                default=default,
                key=key,
                line=line,
                count=count,
            )
        )
    for key in sorted(report.absent_keys - explained):
        warnings.append(
            PreviewWarning(
                kind="absent_key",
                message=f"ExternalTrigger.{key} is used but absent from the trigger data",
                field=field_name,
                key=key,
            )
        )
    return warnings


def preview_template(
    source: str,
    profile: Mapping[str, Any] | None = None,
    trigger: Mapping[str, Any] | None = None,
    *,
    escape: EscapeMode = "text",
    name: str | None = None,
    **namespaces: Any,
) -> Preview:
    """Compile and render one Liquid template with sample data, reporting what to check.

    Args:
        source: The Liquid template text.
        profile: The ``Profile`` namespace.
        trigger: The ``ExternalTrigger`` namespace.
        escape: The output context (``text``, ``html``, ``json`` or ``url``).
        name: A name for error locations (the file name, for instance).
        **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

    Returns:
        A :class:`Preview` with the text and warnings, or with errors (never raises
        for a template or data problem).
    """
    try:
        template = compile_template(source, escape=escape, name=name)
        report = template.render_with_report(profile, trigger, **namespaces)
    except TidingsError as exc:
        return Preview(kind="template", escape=escape, errors=(PreviewError.from_exception(exc),))
    return Preview(
        kind="template",
        escape=escape,
        text=report.text,
        warnings=tuple(_report_warnings(report, None)),
    )


def _field_templates(message: Message) -> Iterator[tuple[str, Template]]:
    """Each compiled template of ``message`` with its field name (``email.subject``).

    These are the very templates the message renders with (same escaping, same
    limits), compiled when the message was built.
    """
    for entry in message._compiled.fields:
        yield entry.field, entry.template


def _definition_error(exc: ValidationError) -> tuple[PreviewError, ...]:
    """Errors of an invalid message definition, keeping any template error's location."""
    errors: list[PreviewError] = []
    for detail in exc.errors():
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, TidingsError):
            errors.append(PreviewError.from_exception(cause))
            continue
        where = ".".join(str(p) for p in detail["loc"])
        if detail["type"] in ("union_tag_invalid", "union_tag_not_found"):
            got = detail.get("input", {})
            found = got.get("channel") if isinstance(got, Mapping) else None
            text = f'"channel" must be one of {", ".join(_CHANNELS)}'
            text += f", not {json.dumps(found)}" if found is not None else ""
            errors.append(
                PreviewError(code="invalid_definition", message=text, field="channel", detail=text)
            )
            continue
        text = str(detail["msg"])
        errors.append(
            PreviewError(
                code="invalid_definition",
                message=text,
                field=where or None,
                detail=f"{where}: {text}" if where else text,
            )
        )
    return tuple(errors)


def _build_message(
    definition: Message | Mapping[str, Any],
) -> tuple[Message | None, tuple[PreviewError, ...]]:
    if not isinstance(definition, Mapping):
        return definition, ()
    try:
        return message_from_dict(dict(definition)), ()
    except ValidationError as exc:
        return None, _definition_error(exc)
    except TidingsError as exc:
        return None, (PreviewError.from_exception(exc),)


def preview_message(
    definition: Message | Mapping[str, Any],
    profile: Mapping[str, Any] | None = None,
    trigger: Mapping[str, Any] | None = None,
    **namespaces: Any,
) -> Preview:
    """Render a push, email or webhook message with sample data, reporting what to check.

    Every templated field is rendered on its own so that all failing fields are
    reported at once; then the message renders as a whole, which applies the
    channel's rules (size limits, header injection, webhook JSON validity).

    Args:
        definition: A message, or its definition dict (with a ``"channel"`` key).
        profile: The ``Profile`` namespace.
        trigger: The ``ExternalTrigger`` namespace.
        **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

    Returns:
        A :class:`Preview` whose ``payload`` is the rendered payload as a dict, or
        with errors (never raises for a template, data or definition problem).
    """
    message, errors = _build_message(definition)
    if message is None:
        channel = definition.get("channel") if isinstance(definition, Mapping) else None
        kind: PreviewKind = channel if channel in _CHANNELS else "message"
        return Preview(kind=kind, errors=errors)
    warnings: list[PreviewWarning] = []
    field_errors: list[PreviewError] = []
    for field_name, template in _field_templates(message):
        try:
            report = template.render_with_report(profile, trigger, **namespaces)
        except TidingsError as exc:
            field_errors.append(PreviewError.from_exception(exc, field=field_name))
            continue
        warnings.extend(_report_warnings(report, field_name))
    if field_errors:
        return Preview(kind=message.channel, warnings=tuple(warnings), errors=tuple(field_errors))
    try:
        payload = message.render(profile, trigger, **namespaces)
    except TidingsError as exc:
        return Preview(
            kind=message.channel,
            warnings=tuple(warnings),
            errors=(PreviewError.from_exception(exc),),
        )
    return Preview(kind=message.channel, payload=payload.to_dict(), warnings=tuple(warnings))


@lru_cache(maxsize=1)
def _jinja_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("tidings", "preview_templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True, slots=True)
class _PageEntry:
    """One preview on a page, with what the template needs precomputed."""

    title: str
    preview: Preview
    body_json: str | None = None
    extras: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def _entry(title: str, preview: Preview) -> _PageEntry:
    payload = preview.payload or {}
    body_json = None
    if preview.kind == "webhook" and preview.payload is not None:
        body_json = json.dumps(_jsonable(payload.get("body")), indent=2, ensure_ascii=False)
    extras: tuple[tuple[str, str], ...] = ()
    if preview.kind == "push" and isinstance(payload.get("extras"), Mapping):
        extras = tuple((str(k), str(v)) for k, v in payload["extras"].items())
    return _PageEntry(title=title, preview=preview, body_json=body_json, extras=extras)


def render_preview_html(preview: Preview, *, title: str = "tidings preview") -> str:
    """Draw ``preview`` as one self-contained HTML page (inline CSS, no scripts).

    The page shows what a person would see: a push notification mock, the email
    inside a sandboxed ``iframe`` (its HTML in an escaped ``srcdoc``, so nothing in
    it runs or touches the page), or the webhook request. Warnings are listed and
    errors shown with their line, column and caret.

    Args:
        preview: The result of :func:`preview_template` or :func:`preview_message`.
        title: The page heading (the file name, for instance).
    """
    template = _jinja_environment().get_template("preview.html")
    return template.render(title=title, entry=_entry(title, preview))


def render_index_html(
    pages: Sequence[tuple[str, str, Preview]], *, title: str = "tidings previews"
) -> str:
    """Draw an index page linking to preview pages (``tidings demo`` writes one).

    Args:
        pages: ``(name, href, preview)`` for each page, in the order to list them.
        title: The page heading.
    """
    items = [
        {
            "name": name,
            "href": href,
            "kind": preview.kind,
            "ok": preview.ok,
            "warnings": len(preview.warnings),
            "errors": len(preview.errors),
        }
        for name, href, preview in pages
    ]
    return _jinja_environment().get_template("index.html").render(title=title, items=items)
