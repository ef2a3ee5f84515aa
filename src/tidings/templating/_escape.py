"""Output escaping per context: text, html, json and url.

Every ``{{ }}`` (and ``echo``) goes through one escaper chosen when the template is
parsed. A value marked safe with the ``raw``/``safe`` filters (a ``Markup``) is
written as it is; everything else is escaped for its context.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import quote

from liquid import Markup
from liquid.token import TOKEN_CONTENT, TOKEN_OUTPUT, TOKEN_TAG, Token
from liquid.undefined import Undefined
from markupsafe import escape as markup_escape

EscapeMode = Literal["text", "html", "json", "url"]
ESCAPE_MODES: tuple[EscapeMode, ...] = ("text", "html", "json", "url")

Escaper = Callable[[object], str]


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
    if value is None or isinstance(value, Undefined):
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


def escape_html(value: object) -> str:
    """HTML: every value is escaped unless marked safe (``Markup``)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    if isinstance(value, list | tuple):
        return "".join(escape_html(item) for item in value)
    return str(markup_escape(to_text(value)))


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


def _advance_json_state(text: str, in_string: bool, escaped: bool) -> tuple[bool, bool]:
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
    return in_string, escaped


@lru_cache(maxsize=512)
def json_string_outputs(source: str, tokens: tuple[Token, ...]) -> frozenset[int]:
    """Start offsets of output tokens that sit inside a JSON string literal.

    The template's literal text is scanned in source order as JSON; an output is
    "in a string" when an odd number of unescaped quotes precede it.
    """
    del source  # part of the cache key only
    inside: set[int] = set()
    in_string = escaped = False
    for token in tokens:
        if token.kind == TOKEN_CONTENT:
            in_string, escaped = _advance_json_state(token.value, in_string, escaped)
        elif (
            token.kind == TOKEN_OUTPUT or (token.kind == TOKEN_TAG and token.value == "echo")
        ) and in_string:
            inside.add(token.start_index)
    return frozenset(inside)
