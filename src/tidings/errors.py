"""Every error tidings raises, in one hierarchy.

Each error carries the context a caller needs to act on it: the field
(``email.subject``), the template line and column, and, for data problems,
the key. ``str(error)`` is a message a marketer understands; templates errors
also draw the offending line with a caret under the column.

Hierarchy::

    TidingsError
    ├── TemplateError (ValueError)            a template cannot be compiled or rendered
    │   ├── TemplateSyntaxError               bad Liquid syntax, found at compile time
    │   ├── UnknownFilterError                a filter that does not exist
    │   ├── UnknownNameError                  a top-level name that is not a namespace
    │   ├── UnsafeOutputError                 an output where escaping cannot keep data safe
    │   └── RenderError                       a failure while rendering
    │       ├── UndefinedValueError           strict mode: a value is missing
    │       └── LimitExceededError            loop, output or nesting limit reached
    ├── DataError (ValueError)                JSON-like data breaks a rule (depth, size,
    │   │                                     key type, surrogate, huge int, cycle, NaN)
    │   └── TriggerDataError                  the trigger data is unusable
    │       └── MissingTriggerKeyError (LookupError)  a required ExternalTrigger key is absent
    ├── RecordError (ValueError)              a profile or user event is invalid
    │   ├── ProfileError                      ... a profile (bad email, time zone, ...)
    │   └── EventError                        ... a user event (no timestamp, ...)
    ├── DefinitionError (ValueError)          an invalid campaign/bulletin/event definition
    │                                         (``problems``: every failing field at once)
    ├── ArgumentError (TypeError, ValueError) a public function got an argument it cannot use
    └── ChannelError (ValueError)             a rendered payload breaks a channel rule
        ├── PayloadTooLargeError              over the channel's size limit
        ├── InvalidWebhookBodyError           the webhook body is not valid JSON
        └── HeaderInjectionError              CR or LF in a header value

The contract: a public function given bad input raises a subclass of
:class:`TidingsError` (never a bare ``TypeError``, ``RecursionError``,
``UnicodeEncodeError`` or pydantic ``ValidationError``), and the error names the
field (``properties.items[3]``, ``filters.0.within_days``) or the template line.
Errors that wrap pydantic's keep it as ``__cause__`` and its error list on
``errors``. Vendor-API entry points (``trigger_campaign``, ``raise_business_event``,
``message_via_identity``) answer a bad body with the vendor's ``fail`` response
instead of raising; ``Dispatch.error`` holds the typed error. See ``docs/errors.md``.

Outcomes such as "held out by the control group" are never errors: they are
``Skip`` records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "ArgumentError",
    "ChannelError",
    "DataError",
    "DefinitionError",
    "DefinitionProblem",
    "ErrorCode",
    "EventError",
    "HeaderInjectionError",
    "InvalidWebhookBodyError",
    "LimitExceededError",
    "MissingTriggerKeyError",
    "PayloadTooLargeError",
    "ProfileError",
    "RecordError",
    "RenderError",
    "TemplateError",
    "TemplateSyntaxError",
    "TidingsError",
    "TriggerDataError",
    "UndefinedValueError",
    "UnknownFilterError",
    "UnknownNameError",
    "UnsafeOutputError",
]

ErrorCode = Literal[
    "error",
    "template_syntax",
    "unknown_filter",
    "unknown_name",
    "unsafe_output",
    "render_error",
    "undefined_value",
    "limit_exceeded",
    "trigger_data",
    "missing_trigger_key",
    "channel_error",
    "payload_too_large",
    "invalid_webhook_body",
    "header_injection",
    "definition_error",
    "data_error",
    "record_error",
    "profile_error",
    "event_error",
    "argument_error",
]


class TidingsError(Exception):
    """Base class of every error raised by tidings.

    Attributes:
        message: The bare message, without location.
        field: The message field the error belongs to (``email.subject``), if any.
    """

    code: ErrorCode = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


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


class DataError(TidingsError, ValueError):
    r"""Untrusted JSON-like data (trigger data, properties) that breaks a rule.

    Raised by :func:`tidings.models.data.check_data`, the one checker every entry
    point uses: nesting too deep, too many items, a key that is not a string, a
    lone surrogate (``"\\ud800"``), an integer too large, a circular reference,
    NaN or infinity, or a value of a type JSON cannot hold.

    Attributes:
        field: The path of the offending value (``ExternalTrigger.items[3].name``).
        rule: Which rule was broken: ``depth``, ``size``, ``key_type``,
            ``surrogate``, ``int_size``, ``cycle``, ``non_finite``, ``type``,
            ``string_size``.
    """

    code: ErrorCode = "data_error"

    def __init__(self, message: str, *, field: str | None = None, rule: str = "") -> None:
        super().__init__(message, field=field)
        self.rule = rule


class TriggerDataError(DataError):
    """Trigger data that cannot be used (wrong type, too large)."""

    code: ErrorCode = "trigger_data"


class MissingTriggerKeyError(TriggerDataError, LookupError):
    """A key the template needs (used without a ``default``) is absent from the trigger.

    Attributes:
        key: The first missing top-level ``ExternalTrigger`` key.
        keys: Every missing key, sorted.
    """

    code: ErrorCode = "missing_trigger_key"

    def __init__(self, keys: list[str], *, field: str | None = None) -> None:
        self.keys = sorted(keys)
        self.key = self.keys[0]
        names = ", ".join(self.keys)
        plural = "s" if len(self.keys) > 1 else ""
        super().__init__(f"ExternalTrigger key{plural} missing: {names}", field=field)


class ChannelError(TidingsError, ValueError):
    """A rendered payload breaks a rule of its channel."""

    code: ErrorCode = "channel_error"


class PayloadTooLargeError(ChannelError):
    """The rendered payload is larger than the channel allows.

    Attributes:
        size: The payload's size in bytes.
        limit: The limit in bytes.
    """

    code: ErrorCode = "payload_too_large"

    def __init__(self, size: int, limit: int, *, field: str | None = None) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"payload is {size} bytes, over the limit of {limit} bytes", field=field)


class InvalidWebhookBodyError(ChannelError):
    """The rendered webhook body is not valid JSON."""

    code: ErrorCode = "invalid_webhook_body"


class HeaderInjectionError(ChannelError):
    """A header value (or email subject) would carry a CR or LF character."""

    code: ErrorCode = "header_injection"


class _InvalidInputError(TidingsError, ValueError):
    """An error that wraps pydantic's validation error (kept as ``__cause__``).

    Attributes:
        errors: pydantic's error list (``ValidationError.errors()``), one dict per
            problem with ``loc``, ``msg`` and ``type``; empty when the error did not
            come from pydantic.
        reason: The message without the ``invalid <what>:`` prefix.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
    ) -> None:
        super().__init__(message, field=field)
        self.errors: list[dict[str, Any]] = list(errors)
        self.reason = reason if reason is not None else message


class RecordError(_InvalidInputError):
    """A profile or user event that cannot be stored.

    Attributes:
        index: The record's position in the batch given (0-based), if known.
    """

    code: ErrorCode = "record_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message, field=field, errors=errors, reason=reason)
        self.index = index


class ProfileError(RecordError):
    """A profile that cannot be stored: a bad email address, time zone, identity..."""

    code: ErrorCode = "profile_error"


class EventError(RecordError):
    """A user event that cannot be stored: no timestamp, bad properties..."""

    code: ErrorCode = "event_error"


@dataclass(frozen=True, slots=True)
class DefinitionProblem:
    """One failing field of a definition, found at publish time.

    Attributes:
        field: The field (``message.subject``, ``match.0.business_property``).
        message: What is wrong, in a marketer's words.
        line: 1-based line in the field's template, when the problem has one.
        column: 1-based column in that line.
    """

    field: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.field
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        return f"{where}: {self.message}"


class DefinitionError(_InvalidInputError):
    """A business event, bulletin, campaign or control group definition is invalid.

    ``field`` names the offending field (``targeting_cap``, ``schedule.end``).

    Attributes:
        problems: Every failing field found at publish time (field, line, column,
            message), not only the first; ``field`` is the first one's.
    """

    code: ErrorCode = "definition_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[dict[str, Any]] = (),
        reason: str | None = None,
        problems: Sequence[DefinitionProblem] = (),
    ) -> None:
        super().__init__(message, field=field, errors=errors, reason=reason)
        self.problems: tuple[DefinitionProblem, ...] = tuple(problems)

    @classmethod
    def from_problems(cls, what: str, problems: Sequence[DefinitionProblem]) -> DefinitionError:
        """One error listing every problem of a ``what`` (``bulletin``) definition.

        Raises:
            ValueError: ``problems`` is empty.
        """
        if not problems:
            raise ValueError("from_problems needs at least one problem")
        first = problems[0]
        if len(problems) == 1:
            return cls(first.message, field=first.field, problems=problems)
        listing = "; ".join(str(p) for p in problems)
        return cls(
            f"invalid {what}, {len(problems)} problems: {listing}",
            field=first.field,
            problems=problems,
        )

    def detailed_message(self) -> str:
        """Every problem on its own line (the message itself when there is none)."""
        if not self.problems:
            return str(self)
        return "\n".join(str(p) for p in self.problems)


class ArgumentError(TidingsError, TypeError, ValueError):
    """A public function was called with an argument it cannot use.

    ``upsert_profiles(None)``, ``Workspace(workers=0)``, ``escape="xml"``,
    ``Workspace.sqlite`` on a directory or a file that is not a database: a
    ``TypeError`` and a ``ValueError`` too, so callers' existing ``except``
    clauses keep working. ``field`` names the argument.
    """

    code: ErrorCode = "argument_error"
