"""The output languages of templates: their lexical states, and the escaper for each.

A language (one per escape mode) reads the template's literal text state by state
and says which escaper an output needs in each state, or refuses the output
(:class:`Refused`). :mod:`._contexts` walks a template's nodes with them.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from . import _html_states as h
from ._escape import (
    EscapeMode,
    Escaper,
    escape_html,
    escape_json_string,
    escape_json_value,
    escape_text,
    escape_url,
    escape_url_attribute,
)

S = TypeVar("S")

__all__ = ["Language", "Refused", "language"]


class Refused(Exception):  # noqa: N818 - a signal turned into UnsafeContextError
    """An output (or literal text) the analysis refuses; carries the reason."""


class Language(Protocol[S]):
    """The lexical states of one output language."""

    start: S

    def feed(self, state: S, text: str) -> S:
        """The state after the template's literal ``text``; raises ``Refused``."""

    def escaper(self, state: S, trusted: bool) -> Escaper:
        """The escaper for an output in ``state``; raises ``Refused``."""

    def after_output(self, state: S, trusted: bool) -> S:
        """The state after an output written in ``state``."""


class _Flat:
    """A language without states (text, url): one escaper everywhere."""

    start = 0

    def __init__(self, escaper: Escaper) -> None:
        self._escaper = escaper

    def feed(self, state: int, text: str) -> int:
        return state

    def escaper(self, state: int, trusted: bool) -> Escaper:
        return self._escaper

    def after_output(self, state: int, trusted: bool) -> int:
        return state


JSON_VALUE, JSON_STRING, JSON_STRING_ESCAPE = 0, 1, 2


class _Json:
    """Inside or outside a JSON string literal."""

    start = JSON_VALUE

    def feed(self, state: int, text: str) -> int:
        index = 0
        length = len(text)
        while index < length:
            if state == JSON_VALUE:
                index = text.find('"', index)
                if index < 0:
                    return state
                state = JSON_STRING
            elif state == JSON_STRING:
                quote = text.find('"', index)
                backslash = text.find("\\", index)
                if backslash >= 0 and (quote < 0 or backslash < quote):
                    index, state = backslash, JSON_STRING_ESCAPE
                elif quote >= 0:
                    index, state = quote, JSON_VALUE
                else:
                    return state
            else:
                state = JSON_STRING
            index += 1
        return state

    def escaper(self, state: int, trusted: bool) -> Escaper:
        if state == JSON_STRING_ESCAPE and not trusted:
            raise Refused(
                "this output follows a backslash inside a JSON string, which would change "
                "how the value is read: remove the backslash or escape it (\\\\)"
            )
        return escape_json_string if state == JSON_STRING else escape_json_value

    def after_output(self, state: int, trusted: bool) -> int:
        return state


class _Html:
    """The states of :mod:`._html_states`."""

    start = h.START

    def feed(self, state: h.HtmlState, text: str) -> h.HtmlState:
        try:
            return h.feed(state, text)
        except h.UnsafeLiteral as exc:
            raise Refused(str(exc)) from exc

    def escaper(self, state: h.HtmlState, trusted: bool) -> Escaper:
        kind = state.kind
        if trusted:
            return escape_html
        if kind in (h.DATA, h.COMMENT, h.BOGUS_COMMENT):
            return escape_html
        if kind == h.QUOTED_VALUE:
            attr = state.attr
            if attr.startswith("on") or attr == "srcdoc":
                raise Refused(
                    f"data in the '{attr}' attribute would be read as "
                    f"{'JavaScript' if attr.startswith('on') else 'HTML'}: escaping cannot "
                    "make it safe there"
                )
            if h.is_url_attribute(attr) and not state.settled:
                return escape_url_attribute
            return escape_html
        if kind == h.RAW_TEXT:
            if state.tag == "script":
                raise Refused(
                    "data inside a <script> element would run as JavaScript: escaping "
                    "cannot make it safe there"
                )
            return escape_html
        if kind in (h.BEFORE_VALUE, h.UNQUOTED_VALUE):
            raise Refused(
                f"an output in the unquoted value of the '{state.attr}' attribute could add "
                f'attributes: quote the value ({state.attr}="{{{{ ... }}}}")'
            )
        raise Refused(
            "an output inside a tag but outside a quoted attribute value could add "
            'attributes or tags: write it inside a quoted value (name="{{ ... }}")'
        )

    def after_output(self, state: h.HtmlState, trusted: bool) -> h.HtmlState:
        if (
            not trusted
            and state.kind == h.QUOTED_VALUE
            and not state.settled
            and h.is_url_attribute(state.attr)
        ):
            return state._replace(dirty=True)
        return state


def language(mode: EscapeMode) -> Language[Any]:
    if mode == "json":
        return _Json()
    if mode == "html":
        return _Html()
    return _Flat(escape_url if mode == "url" else escape_text)
