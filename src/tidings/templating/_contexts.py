"""Output contexts: which escaper each output uses, read from the template text around it.

The escape mode fixes the language of a template's output; where in that language
each output sits is read from the template's literal text. Once a template is
parsed, its nodes are walked in document order, carrying the set of lexical states
the output can be in at that point (through every branch of an ``if``, any number
of loop iterations, ``break`` and ``continue``). Every node that writes a value
(``{{ }}``, ``echo``, ``cycle``, ``increment``, ``decrement``) is then given the
escaper for its states, or the template is refused with a located error:

- ``json``: inside a JSON string, string escaping; elsewhere, a JSON value. Refused:
  an output that may be inside or outside a string depending on the branch taken
  (unbalanced quotes in an ``if``), or that follows a backslash inside a string.
- ``html``: text, comments and quoted attribute values get HTML escaping; quoted URL
  attributes (``href``, ``src``...) also get a scheme check (data with a scheme other
  than http, https or mailto is replaced). Refused: outputs inside a tag but outside
  a quoted value (``<a title={{ x }}>``, ``<a {{ x }}>``), in ``<script>``, and in
  event-handler (``on*``) or ``srcdoc`` attributes, where escaping cannot make data
  safe.
- ``url``: every output percent-encoded.
- ``tablerow`` writes HTML table markup: refused in ``json`` and ``url`` templates.

A value written with ``| raw`` (or ``| safe``), and in HTML a string or number
literal, is the template author's and allowed anywhere. A ``capture`` body is its
own document: in ``html`` it is escaped as it is written (the captured text is
HTML); in ``json`` and ``url`` its outputs are written as text and the captured
value is escaped once, where it is output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Generic, TypeVar

from liquid import RenderContext
from liquid.ast import BlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import FilteredExpression
from liquid.builtin.expressions.primitive import (
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    Nil,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.case_tag import CaseNode, MultiExpressionBlockNode
from liquid.builtin.tags.comment_tag import CommentNode
from liquid.builtin.tags.doc_tag import DocNode
from liquid.builtin.tags.for_tag import BreakNode, ContinueNode, ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.ifchanged_tag import IfChangedNode
from liquid.builtin.tags.liquid_tag import LiquidNode
from liquid.builtin.tags.tablerow_tag import TablerowNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.exceptions import LiquidSyntaxError
from liquid.template import BoundTemplate
from liquid.token import Token

from ._environment import (
    TidingsEnvironment,
)
from ._escape import (
    EscapeMode,
    Escaper,
    escape_html,
    escape_json_value,
    escape_text,
    escape_url_attribute,
)
from ._languages import Language, Refused, language
from ._nodes import (
    OUTPUT_NODES,
    TidingsCycleNode,
    TidingsDecrementNode,
    TidingsIncrementNode,
)

S = TypeVar("S")

# Most distinct lexical states one point of a template may be in: more means a
# template whose structure depends on its data in too many ways to check.
MAX_STATES = 64

# Node visits allowed per node of the template (loops are walked until their
# states settle, usually once or twice): keeps the analysis linear.
_VISITS_PER_NODE = 64

# String literals (the template author's) are trusted in HTML: python-liquid marks
# them safe. Numbers, booleans and nil cannot carry markup.
_LITERALS = (StringLiteral, IntegerLiteral, FloatLiteral, TrueLiteral, FalseLiteral, Nil)

_TRUSTING_FILTERS = frozenset({"raw", "safe"})


class UnsafeContextError(LiquidSyntaxError):
    """An output sits where escaping cannot keep data from changing the document."""


def _is_trusted(node: Node, mode: EscapeMode) -> bool:
    """Whether the value a node writes is the template author's (not data)."""
    if isinstance(node, TidingsIncrementNode | TidingsDecrementNode):
        return True  # a number
    if isinstance(node, TidingsCycleNode):
        return mode == "html" and all(isinstance(arg, _LITERALS) for arg in node.args)
    expr = getattr(node, "expression", None)
    if not isinstance(expr, FilteredExpression):
        return False
    if expr.filters:
        return expr.filters[-1].name in _TRUSTING_FILTERS
    return mode == "html" and isinstance(expr.left, _LITERALS)


@dataclass
class _Seen(Generic[S]):
    """What the walk found about one output node."""

    states: set[S] = field(default_factory=set)
    in_capture: bool = False


class _Walker(Generic[S]):
    """Walk a template's nodes, following the states of its output."""

    def __init__(
        self,
        language: Language[S],
        mode: EscapeMode,
        suppress_blank: bool,
        budget: int,
        static: RenderContext,
    ) -> None:
        self.static = static
        self.language = language
        self.mode = mode
        self.suppress_blank = suppress_blank
        self.visits_left = budget
        self.seen: dict[int, tuple[Node, _Seen[S]]] = {}
        self.jumps: list[set[S]] = []
        self.capture_depth = 0
        self.memo: dict[tuple[int, frozenset[S], int], frozenset[S]] = {}
        self.has_jumps: dict[int, bool] = {}
        self.feeds: dict[tuple[S, str], S] = {}

    def fail(self, message: str, token: Token) -> UnsafeContextError:
        return UnsafeContextError(message, token=token)

    def nodes(self, nodes: Iterable[Node], states: frozenset[S]) -> frozenset[S]:
        for node in nodes:
            states = self.node(node, states)
        return states

    def block(self, block: BlockNode, states: frozenset[S]) -> frozenset[S]:
        # Walking a block again with the same states finds nothing new, unless it
        # holds a break/continue: that one must reach the loop walking it now.
        memoize = not self.jumps_in(block)
        key = (id(block), states, self.capture_depth)
        cached = self.memo.get(key) if memoize else None
        if cached is not None:
            return cached
        result = self.nodes(block.nodes, states)
        if self.suppress_blank and block.blank:
            # python-liquid writes nothing for a blank block (whitespace and tags).
            result = states
        if memoize:
            self.memo[key] = result
        return result

    def jumps_in(self, block: BlockNode) -> bool:
        """Whether ``block`` holds a break or continue of the loop around it."""
        found = self.has_jumps.get(id(block))
        if found is None:
            found = False
            stack: list[Node] = list(block.nodes)
            while stack and not found:
                node = stack.pop()
                if isinstance(node, BreakNode | ContinueNode):
                    found = True
                elif not isinstance(node, ForNode | TablerowNode | CaptureNode):
                    stack.extend(node.children(self.static, include_partials=False))
            self.has_jumps[id(block)] = found
        return found

    def repeat(
        self, body: Callable[[frozenset[S]], frozenset[S]], states: frozenset[S]
    ) -> frozenset[S]:
        """States after running ``body`` any number of times (zero included)."""
        jumps: set[S] = set()
        self.jumps.append(jumps)
        try:
            reached = states
            while True:
                after = body(reached) | jumps
                if after <= reached:
                    return reached
                reached = reached | after
        finally:
            self.jumps.pop()

    def node(self, node: Node, states: frozenset[S]) -> frozenset[S]:
        self.visits_left -= 1
        if self.visits_left < 0 or len(states) > MAX_STATES:
            raise self.fail(
                "the template's structure is too ambiguous to check where its outputs sit "
                "(too many branches or loops with unbalanced markup or quotes)",
                node.token,
            )
        if isinstance(node, ContentNode):
            return self.feed(node, states)
        if isinstance(node, OUTPUT_NODES):
            return self.output(node, states)
        if isinstance(node, IfNode | UnlessNode):
            return self.branches(node, states)
        if isinstance(node, CaseNode):
            return self.case(node, states)
        if isinstance(node, ForNode):
            looped = self.repeat(partial(self.block, node.block), states)
            if node.default is not None:
                looped = looped | self.block(node.default, states)
            return looped
        if isinstance(node, TablerowNode):
            return self.tablerow(node, states)
        if isinstance(node, IfChangedNode | LiquidNode):
            # ifchanged writes its block at most once; liquid always.
            return states | self.block(node.block, states)
        if isinstance(node, CaptureNode):
            self.capture_depth += 1
            try:
                self.block(node.block, frozenset({self.language.start}))
            finally:
                self.capture_depth -= 1
            return states
        if isinstance(node, BreakNode | ContinueNode):
            if self.jumps:
                self.jumps[-1].update(states)
            return states
        if isinstance(node, AssignNode | CommentNode | DocNode):
            return states
        # Every tag a tidings environment registers is handled above.
        raise self.fail(f"'{node.token.value}' cannot be checked for safe output", node.token)

    def case(self, node: CaseNode, states: frozenset[S]) -> frozenset[S]:
        reached = states
        for block in node.blocks:
            inner = block.block if isinstance(block, MultiExpressionBlockNode) else block
            if isinstance(inner, BlockNode):
                # Each matching `when` renders, `when a, b` once per match.
                reached = reached | self.repeat(partial(self.block, inner), reached)
        return reached

    def branches(self, node: IfNode | UnlessNode, states: frozenset[S]) -> frozenset[S]:
        reached = self.block(node.consequence, states)
        for alternative in node.alternatives:
            reached = reached | self.block(alternative.block, states)
        if node.default is not None:
            return reached | self.block(node.default, states)
        return reached | states

    def tablerow(self, node: TablerowNode, states: frozenset[S]) -> frozenset[S]:
        if self.mode in ("json", "url"):
            raise self.fail(
                f"the 'tablerow' tag writes HTML table markup: it cannot be used in a "
                f"{self.mode} template",
                node.token,
            )
        token = node.token

        def row(reached: frozenset[S]) -> frozenset[S]:
            cell = self.block(node.block, self.feed_text('<td class="col1">', reached, token))
            closed = self.feed_text("</td>", cell, token)
            return closed | self.feed_text('</tr>\n<tr class="row2">', closed, token)

        opened = self.feed_text('<tr class="row1">\n', states, token)
        return states | self.feed_text("</tr>\n", self.repeat(row, opened), token)

    def feed(self, node: ContentNode, states: frozenset[S]) -> frozenset[S]:
        return self.feed_text(node.text, states, node.token)

    def feed_text(self, text: str, states: frozenset[S], token: Token) -> frozenset[S]:
        result: set[S] = set()
        for state in states:
            key = (state, text)
            after = self.feeds.get(key)
            if after is None:
                try:
                    after = self.language.feed(state, text)
                except Refused as exc:
                    raise self.fail(str(exc), token) from exc
                self.feeds[key] = after
            result.add(after)
        return frozenset(result)

    def output(self, node: Node, states: frozenset[S]) -> frozenset[S]:
        _, seen = self.seen.setdefault(id(node), (node, _Seen()))
        seen.states.update(states)
        seen.in_capture = self.capture_depth > 0
        trusted = _is_trusted(node, self.mode)
        return frozenset(self.language.after_output(state, trusted) for state in states)

    def assign(self) -> None:
        """Give every output node its escaper, or refuse the template."""
        for node, seen in self.seen.values():
            trusted = _is_trusted(node, self.mode)
            if seen.in_capture and self.mode != "html":
                # The captured text is escaped where it is written.
                escaper: Escaper = escape_text
            else:
                escaper = self.escaper(node, seen.states, trusted)
            node.escaper = escaper  # type: ignore[attr-defined]

    def escaper(self, node: Node, states: set[S], trusted: bool) -> Escaper:
        escapers: set[Escaper] = set()
        for state in states:
            try:
                escapers.add(self.language.escaper(state, trusted))
            except Refused as exc:
                raise self.fail(str(exc), node.token) from exc
        if len(escapers) == 1:
            return escapers.pop()
        if escapers == {escape_html, escape_url_attribute}:
            return escape_url_attribute  # HTML escaping and more
        if trusted:
            return escape_json_value  # a raw value or a number is written the same either way
        raise self.fail(
            "cannot tell whether this output is inside a JSON string: the quotes written "
            "before it depend on a condition or a loop; balance the quotes in every branch",
            node.token,
        )


def assign_escapers(template: BoundTemplate) -> None:
    """Give each output of ``template`` the escaper of its context.

    Raises:
        UnsafeContextError: An output (or literal text) where data could change the
            structure of the document; located at that output.
    """
    env = template.env
    assert isinstance(env, TidingsEnvironment)  # noqa: S101 - tidings templates only
    mode = env.escape_mode
    if mode == "text":
        return  # every output already writes plain text
    static = RenderContext(template)
    walker: _Walker[Any] = _Walker(
        language(mode),
        mode,
        env.suppress_blank_control_flow_blocks,
        budget=_VISITS_PER_NODE * _count_nodes(template, static) + 1000,
        static=static,
    )
    walker.nodes(template.nodes, frozenset({walker.language.start}))
    walker.assign()


def _count_nodes(template: BoundTemplate, static: RenderContext) -> int:
    count = 0
    stack = list(template.nodes)
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.children(static, include_partials=False))
    return count
