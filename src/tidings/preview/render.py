"""Rendering a template or a message for a preview: output, fallbacks, absent keys, errors."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from .._publish import message_shape_problems
from ..channels import Message, message_from_dict
from ..errors import DefinitionError, TidingsError
from ..templating import EscapeMode, RenderReport, Template, compile_template
from .results import Preview, PreviewError, PreviewKind, PreviewWarning

__all__ = ["preview_message", "preview_template"]

_CHANNELS: tuple[PreviewKind, ...] = ("push", "email", "webhook")

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


def _profile_warnings(
    template: Template,
    profile: Mapping[str, Any] | None,
    field_name: str | None,
    shown: list[PreviewWarning],
) -> list[PreviewWarning]:
    """One warning per ``Profile.<key>`` the template reads that the sample profile lacks.

    A key whose absence a fallback warning of ``shown`` already explains (its
    expression reads that key) is not listed twice. Keys in first-use order.
    """
    sample = profile or {}
    explained = {
        w.expression.split(".", 2)[1].split("[", 1)[0].split(" ", 1)[0]
        for w in shown
        if w.kind == "fallback" and w.expression and w.expression.startswith("Profile.")
    }
    warnings: list[PreviewWarning] = []
    seen: set[str] = set()
    for use in template.outline().uses:
        key = use.key
        if use.namespace != "Profile" or key is None or key in seen or key in explained:
            continue
        seen.add(key)
        if sample.get(key) is not None:
            continue
        known = ", ".join(sorted(str(k) for k in sample)) or "none"
        close = difflib.get_close_matches(key, [str(k) for k in sample], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        warnings.append(
            PreviewWarning(
                kind="absent_profile_key",
                message=f"Profile.{key} is absent from the sample profile and renders "
                f"as nothing (the profile has: {known}){hint}",
                field=field_name,
                key=key,
                line=use.line,
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
    warnings = _report_warnings(report, None)
    warnings += _profile_warnings(template, profile, None, warnings)
    return Preview(kind="template", escape=escape, text=report.text, warnings=tuple(warnings))


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
    except DefinitionError as exc:
        if isinstance(exc.__cause__, ValidationError):  # every problem, not just the first
            return None, _definition_error(exc.__cause__)
        return None, (PreviewError.from_exception(exc),)
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
    # What publishing would refuse in the message's own text, every problem at once.
    field_errors: list[PreviewError] = [
        PreviewError(
            code="invalid_definition",
            message=problem.message,
            field=problem.field.replace("message.", f"{message.channel}.", 1),
            line=problem.line,
            column=problem.column,
            detail=str(problem).replace("message.", f"{message.channel}.", 1),
        )
        for problem in message_shape_problems(message)
    ]
    for field_name, template in _field_templates(message):
        try:
            report = template.render_with_report(profile, trigger, **namespaces)
        except TidingsError as exc:
            field_errors.append(PreviewError.from_exception(exc, field=field_name))
            continue
        found = _report_warnings(report, field_name)
        warnings += found + _profile_warnings(template, profile, field_name, found)
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
