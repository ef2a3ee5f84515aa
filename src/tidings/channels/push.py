"""Push notifications: plain-text title and body, URL-encoded links, a byte-size limit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._json import dumps_floatless
from ..templating import EscapeMode, Limits
from ._base import ChannelMessage, check_size, construct_payload, json_size_bound

DEFAULT_PUSH_PAYLOAD_BYTES = 4096
"""The default push size limit (APNs and FCM both cap a notification at 4 KB)."""

_FRAME_BYTES = 128
"""More than the fixed part of a push payload's JSON: key names, braces,
separators and ``null``s (``{"title":,"body":,"deep_link":null,...}``, 80 bytes)."""


class PushPayload(BaseModel):
    """A rendered push notification, ready to hand to a push provider.

    Attributes:
        title: The notification title.
        body: The notification text.
        deep_link: Where a tap opens the app, or ``None``.
        image_url: An image to show, or ``None``.
        extras: Custom key/value data delivered with the notification.
        ttl_seconds: How long the provider may keep trying to deliver, or ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    body: str
    deep_link: str | None = None
    image_url: str | None = None
    extras: dict[str, str] = Field(default_factory=dict)
    ttl_seconds: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The payload as a JSON-ready dict, keys in declaration order."""
        return {
            "title": self.title,
            "body": self.body,
            "deep_link": self.deep_link,
            "image_url": self.image_url,
            "extras": dict(self.extras),
            "ttl_seconds": self.ttl_seconds,
        }

    def to_json(self) -> str:
        """Compact JSON (UTF-8 text, no ASCII escapes), keys in a stable order.

        Its UTF-8 length is what the push size limit measures.
        """
        return dumps_floatless(self.to_dict())


class PushMessage(ChannelMessage):
    """A push notification definition whose text fields are Liquid templates.

    Escaping: ``title``, ``body`` and the ``extras`` values are plain text
    (nothing escaped); ``deep_link`` and ``image_url`` percent-encode every
    interpolated value and keep the template's literal text, so
    ``myapp://product/{{ ExternalTrigger.id }}`` stays a valid link whatever the
    id holds.

    Attributes:
        channel: Always ``"push"`` (the discriminator in JSON definitions).
        title: Template of the notification title.
        body: Template of the notification text.
        deep_link: Template of the link a tap opens. A link that renders empty is
            sent as ``None``.
        image_url: Template of the image URL. Empty renders become ``None``.
        extras: Custom data; keys are literal, values are templates.
        ttl_seconds: Carried to the payload unchanged.
        max_payload_bytes: The limit on the payload's JSON size (UTF-8 bytes).

    Raises:
        TemplateError: At construction, when a template does not compile; its
            ``field`` names the field (``push.title``, ``push.extras.KEY``).
    """

    _channel: ClassVar[str] = "push"

    channel: Literal["push"] = "push"
    title: str
    body: str
    deep_link: str | None = None
    image_url: str | None = None
    extras: dict[str, str] = Field(default_factory=dict)
    ttl_seconds: int | None = Field(default=None, ge=0)
    max_payload_bytes: int = Field(default=DEFAULT_PUSH_PAYLOAD_BYTES, gt=0, le=1 << 30)

    def _template_specs(self) -> Iterator[tuple[str, str, EscapeMode, Limits | None]]:
        yield "title", self.title, "text", None
        yield "body", self.body, "text", None
        if self.deep_link is not None:
            yield "deep_link", self.deep_link, "url", None
        if self.image_url is not None:
            yield "image_url", self.image_url, "url", None
        for key, value in self.extras.items():
            yield f"extras.{key}", value, "text", None

    def render(
        self,
        profile: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        **namespaces: Any,
    ) -> PushPayload:
        """Render the notification for one user.

        Args:
            profile: The ``Profile`` namespace.
            trigger: The ``ExternalTrigger`` namespace (the trigger call's data).
            **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

        Raises:
            MissingTriggerKeyError: A required trigger key is absent (``field`` set).
            TemplateError: A template failed while rendering (``field`` set).
            PayloadTooLargeError: The payload's JSON is over ``max_payload_bytes``
                (field ``push``).
        """
        return self.payload(self._render_texts(profile, trigger, namespaces))

    def payload(self, texts: dict[str, str]) -> PushPayload:
        """The payload of the rendered ``texts`` (by field key), checked against the limit.

        Raises:
            PayloadTooLargeError: The payload's JSON is over ``max_payload_bytes``.
        """
        return construct_payload(PushPayload, self.payload_dict(texts))

    def payload_dict(self, texts: dict[str, str]) -> dict[str, Any]:
        """:meth:`payload` as the dict its ``to_dict`` gives (a dispatch needs no model).

        Raises:
            PayloadTooLargeError: The payload's JSON is over ``max_payload_bytes``.
        """
        extras = self.extras
        values = {
            "title": texts["title"],
            "body": texts["body"],
            "deep_link": texts.get("deep_link") or None,
            "image_url": texts.get("image_url") or None,
            "extras": {key: texts[f"extras.{key}"] for key in extras} if extras else {},
            "ttl_seconds": self.ttl_seconds,
        }
        # The payload's JSON is its texts (each at most six bytes a character once
        # escaped), the extras' keys and a bounded frame of key names and literals:
        # when even that bound fits, serialising it just to measure it is wasted.
        bound = (
            json_size_bound(texts.values())
            + (json_size_bound(extras) + 2 * len(extras) if extras else 0)  # ":" and "," each
            + (4 if self.ttl_seconds is None else len(str(self.ttl_seconds)))
            + _FRAME_BYTES
        )
        if bound > self.max_payload_bytes:
            check_size(dumps_floatless(values), self.max_payload_bytes, "push")
        return values
