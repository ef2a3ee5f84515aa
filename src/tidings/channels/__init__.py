"""The delivery channels: push, email and webhook messages and their rendered payloads.

Each message model holds Liquid templates (compiled once, when the model is
built) and renders them per user into a payload, escaping each field for its
context and enforcing the channel's rules (size limits, header safety, valid
JSON). JSON definitions carry a ``"channel"`` key; :func:`message_from_dict`
builds the right model from one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeAlias

from pydantic import Field, TypeAdapter

from ..errors import DefinitionError
from ..models._base import tidings_errors
from ._base import ChannelMessage as ChannelMessage
from ._base import template_error_from as template_error_from
from .email import DEFAULT_EMAIL_BODY_BYTES as DEFAULT_EMAIL_BODY_BYTES
from .email import EmailMessage as EmailMessage
from .email import EmailPayload as EmailPayload
from .push import DEFAULT_PUSH_PAYLOAD_BYTES as DEFAULT_PUSH_PAYLOAD_BYTES
from .push import PushMessage as PushMessage
from .push import PushPayload as PushPayload
from .webhook import DEFAULT_WEBHOOK_BODY_BYTES as DEFAULT_WEBHOOK_BODY_BYTES
from .webhook import WebhookMessage as WebhookMessage
from .webhook import WebhookMethod as WebhookMethod
from .webhook import WebhookPayload as WebhookPayload

__all__ = [
    "DEFAULT_EMAIL_BODY_BYTES",
    "DEFAULT_PUSH_PAYLOAD_BYTES",
    "DEFAULT_WEBHOOK_BODY_BYTES",
    "ChannelMessage",
    "EmailMessage",
    "EmailPayload",
    "Message",
    "MessageField",
    "Payload",
    "PushMessage",
    "PushPayload",
    "WebhookMessage",
    "WebhookMethod",
    "WebhookPayload",
    "message_from_dict",
    "template_error_from",
]

Message: TypeAlias = PushMessage | EmailMessage | WebhookMessage
"""Any channel message (usable with ``isinstance``)."""

MessageField: TypeAlias = Annotated[Message, Field(discriminator="channel")]
"""``Message`` as a pydantic field type, chosen by its ``"channel"`` key."""

Payload: TypeAlias = PushPayload | EmailPayload | WebhookPayload
"""Any rendered payload."""

_MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(MessageField)


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """Build the message a JSON definition describes, chosen by its ``"channel"`` key.

    Args:
        data: A dict such as ``{"channel": "email", "subject": "...", "html": "..."}``.

    Raises:
        TemplateError: A template does not compile; ``field`` names the field.
        DefinitionError: The definition is malformed (unknown channel, missing or
            extra fields, wrong types); pydantic's error is its ``__cause__``.
    """
    with tidings_errors(DefinitionError, "message"):
        return _MESSAGE_ADAPTER.validate_python(data)
