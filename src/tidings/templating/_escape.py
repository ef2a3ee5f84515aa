"""Output escaping per context: text, html, json and url.

Every output-producing tag goes through one escaper, chosen for where it sits once
the template is parsed (see :mod:`._contexts`). A value marked safe with the
``raw``/``safe`` filters (:class:`Trusted`) is written as it is; everything else is
escaped for its context.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import quote

from liquid import Markup
from liquid.undefined import Undefined
from markupsafe import escape as markup_escape

EscapeMode = Literal["text", "html", "json", "url"]
ESCAPE_MODES: tuple[EscapeMode, ...] = ("text", "html", "json", "url")

Escaper = Callable[[object], str]


class Trusted(Markup):
    """A value marked safe with ``| raw`` or ``| safe``: written as it is in every context.

    Unlike other ``Markup`` (string literals and ``escape`` results in HTML
    templates), it also skips the scheme check of URL attributes.
    """

    __slots__ = ()


class JsonFragment(str):
    """Text that is already JSON (the ``json`` filter's result).

    Written verbatim where a JSON value is expected; escaped like any other
    string inside a JSON string or an HTML page.
    """

    __slots__ = ()


def to_jsonable(value: object) -> Any:
    """Convert a Liquid value to something ``json.dumps`` accepts.

    Undefined becomes ``null``; non-finite floats (not valid JSON) become ``null``;
    unknown objects become their string form.
    """
    cls = type(value)
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if cls is dict:
        return {k if type(k) is str else str(k): to_jsonable(v) for k, v in value.items()}  # type: ignore[attr-defined]
    if cls is list:
        return [to_jsonable(v) for v in value]  # type: ignore[attr-defined]
    # The general case (subclasses, Undefined, other mappings and sequences).
    if isinstance(value, Undefined):
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | range):
        return [to_jsonable(v) for v in value]
    return str(value)


# What json.dumps(..., ensure_ascii=False, separators=(",", ":")) builds on every
# call; one shared encoder gives the same text without that cost (it is stateless).
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dump_json(value: object) -> str:
    """Serialise a Liquid value as compact JSON text."""
    return _COMPACT_JSON.encode(to_jsonable(value))


def to_text(value: object) -> str:
    """Liquid's stringification of an output value, without escaping.

    Differs from python-liquid's ``to_liquid_string`` where that one leaks Python
    spellings into messages: items of an array are stringified like top-level
    values (``nil`` is empty, booleans are ``true``/``false``, nested arrays are
    flattened, as Ruby Liquid's ``Array#join`` does) instead of ``str(item)``,
    which wrote ``None`` and ``True``; an object (hash) is written as compact JSON
    instead of a Python ``repr`` such as ``{'a': None}``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, Undefined):
        # Undefined is a Mapping: test it first. Empty, or raises in strict mode.
        return str(value)
    if isinstance(value, list | tuple):
        return "".join(to_text(item) for item in value)
    if isinstance(value, range):
        return f"{value.start}..{value.stop - 1}"
    if isinstance(value, Mapping):
        return dump_json(value)
    return str(value)


def escape_text(value: object) -> str:
    """Plain text: Liquid's stringification, no escaping."""
    return to_text(value)


def _escape_html_str(text: str) -> str:
    return str(markup_escape(text))


def escape_html(value: object) -> str:
    """HTML: every value is escaped unless marked safe (``Markup``)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    if isinstance(value, list | tuple):
        return "".join(escape_html(item) for item in value)
    return str(markup_escape(to_text(value)))


SAFE_URL_SCHEMES = frozenset({"http", "https", "mailto"})
"""Schemes data may give a URL attribute of an HTML template (``href``, ``src``...)."""

BLOCKED_URL = "about:invalid#tidings-blocked-url"
"""What a URL attribute gets instead of data with another scheme (``javascript:``)."""

# Browsers drop leading C0 controls and spaces, and tabs and newlines anywhere in a
# URL, before reading its scheme: "java\tscript:" is "javascript:".
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_LEADING = "".join(chr(code) for code in range(0x21))
_SCHEME_END = re.compile(r"[:/?#]")


def url_scheme(text: str) -> str | None:
    """The scheme a browser reads from URL ``text`` (lower case), or ``None`` if relative."""
    cleaned = _URL_IGNORED.sub("", text.lstrip(_URL_LEADING))
    match = _SCHEME_END.search(cleaned)
    if match is None or match.group() != ":":
        return None
    return cleaned[: match.start()].lower()


def _plain_safe_url(text: str) -> bool:
    """Fast path: no colon at all, or exactly a safe scheme before the first one."""
    colon = text.find(":")
    return colon < 0 or text[:colon] in SAFE_URL_SCHEMES


def escape_url_attribute(value: object) -> str:
    """A quoted URL attribute value (``href="..."``): HTML escaping plus a scheme check.

    Data whose scheme is not http, https or mailto (``javascript:``, ``data:``,
    ``vbscript:``) is replaced by :data:`BLOCKED_URL`. A value marked ``| raw``
    is trusted and written as it is.
    """
    cls = value.__class__
    if cls is str:
        text = str(value)
        if _plain_safe_url(text):
            return _escape_html_str(text)
        scheme = url_scheme(text)
    elif isinstance(value, Trusted):
        return str(value)
    elif isinstance(value, Markup):
        # Already HTML: the browser decodes its entities before reading the scheme.
        text = str(value)
        if "&" not in text and _plain_safe_url(text):
            return text
        scheme = url_scheme(html.unescape(text))
    else:
        scheme = url_scheme(to_text(value))
    if scheme is not None and scheme not in SAFE_URL_SCHEMES:
        return BLOCKED_URL
    return escape_html(value)


def escape_url(value: object) -> str:
    """URL component: percent-encode everything but unreserved characters."""
    text = to_text(value)
    if isinstance(value, Markup):
        return text
    return quote(text, safe="")


def escape_json_string(value: object) -> str:
    """Inside a JSON string literal: JSON string escaping without the quotes."""
    if isinstance(value, Markup):
        return str(value)
    return json.dumps(to_text(value), ensure_ascii=False)[1:-1]


def escape_json_value(value: object) -> str:
    """Where a JSON value is expected: the value serialised as JSON."""
    if isinstance(value, JsonFragment | Markup):
        return str(value)
    return dump_json(value)


def escaper_for(mode: EscapeMode, *, in_json_string: bool = False) -> Escaper:
    """Return the escaper for an output in the given context."""
    if mode == "html":
        return escape_html
    if mode == "url":
        return escape_url
    if mode == "json":
        return escape_json_string if in_json_string else escape_json_value
    return escape_text
