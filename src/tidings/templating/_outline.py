"""A compiled template's outline: the namespace paths it reads and the text it writes itself.

Publish-time checks read the outline to refuse, before anything is sent, what a
template could never get right: a namespace its message cannot have, a property the
business event does not define, a line break in a one-line field's own text, a JSON
body or a URL whose literal skeleton is already broken.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from liquid.ast import Node
from liquid.builtin.content import ContentNode
from liquid.builtin.output import OutputNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.comment_tag import CommentNode
from liquid.context import RenderContext
from liquid.template import BoundTemplate

__all__ = ["NameUse", "TemplateOutline"]

_OUTPUT_TAGS = frozenset({"EchoNode", "CycleNode", "IncrementNode", "DecrementNode"})
"""Tags that write a value where they stand (their node class names)."""


@dataclass(frozen=True, slots=True)
class NameUse:
    """One read of a namespace: ``BusinessEvent.genre`` at line 1, column 4.

    Attributes:
        namespace: The top-level name (``BusinessEvent``).
        key: The first key after it when it is a plain name (``genre``), else None.
        line: 1-based line in the template source.
        column: 1-based column in the template source.
    """

    namespace: str
    key: str | None
    line: int
    column: int


def _line_col(source: str, index: int) -> tuple[int, int]:
    index = min(max(index, 0), len(source))
    return source.count("\n", 0, index) + 1, index - (source.rfind("\n", 0, index) + 1) + 1


class TemplateOutline:
    """What a template reads and writes, known without rendering it.

    Attributes:
        uses: Every read of a top-level name (namespaces and unknown roots alike),
            in source order.
    """

    __slots__ = ("_bound", "_source", "uses")

    def __init__(self, bound: BoundTemplate, source: str) -> None:
        self._bound = bound
        self._source = source
        analysis = bound.analyze(include_partials=False)
        uses = []
        for root, variables in analysis.globals.items():
            for variable in variables:
                segments = variable.segments
                key = segments[1] if len(segments) > 1 and isinstance(segments[1], str) else None
                line, column = _line_col(source, variable.span.index)
                uses.append((variable.span.index, NameUse(root, key, line, column)))
        self.uses: tuple[NameUse, ...] = tuple(use for _, use in sorted(uses, key=_first))

    def position(self, index: int) -> tuple[int, int]:
        """The 1-based line and column of a source offset."""
        return _line_col(self._source, index)

    def _children(self, node: Node) -> list[Node]:
        return list(node.children(RenderContext(self._bound), include_partials=False))

    def _texts(self, nodes: list[Node]) -> Iterator[tuple[str, int]]:
        for node in nodes:
            if isinstance(node, ContentNode):
                start = self._source.find(node.text, node.token.start_index)
                yield node.text, start if start >= 0 else node.token.start_index
            elif not isinstance(node, CommentNode):
                yield from self._texts(self._children(node))

    def literal_breaks(self) -> tuple[int, ...]:
        """Source offsets of the CR and LF characters in the template's own output text."""
        found = []
        for text, start in self._texts(list(self._bound.nodes)):
            found += [start + i for i, char in enumerate(text) if char in "\r\n"]
        return tuple(found)

    def skeleton(self, placeholder: str, *, blocks: bool) -> tuple[str, list[int]]:
        """The output with every value replaced by ``placeholder``.

        Args:
            placeholder: The text standing for each output (``{{ ... }}``, ``echo``...).
            blocks: True: every block's body taken once (all branches of an ``if``,
                one pass of a ``for``); False: every block left out.

        Returns:
            The text and, for each of its characters, the source offset it comes from.
        """
        parts: list[tuple[str, int, bool]] = []
        self._skeleton(list(self._bound.nodes), placeholder, blocks, parts)
        text = "".join(part for part, _, _ in parts)
        offsets = [
            start + i if literal else start
            for part, start, literal in parts
            for i in range(len(part))
        ]
        return text, offsets

    def _skeleton(
        self,
        nodes: list[Node],
        placeholder: str,
        blocks: bool,
        parts: list[tuple[str, int, bool]],
    ) -> None:
        for node in nodes:
            if isinstance(node, ContentNode):
                start = self._source.find(node.text, node.token.start_index)
                parts.append((node.text, start if start >= 0 else node.token.start_index, True))
            elif isinstance(node, OutputNode) or type(node).__name__ in _OUTPUT_TAGS:
                parts.append((placeholder, node.token.start_index, False))
            elif isinstance(node, CommentNode | CaptureNode):
                continue
            elif blocks:
                self._skeleton(self._children(node), placeholder, blocks, parts)


def _first(pair: tuple[int, NameUse]) -> int:
    return pair[0]
