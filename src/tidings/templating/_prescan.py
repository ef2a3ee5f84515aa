"""Linear-time checks of template source before python-liquid parses it.

python-liquid's lexers use regular expressions that scan ahead to the end of the
input in a few places; repeated, those scans make parsing quadratic in the size
of a hostile template:

- the template lexer tries ``{% raw %}...{% endraw %}`` (and ``doc``) at every
  ``{% raw %}``: one that is never closed scans to the end of the template;
- the expression lexer tries ``(`` as the start of a range (``(1..3)``) by looking
  ahead for ``..``, and ``["`` as a quoted index by looking ahead for ``"]``:
  every ``(`` and ``["`` with no match scans to the end of the expression.

This module measures those scans in one pass and refuses, with a location, the
templates where they would exceed a small multiple of the template's size, so
parse time stays linear. Templates a person writes never come near the bound.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from typing import NamedTuple

from liquid.token import TOKEN_EXPRESSION, TOKEN_TAG, Token

# Characters the expression lexer may scan per character of an expression (and per
# character of the template for unclosed raw blocks), plus a constant allowance.
SCAN_FACTOR = 8
SCAN_ALLOWANCE = 2_000


class Refusal(NamedTuple):
    """Why and where a template is refused before parsing."""

    message: str
    offset: int


_BLOCK_OPEN = re.compile(r"\{%-?\s*(raw|doc)\s*-?%\}")
_BLOCK_CLOSE = {name: re.compile(rf"\{{%-?\s*end{name}\s*-?%\}}") for name in ("raw", "doc")}

# Unclosed `{% raw %}`/`{% doc %}` openings allowed (each costs the lexer one scan
# to the end; one is already a syntax error unless it sits inside a string).
MAX_UNCLOSED_BLOCKS = 8


def unclosed_raw_blocks(source: str) -> Refusal | None:
    """A template with many ``{% raw %}`` (or ``{% doc %}``) that are never closed.

    The lexer scans from each such opening to the end of the template. Openings are
    followed in order, as the lexer meets them: a closed block skips its content.
    """
    closes = {
        name: [match.start() for match in pattern.finditer(source)]
        for name, pattern in _BLOCK_CLOSE.items()
    }
    unclosed = 0
    first: Refusal | None = None
    position = 0
    while True:
        match = _BLOCK_OPEN.search(source, position)
        if match is None:
            return None
        name = match.group(1)
        index = bisect_left(closes[name], match.end())
        if index < len(closes[name]):
            close = _BLOCK_CLOSE[name].match(source, closes[name][index])
            assert close is not None  # noqa: S101 - found by the same pattern
            position = close.end()
            continue
        unclosed += 1
        if first is None:
            first = Refusal(f"'{name}' tag was never closed: add {{% end{name} %}}", match.start())
        if unclosed > MAX_UNCLOSED_BLOCKS:
            return first
        position = match.end()


def _next_positions(text: str, wanted: Iterable[int]) -> list[int]:
    """For every index i, the smallest wanted index >= i (len(text) if none)."""
    marks = [False] * (len(text) + 1)
    for index in wanted:
        marks[index] = True
    result = [len(text)] * (len(text) + 1)
    following = len(text)
    for index in range(len(text), -1, -1):
        if marks[index]:
            following = index
        result[index] = following
    return result


_QUOTED_INDEX_END = re.compile(r"""["']\s*\]""")
_WHITESPACE = re.compile(r"\s*")


def expression_scan_cost(text: str) -> int:
    """How many characters python-liquid's expression lexer scans ahead on ``text``.

    Follows the lexer: a string literal is skipped whole; a ``(`` looks ahead for
    ``..`` (at least one character later); a ``[`` followed by a quote looks ahead
    for the same quote followed by ``]``.
    """
    if "(" not in text and "[" not in text:
        return 0
    length = len(text)
    ranges = _next_positions(text, (m.start() for m in re.finditer(r"(?=\.\.)", text)))
    closers = {
        quote: _next_positions(
            text, (m.start() for m in _QUOTED_INDEX_END.finditer(text) if m.group()[0] == quote)
        )
        for quote in "\"'"
    }
    cost = 0
    index = 0
    while index < length:
        char = text[index]
        if char in "\"'":
            end = text.find(char, index + 1)
            if end < 0:
                break  # the lexer stops here with an error
            index = end + 1
            continue
        if char == "(":
            start = min(index + 2, length)
            cost += ranges[start] - index
        elif char == "[":
            after = _WHITESPACE.match(text, index + 1)
            quote_at = after.end() if after is not None else index + 1
            if quote_at < length and text[quote_at] in "\"'":
                close = closers[text[quote_at]][min(quote_at + 1, length)]
                cost += close - index
                if close < length:
                    index = _QUOTED_INDEX_END.match(text, close).end()  # type: ignore[union-attr]
                    continue
        index += 1
    return cost


def _expressions(tokens: Iterable[Token]) -> Iterable[tuple[str, int]]:
    """Each expression the expression lexer will read, with its offset in the source.

    A ``liquid`` tag's body is read one line at a time.
    """
    previous: Token | None = None
    for token in tokens:
        if token.kind == TOKEN_EXPRESSION:
            if previous is not None and previous.kind == TOKEN_TAG and previous.value == "liquid":
                offset = token.start_index
                for line in token.value.split("\n"):
                    yield line, offset
                    offset += len(line) + 1
            else:
                yield token.value, token.start_index
        previous = token


def costly_expression(tokens: Iterable[Token]) -> Refusal | None:
    """The first expression the lexer would take more than linear time to read."""
    for text, offset in _expressions(tokens):
        if expression_scan_cost(text) > SCAN_FACTOR * len(text) + SCAN_ALLOWANCE:
            return Refusal(
                "expression too complex to read: too many '(' or '[' without their "
                "closing '..' or '\"]'",
                offset,
            )
    return None
