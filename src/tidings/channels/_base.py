"""Shared machinery of the channel messages: compile once, render per user, name the field.

Every message model compiles its templates when it is constructed (through the
cached :func:`tidings.compile_template`) and keeps them on the instance. Render
paths only call the compiled templates and build the payload with
``model_construct``: nothing is validated twice.

Why the ``__init__`` / ``model_validate`` overrides: pydantic turns any
``ValueError`` raised while validating (field validators *and*
``model_post_init``) into a ``ValidationError``. ``TemplateError`` is a
``ValueError``, so a template that does not compile would reach the caller as a
``ValidationError``. The entry points below unwrap it, so
``except tidings.TemplateError`` works and keeps the field, line and column; any
other validation problem becomes a ``DefinitionError`` naming the field (pydantic's
error kept as ``__cause__``, its list on ``errors``).
Inside another model (a campaign holding messages) pydantic's wrapping applies;
:func:`template_error_from` finds the template error in that ``ValidationError``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from ..errors import (
    DefinitionError,
    HeaderInjectionError,
    MissingTriggerKeyError,
    PayloadTooLargeError,
    TemplateError,
    TidingsError,
    TriggerDataError,
)
from ..models._base import tidings_errors
from ..templating import EscapeMode, Limits, Template, compile_template

_DEFAULT_OUTPUT_BYTES = Limits().output_bytes

_P = TypeVar("_P", bound=BaseModel)
_set = object.__setattr__


def construct_payload(cls: type[_P], values: dict[str, Any]) -> _P:
    """Build a payload model from trusted, already checked values (render hot path).

    The object ``cls.model_construct(**values)`` would build when ``values`` holds
    every field, made directly: pydantic's generic ``model_construct`` walks each
    field's aliases and defaults, which costs more than rendering a push message.
    ``values`` is kept as the instance's ``__dict__`` (the caller hands it over).
    Only for payload models: no aliases, no private attributes, no post-init.
    """
    model = cls.__new__(cls)
    _set(model, "__dict__", values)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


def template_error_from(exc: ValidationError) -> TemplateError | None:
    """Return the first :class:`TemplateError` wrapped in a pydantic ``ValidationError``.

    Use it where a message is validated as part of a larger model (a campaign),
    where pydantic reports a template that does not compile as a ``ValidationError``.
    """
    for detail in exc.errors(include_url=False):
        error = (detail.get("ctx") or {}).get("error")
        if isinstance(error, TemplateError):
            return error
    return None


def compile_errors(message: type[ChannelMessage], data: Mapping[str, Any]) -> list[TemplateError]:
    """Every template of a message that does not compile, each error naming its field.

    Building a message stops at its first template error; a publish-time report
    lists them all. ``data`` must hold valid field values (pydantic accepted them
    before compiling the templates), so they are read without validating again.
    """
    # Not model_construct: it would compile the templates (model_post_init) and stop again.
    values = {
        name: info.get_default(call_default_factory=True)
        for name, info in message.model_fields.items()
        if not info.is_required()
    }
    draft = message.__new__(message)
    _set(draft, "__dict__", {**values, **data})
    errors: list[TemplateError] = []
    for key, source, escape, limits in draft._template_specs():
        try:
            compile_template(source, escape=escape, limits=limits)
        except TemplateError as exc:
            errors.append(exc.with_field(f"{message._channel}.{key}"))
    return errors


def limits_for(max_bytes: int) -> Limits | None:
    """Template limits for a body whose channel allows ``max_bytes``.

    The engine's output limit is raised to twice the channel limit (when that is
    above the default) so an oversized body is reported as a
    :class:`PayloadTooLargeError` with its size, not cut short by the engine.
    """
    if 2 * max_bytes <= _DEFAULT_OUTPUT_BYTES:
        return None
    return Limits(output_bytes=2 * max_bytes)


def check_size(text: str, limit: int, field: str) -> None:
    """Raise :class:`PayloadTooLargeError` if ``text`` is over ``limit`` bytes (UTF-8)."""
    # Fast path: a str never encodes to fewer bytes than it has characters,
    # and never to more than four times as many.
    if 4 * len(text) <= limit:
        return
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise PayloadTooLargeError(size, limit, field=field)


def json_size_bound(texts: Collection[str]) -> int:
    r"""An upper bound on the UTF-8 bytes these strings take inside JSON, quotes included.

    With ``ensure_ascii=False`` a character becomes at most six bytes (``\u001f``);
    anything else it may become (an escape of two bytes, UTF-8 of up to four) is
    shorter. Lets a size check skip serialising a payload that cannot be too large.
    """
    return 6 * sum(map(len, texts)) + 2 * len(texts)


def check_header(value: str, field: str) -> None:
    """Raise :class:`HeaderInjectionError` if a header value carries CR or LF."""
    if "\r" in value or "\n" in value:
        char = "CR" if "\r" in value else "LF"
        raise HeaderInjectionError(
            f"a header value cannot contain a line break ({char}); check the data inserted into it",
            field=field,
        )


def describe_char(char: str) -> str:
    """A readable name for ``char`` (for error messages)."""
    return f"U+{ord(char):04X} {unicodedata.name(char, 'control character')}"


@dataclass(frozen=True, slots=True, eq=False)
class CompiledField:
    """One compiled template of a message.

    Attributes:
        key: The field path inside the message (``title``, ``extras.campaign``).
        field: The full field name used in errors (``push.title``).
        template: The compiled template.
    """

    key: str
    field: str
    template: Template


class CompiledTemplates:
    """The compiled templates of one message, with their trigger-key analysis.

    Two holders compare equal when they hold the same sources compiled the same
    way, so message equality never depends on template object identity.
    """

    __slots__ = ("by_key", "fields", "required_trigger_keys", "trigger_keys")

    def __init__(self, fields: tuple[CompiledField, ...]) -> None:
        self.fields = fields
        self.by_key = {entry.key: entry for entry in fields}
        self.trigger_keys: frozenset[str] = frozenset().union(
            *(entry.template.trigger_keys for entry in fields)
        )
        self.required_trigger_keys: frozenset[str] = frozenset().union(
            *(entry.template.required_trigger_keys for entry in fields)
        )

    def _signature(self) -> tuple[tuple[str, str, str, Limits], ...]:
        return tuple(
            (e.key, e.template.source, e.template.escape, e.template.limits) for e in self.fields
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledTemplates):
            return NotImplemented
        return self._signature() == other._signature()

    def __hash__(self) -> int:
        return hash(self._signature())

    def check_trigger(self, trigger: Mapping[str, Any] | None, channel: str) -> None:
        """Raise :class:`MissingTriggerKeyError` naming every missing key at once.

        The error's field is the first field (in declaration order) that needs
        one of the missing keys.
        """
        if trigger is not None and not isinstance(trigger, Mapping):
            raise TriggerDataError(
                f"ExternalTrigger data must be an object, not {type(trigger).__name__}",
                field=channel,
            )
        if not self.required_trigger_keys:
            return
        data = trigger or {}
        missing = {k for k in self.required_trigger_keys if data.get(k) is None}
        if not missing:
            return
        field = next(
            (e.field for e in self.fields if e.template.required_trigger_keys & missing), channel
        )
        raise MissingTriggerKeyError(sorted(missing), field=field)

    def render(
        self,
        profile: Mapping[str, Any] | None,
        trigger: Mapping[str, Any] | None,
        namespaces: Mapping[str, Any],
    ) -> dict[str, str]:
        """Render every template; return the texts by field key.

        Raises:
            TemplateError: A template failed; ``field`` names the message field.
            TidingsError: Unusable trigger data, with ``field`` set.
        """
        texts: dict[str, str] = {}
        for entry in self.fields:
            try:
                texts[entry.key] = entry.template.render(profile, trigger, **namespaces)
            except TemplateError as exc:
                raise exc.with_field(entry.field) from exc
            except TidingsError as exc:
                if exc.field is None:
                    exc.field = entry.field
                raise
        return texts


class ChannelMessage(BaseModel):
    """Base of the channel messages: templates compiled at construction, rendered per user.

    Subclasses declare their fields and list their templates in
    :meth:`_template_specs`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    _channel: ClassVar[str] = ""
    _compiled: CompiledTemplates = PrivateAttr()

    def __init__(self, /, **data: Any) -> None:
        with tidings_errors(DefinitionError, "message"):
            super().__init__(**data)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate ``obj`` (a dict); a template that does not compile raises ``TemplateError``."""
        with tidings_errors(DefinitionError, "message"):
            return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate JSON text; a template that does not compile raises ``TemplateError``."""
        with tidings_errors(DefinitionError, "message"):
            return super().model_validate_json(json_data, **kwargs)

    def model_post_init(self, context: Any, /) -> None:
        """Compile every template once (cached), attributing errors to their field."""
        prefix = self._channel
        fields: list[CompiledField] = []
        for key, source, escape, limits in self._template_specs():
            field = f"{prefix}.{key}"
            try:
                template = compile_template(source, escape=escape, limits=limits)
            except TemplateError as exc:
                raise exc.with_field(field) from exc
            fields.append(CompiledField(key, field, template))
        self._compiled = CompiledTemplates(tuple(fields))

    def __getstate__(self) -> dict[Any, Any]:
        # Compiled templates hold engine objects that do not pickle: drop them
        # and compile again (from the cache) when unpickled.
        state = super().__getstate__()
        return {**state, "__pydantic_private__": None}

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self.model_post_init(None)

    def _template_specs(self) -> Iterator[tuple[str, str, EscapeMode, Limits | None]]:
        """Yield ``(key, source, escape, limits)`` for every template field."""
        raise NotImplementedError  # pragma: no cover - every channel overrides it

    def payload(self, texts: dict[str, str]) -> BaseModel:
        """The channel's payload of its rendered ``texts`` (by field key), checked."""
        raise NotImplementedError  # pragma: no cover - every channel overrides it

    def payload_dict(self, texts: dict[str, str]) -> dict[str, Any]:
        """:meth:`payload` as the JSON-ready dict of its ``to_dict`` (what a delivery holds)."""
        payload: Any = self.payload(texts)
        return dict(payload.to_dict())

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy the message; with ``update``, validate and compile the new field values.

        (pydantic's ``model_copy`` skips validation, which would leave the
        compiled templates out of date.)
        """
        if not update:
            return super().model_copy(deep=deep)
        return type(self)(**{**dict(self), **update})

    @property
    def compiled_templates(self) -> CompiledTemplates:
        """The compiled templates with their trigger-key analysis (read once by a batch)."""
        # Read from pydantic's private store directly: ``self._compiled`` goes
        # through ``BaseModel.__getattr__``, slow on the render hot path.
        private = self.__pydantic_private__
        return private["_compiled"] if private else self._compiled

    @property
    def templates(self) -> tuple[CompiledField, ...]:
        """Every compiled template of the message, with its field, in declaration order."""
        return self._compiled.fields

    @property
    def trigger_keys(self) -> frozenset[str]:
        """Every top-level ``ExternalTrigger`` key any of the templates uses."""
        return self._compiled.trigger_keys

    @property
    def required_trigger_keys(self) -> frozenset[str]:
        """Keys some template uses without a ``default`` or an ``if`` guard."""
        return self.compiled_templates.required_trigger_keys

    def check_trigger(self, trigger: Mapping[str, Any] | None) -> None:
        """Raise :class:`MissingTriggerKeyError` if ``trigger`` lacks a required key.

        The error lists every missing key; its ``field`` is the first field that
        needs one of them.
        """
        self._compiled.check_trigger(trigger, self._channel)

    def _render_texts(
        self,
        profile: Mapping[str, Any] | None,
        trigger: Mapping[str, Any] | None,
        namespaces: Mapping[str, Any],
    ) -> dict[str, str]:
        compiled = self.compiled_templates
        compiled.check_trigger(trigger, self._channel)
        return compiled.render(profile, trigger, namespaces)
