"""Webhooks: a URL-encoded URL, plain-text headers, a JSON body that is always valid JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._json import dumps
from ..errors import ChannelError, InvalidWebhookBodyError
from ..templating import EscapeMode, Limits
from ._base import (
    ChannelMessage,
    check_header,
    check_size,
    construct_payload,
    describe_char,
    limits_for,
)

DEFAULT_WEBHOOK_BODY_BYTES = 1_000_000
"""The default limit on a rendered webhook body (1 MB, UTF-8 bytes)."""

WebhookMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
"""The HTTP methods a webhook may use."""

# RFC 9110 field-name: a token.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
# Path segments a client resolves away ("/a/../b" is "/b"), also percent-encoded:
# data written into one would move the request to another path.
_DOT_SEGMENTS = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})
_SNIPPET = 24


class WebhookPayload(BaseModel):
    """A rendered webhook call, ready to hand to an HTTP client.

    Attributes:
        url: The absolute ``http`` or ``https`` URL.
        method: The HTTP method.
        headers: Header names and rendered values (never containing CR or LF).
        body: The body as a parsed JSON value (dict, list, str, number, bool or
            ``None``); ``None`` also when the message has no body.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    method: WebhookMethod = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The payload as a JSON-ready dict, keys in declaration order."""
        return {
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "body": self.body,
        }

    def body_json(self) -> str:
        """The body serialised as compact JSON text (what goes on the wire)."""
        return dumps(self.body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_body(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        start = max(0, exc.pos - _SNIPPET)
        before, after = text[start : exc.pos], text[exc.pos : exc.pos + _SNIPPET]
        raise InvalidWebhookBodyError(
            f"the rendered body is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno} of the rendered body, here: {before!r} >>> {after!r}",
            field="webhook.body",
        ) from exc
    except ValueError as exc:  # NaN / Infinity literals in the template text
        raise InvalidWebhookBodyError(
            f"the rendered body is not valid JSON: {exc}", field="webhook.body"
        ) from exc


def _check_url(url: str) -> None:
    if not url:
        raise ChannelError("the URL rendered empty", field="webhook.url")
    bad = _URL_FORBIDDEN.search(url)
    if bad:
        raise ChannelError(
            f"the URL contains {describe_char(bad.group())} at position {bad.start() + 1}; "
            "spaces and control characters must be percent-encoded",
            field="webhook.url",
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ChannelError(f"the URL is malformed: {exc}", field="webhook.url") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ChannelError(
            f"the URL must start with http:// or https://, not {url[:40]!r}", field="webhook.url"
        )
    if not host:
        raise ChannelError(f"the URL has no host: {url[:80]!r}", field="webhook.url")
    if any(segment.lower() in _DOT_SEGMENTS for segment in parts.path.split("/")):
        raise ChannelError(
            f"the URL path has a '.' or '..' segment, which would move the call to "
            f"another path: {url[:80]!r}",
            field="webhook.url",
        )


class WebhookMessage(ChannelMessage):
    """A webhook call definition whose URL, header values and body are Liquid templates.

    Escaping: ``url`` percent-encodes every interpolated value and keeps the
    template's literal text (use ``| raw`` to insert a whole trusted URL);
    header values are plain text; ``body`` is JSON-aware: a value inside a JSON
    string is JSON-string-escaped, a value in value position is written as JSON
    (``{{ ExternalTrigger.items | json }}`` writes a list), so the body stays
    valid JSON whatever the data holds.

    Attributes:
        channel: Always ``"webhook"`` (the discriminator in JSON definitions).
        url: Template of the URL; must render to an ``http(s)`` URL with a host.
        method: ``GET``, ``POST``, ``PUT``, ``PATCH`` or ``DELETE`` (any case
            accepted, stored upper case).
        headers: Header names (literal HTTP tokens) to value templates.
        body: Template of the JSON body, or ``None`` for no body.
        max_body_bytes: The limit on the rendered body, in UTF-8 bytes.

    Raises:
        TemplateError: At construction, when a template does not compile; its
            ``field`` names the field (``webhook.url``, ``webhook.headers.NAME``,
            ``webhook.body``).
    """

    _channel: ClassVar[str] = "webhook"

    channel: Literal["webhook"] = "webhook"
    url: str
    method: WebhookMethod = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    max_body_bytes: int = Field(default=DEFAULT_WEBHOOK_BODY_BYTES, gt=0, le=1 << 30)

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("headers")
    @classmethod
    def _valid_header_names(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for name in value:
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"
                )
            folded = name.lower()
            if folded in seen:
                raise ValueError(f"header {name!r} repeats {seen[folded]!r} (names ignore case)")
            seen[folded] = name
        return value

    def _template_specs(self) -> Iterator[tuple[str, str, EscapeMode, Limits | None]]:
        yield "url", self.url, "url", None
        for name, value in self.headers.items():
            yield f"headers.{name}", value, "text", None
        if self.body is not None:
            yield "body", self.body, "json", limits_for(self.max_body_bytes)

    def render(
        self,
        profile: Mapping[str, Any] | None = None,
        trigger: Mapping[str, Any] | None = None,
        **namespaces: Any,
    ) -> WebhookPayload:
        """Render the webhook call for one user.

        Args:
            profile: The ``Profile`` namespace.
            trigger: The ``ExternalTrigger`` namespace (the trigger call's data).
            **namespaces: ``BusinessEvent`` and ``Campaign``, when they apply.

        Raises:
            MissingTriggerKeyError: A required trigger key is absent (``field`` set).
            TemplateError: A template failed while rendering (``field`` set).
            ChannelError: The URL is empty or not ``http(s)`` (field ``webhook.url``).
            HeaderInjectionError: A header value would contain CR or LF
                (field ``webhook.headers.NAME``).
            PayloadTooLargeError: The body is over ``max_body_bytes`` (``webhook.body``).
            InvalidWebhookBodyError: The body is not valid JSON (``webhook.body``).
        """
        return self.payload(self._render_texts(profile, trigger, namespaces))

    def payload(self, texts: dict[str, str]) -> WebhookPayload:
        """The payload of the rendered ``texts`` (by field key): URL, headers and body checked.

        Raises:
            ChannelError: The URL is empty or not ``http(s)``.
            HeaderInjectionError: A header value would contain CR or LF.
            PayloadTooLargeError: The body is over ``max_body_bytes``.
            InvalidWebhookBodyError: The body is not valid JSON.
        """
        url = texts["url"]
        _check_url(url)
        headers: dict[str, str] = {}
        for name in self.headers:
            value = texts[f"headers.{name}"]
            check_header(value, f"webhook.headers.{name}")
            headers[name] = value
        body: Any = None
        if self.body is not None:
            text = texts["body"]
            check_size(text, self.max_body_bytes, "webhook.body")
            body = _parse_body(text)
        return construct_payload(
            WebhookPayload, {"url": url, "method": self.method, "headers": headers, "body": body}
        )
