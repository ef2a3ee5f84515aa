"""Email: an autoescaped HTML body, plain-text headers that can never break a line."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..templating import EscapeMode, Limits
from ._base import ChannelMessage, check_header, check_size, construct_payload, limits_for

DEFAULT_EMAIL_BODY_BYTES = 1_000_000
"""The default limit on each email body part (1 MB, UTF-8 bytes)."""

_HEADER_FIELDS = ("subject", "from_name", "reply_to")


class EmailPayload(BaseModel):
    """A rendered email, ready to hand to a mail sender.

    Attributes:
        subject: The subject line (never contains CR or LF).
        html: The HTML body.
        text: The plain-text alternative, or ``None``.
        from_name: The sender's display name, or ``None``.
        reply_to: The Reply-To address, or ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    html: str
    text: str | None = None
    from_name: str | None = None
    reply_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The payload as a JSON-ready dict, keys in declaration order."""
        return {
            "subject": self.subject,
            "html": self.html,
            "text": self.text,
            "from_name": self.from_name,
            "reply_to": self.reply_to,
        }


class EmailMessage(ChannelMessage):
    """An email definition whose fields are Liquid templates.

    Escaping: ``html`` autoescapes every interpolated value (``<`` becomes
    ``&lt;``); ``| raw`` (or ``| safe``) writes a value as it is, for trusted
    HTML only. ``subject``, ``text``, ``from_name`` and ``reply_to`` are plain
    text.

    Attributes:
        channel: Always ``"email"`` (the discriminator in JSON definitions).
        subject: Template of the subject line.
        html: Template of the HTML body.
        text: Template of the plain-text body. Empty renders become ``None``.
        from_name: Template of the sender's display name. Empty renders become ``None``.
        reply_to: Template of the Reply-To address. Empty renders become ``None``.
        max_html_bytes: The limit on the rendered ``html`` (and ``text``), in UTF-8 bytes.

    Raises:
        TemplateError: At construction, when a template does not compile; its
            ``field`` names the field (``email.subject``, ``email.html``).
    """

    _channel: ClassVar[str] = "email"

    channel: Literal["email"] = "email"
    subject: str
    html: str
    text: str | None = None
    from_name: str | None = None
    reply_to: str | None = None
    max_html_bytes: int = Field(default=DEFAULT_EMAIL_BODY_BYTES, gt=0, le=1 << 30)

    def _template_specs(self) -> Iterator[tuple[str, str, EscapeMode, Limits | None]]:
        body_limits = limits_for(self.max_html_bytes)
        yield "subject", self.subject, "text", None
        yield "html", self.html, "html", body_limits
        if self.text is not None:
            yield "text", self.text, "text", body_limits
        if self.from_name is not None:
            yield "from_name", self.from_name, "text", None
        if self.reply_to is not None:
            yield "reply_to", self.reply_to, "text", None

    def render(
        self,
        profile: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        **namespaces: Any,
    ) -> EmailPayload:
        """Render the email for one user.

        Args:
            profile: The ``Profile`` namespace.
            trigger: The ``ExternalTrigger`` namespace (the trigger call's data).
            **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

        Raises:
            MissingTriggerKeyError: A required trigger key is absent (``field`` set).
            TemplateError: A template failed while rendering (``field`` set).
            HeaderInjectionError: The subject, sender name or Reply-To would
                contain CR or LF (field ``email.subject`` and so on).
            PayloadTooLargeError: ``html`` or ``text`` is over ``max_html_bytes``.
        """
        return self.payload(self._render_texts(profile, trigger, namespaces))

    def payload(self, texts: dict[str, str]) -> EmailPayload:
        """The payload of the rendered ``texts`` (by field key), headers and sizes checked.

        Raises:
            HeaderInjectionError: A header field would contain CR or LF.
            PayloadTooLargeError: ``html`` or ``text`` is over ``max_html_bytes``.
        """
        for key in _HEADER_FIELDS:
            value = texts.get(key)
            if value is not None:
                check_header(value, f"email.{key}")
        check_size(texts["html"], self.max_html_bytes, "email.html")
        text = texts.get("text") or None
        if text is not None:
            check_size(text, self.max_html_bytes, "email.text")
        return construct_payload(
            EmailPayload,
            {
                "subject": texts["subject"],
                "html": texts["html"],
                "text": text,
                "from_name": texts.get("from_name") or None,
                "reply_to": texts.get("reply_to") or None,
            },
        )
