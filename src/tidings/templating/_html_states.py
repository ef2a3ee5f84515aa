"""The lexical states of an HTML document being written, for choosing escapers.

A small, linear HTML tokenizer (after the WHATWG tokenizer, reduced to what decides
how data must be escaped): text, tags, attribute names, quoted and unquoted
attribute values, comments, and the raw text of ``<script>``/``<style>``. It reads
only the template's literal text; outputs never change the state (they are
escaped for it), except that data written where a URL's scheme is not yet known
is remembered (see :attr:`HtmlState.dirty`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# State kinds.
DATA = 0
TAG_OPEN = 1  # after "<"
END_TAG_OPEN = 2  # after "</"
TAG_NAME = 3
END_TAG = 4  # inside "</name ...", up to ">"
BEFORE_ATTR = 5  # inside a tag, between attributes
ATTR_NAME = 6
AFTER_ATTR_NAME = 7
BEFORE_VALUE = 8  # after "name="
QUOTED_VALUE = 9
UNQUOTED_VALUE = 10
BANG = 11  # after "<!"
COMMENT = 12  # inside "<!-- ... -->"
BOGUS_COMMENT = 13  # "<!DOCTYPE ...>", "<?...>": up to ">"
RAW_TEXT = 14  # inside <script>, <style>, <textarea>, <title>: up to the end tag

_RAW_TEXT_TAGS = frozenset({"script", "style", "textarea", "title", "xmp", "noembed"})

URL_ATTRIBUTES = frozenset(
    {
        "action",
        "archive",
        "background",
        "cite",
        "classid",
        "codebase",
        "data",
        "dynsrc",
        "formaction",
        "href",
        "icon",
        "imagesrcset",
        "longdesc",
        "lowsrc",
        "manifest",
        "ping",
        "poster",
        "profile",
        "src",
        "srcset",
        "usemap",
        "xlink:href",
    }
)
"""Attributes whose value is a URL (or a list of URLs): data there gets a scheme check."""

# Longest tag or attribute name kept in a state (longer ones are truncated: only
# short names are ever special).
_NAME_MAX = 16

_WHITESPACE = " \t\n\r\f"
_SCHEME_DELIMITERS = ":/?#"


class UnsafeLiteral(Exception):  # noqa: N818 - a signal caught and located by the caller
    """The template's own text makes data unsafe (raised while reading literal text)."""


class HtmlState(NamedTuple):
    """Where the next character of an HTML document is written.

    Attributes:
        kind: One of the state kinds of this module (``DATA``, ``QUOTED_VALUE``...).
        tag: The current (or last opened raw text) tag name, lower case.
        attr: The current attribute name, lower case.
        quote: The quote character of a quoted attribute value.
        settled: In a URL attribute value: a literal ``:``, ``/``, ``?`` or ``#``
            was written, so data that follows cannot choose the URL's scheme.
        dirty: In a URL attribute value not yet settled: data was written.
        progress: Progress through a multi-character marker (dashes of ``-->``,
            characters of ``</script``).
    """

    kind: int
    tag: str = ""
    attr: str = ""
    quote: str = ""
    settled: bool = False
    dirty: bool = False
    progress: int = 0


START = HtmlState(DATA)


def is_url_attribute(attr: str) -> bool:
    """Whether data in attribute ``attr`` is a URL."""
    return attr in URL_ATTRIBUTES


def _after_tag(tag: str, end: bool) -> HtmlState:
    if not end and tag in _RAW_TEXT_TAGS:
        return HtmlState(RAW_TEXT, tag=tag)
    return START


def _in_tag(state: HtmlState, char: str) -> HtmlState:
    """One character inside a start tag, between or in attribute names."""
    kind = state.kind
    tag = state.tag
    if kind == BEFORE_ATTR:
        if char in _WHITESPACE or char == "/":
            return state
        if char == ">":
            return _after_tag(tag, False)
        return HtmlState(ATTR_NAME, tag=tag, attr=char.lower())
    if kind == ATTR_NAME:
        if char in _WHITESPACE:
            return HtmlState(AFTER_ATTR_NAME, tag=tag, attr=state.attr)
        if char == "/":
            return HtmlState(BEFORE_ATTR, tag=tag)
        if char == "=":
            return HtmlState(BEFORE_VALUE, tag=tag, attr=state.attr)
        if char == ">":
            return _after_tag(tag, False)
        return state._replace(attr=(state.attr + char.lower())[:_NAME_MAX])
    if kind == AFTER_ATTR_NAME:
        if char in _WHITESPACE:
            return state
        if char == "/":
            return HtmlState(BEFORE_ATTR, tag=tag)
        if char == "=":
            return HtmlState(BEFORE_VALUE, tag=tag, attr=state.attr)
        if char == ">":
            return _after_tag(tag, False)
        return HtmlState(ATTR_NAME, tag=tag, attr=char.lower())
    # BEFORE_VALUE
    if char in _WHITESPACE:
        return state
    if char in "\"'":
        return HtmlState(QUOTED_VALUE, tag=tag, attr=state.attr, quote=char)
    if char == ">":
        return _after_tag(tag, False)
    return HtmlState(UNQUOTED_VALUE, tag=tag, attr=state.attr)


def _step(state: HtmlState, char: str) -> HtmlState:
    """The state after writing ``char`` in ``state``."""
    kind = state.kind
    if kind == DATA:
        return HtmlState(TAG_OPEN) if char == "<" else state
    if kind == TAG_OPEN:
        if char.isascii() and char.isalpha():
            return HtmlState(TAG_NAME, tag=char.lower())
        if char == "/":
            return HtmlState(END_TAG_OPEN)
        if char == "!":
            return HtmlState(BANG)
        if char == "?":
            return HtmlState(BOGUS_COMMENT)
        return HtmlState(TAG_OPEN) if char == "<" else START
    if kind == END_TAG_OPEN:
        if char.isascii() and char.isalpha():
            return HtmlState(END_TAG)
        return START if char == ">" else HtmlState(BOGUS_COMMENT)
    if kind in (END_TAG, BOGUS_COMMENT):
        return START if char == ">" else state
    if kind == TAG_NAME:
        if char in _WHITESPACE or char == "/":
            return HtmlState(BEFORE_ATTR, tag=state.tag)
        if char == ">":
            return _after_tag(state.tag, False)
        return state._replace(tag=(state.tag + char.lower())[:_NAME_MAX])
    if kind in (BEFORE_ATTR, ATTR_NAME, AFTER_ATTR_NAME, BEFORE_VALUE):
        return _in_tag(state, char)
    if kind == QUOTED_VALUE:
        if char == state.quote:
            return HtmlState(BEFORE_ATTR, tag=state.tag)
        if not state.settled and char in _SCHEME_DELIMITERS and is_url_attribute(state.attr):
            if char == ":" and state.dirty:
                raise UnsafeLiteral(
                    f"this ':' makes the data written before it the scheme of the URL in "
                    f"'{state.attr}': start the attribute with a literal scheme "
                    "(https://...) or put the whole URL in the data"
                )
            return state._replace(settled=True)
        return state
    if kind == UNQUOTED_VALUE:
        if char in _WHITESPACE:
            return HtmlState(BEFORE_ATTR, tag=state.tag)
        return _after_tag(state.tag, False) if char == ">" else state
    if kind == BANG:
        if char == "-":
            return HtmlState(COMMENT) if state.progress else HtmlState(BANG, progress=1)
        return START if char == ">" else HtmlState(BOGUS_COMMENT)
    if kind == COMMENT:
        if char == "-":
            return state._replace(progress=min(state.progress + 1, 2))
        return START if char == ">" and state.progress == 2 else state._replace(progress=0)
    # RAW_TEXT: look for "</tag".
    target = "</" + state.tag
    matched = state.progress
    if matched < len(target) and char.lower() == target[matched]:
        matched += 1
        return HtmlState(END_TAG) if matched == len(target) else state._replace(progress=matched)
    return state._replace(progress=1 if char == "<" else 0)


# Characters that can change each state kind: runs of anything else are skipped.
_DATA_STOP = re.compile(r"<")


def feed(state: HtmlState, text: str) -> HtmlState:
    """The state after writing the literal ``text`` in ``state``.

    Raises:
        UnsafeLiteral: The text makes data written before it unsafe.
    """
    index = 0
    length = len(text)
    while index < length:
        kind = state.kind
        if kind == DATA:
            match = _DATA_STOP.search(text, index)
            if match is None:
                return state
            index = match.start()
        elif kind == QUOTED_VALUE:
            stops = state.quote
            if not state.settled and is_url_attribute(state.attr):
                stops += _SCHEME_DELIMITERS
            found = [i for i in (text.find(c, index) for c in stops) if i >= 0]
            if not found:
                return state
            index = min(found)
        state = _step(state, text[index])
        index += 1
    return state
