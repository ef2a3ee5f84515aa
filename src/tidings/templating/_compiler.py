"""Compile a parsed Liquid template into a Python function: the fast render path.

python-liquid renders by walking its syntax tree for every message. Like Jinja2,
tidings instead turns the tree into Python source once per template, compiles it
and runs the resulting function for each render. The interpreter stays the
reference: the generated code reproduces its semantics exactly (Liquid
truthiness, ``Undefined``, path lookups with ``.size``/``.first``/``.last``, loop
slicing, blank-block suppression, our escaping and stringification) and calls
python-liquid's own filter functions, through the same resource-limit guards.

The work budget is counted in a local variable, charged for exactly the events
the interpreter charges (each loop's length, each filter call, each ``contains``
and each comparison),
so a render over budget raises on both paths at the same point.

Errors are otherwise not reproduced here. Whenever the generated code raises, or finds a
resource limit exceeded, the caller renders again on the interpreter, which
raises the exact error (class, message, line and column). Rendering is pure, so
the second render sees the same inputs. The generated code only has to raise
whenever the interpreter would; a spurious raise merely costs a re-render.

Only a subset compiles: output, ``echo``, ``if``/``elsif``/``else``, ``unless``,
``case``, ``for`` (``limit``, ``offset``, ``reversed``, ``else``, ``break``,
``continue``), ``assign``, ``capture``, ``liquid``, comments, and filters
without context. Anything else (``cycle``, ``tablerow``, ``increment``,
``offset: continue``, ``forloop.parentloop``, ternaries, strict mode, ...)
makes :func:`compile_render` return ``None`` and the template keeps the
interpreter.

Template text only ever reaches the generated source as ``repr()`` string
literals; other values (Markup literals, AST nodes, filter functions) are passed
in as constants. Nothing user-supplied is evaluated as code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from itertools import islice
from typing import Any

import markupsafe
from liquid import Markup
from liquid.ast import BlockNode, ConditionalBlockNode, Node
from liquid.builtin.content import ContentNode
from liquid.builtin.expressions import (
    BooleanExpression,
    FilteredExpression,
    KeywordArgument,
    Path,
)
from liquid.builtin.expressions.logical import (
    ContainsExpression,
    EqExpression,
    GeExpression,
    GtExpression,
    LeExpression,
    LogicalAndExpression,
    LogicalNotExpression,
    LogicalOrExpression,
    LtExpression,
    NeExpression,
    _contains,
    _eq,
    _le,
    _lt,
    is_truthy,
)
from liquid.builtin.expressions.primitive import (
    Blank,
    Empty,
    FalseLiteral,
    FloatLiteral,
    IntegerLiteral,
    Nil,
    RangeLiteral,
    StringLiteral,
    TrueLiteral,
)
from liquid.builtin.filters.misc import default as liquid_default
from liquid.builtin.tags.assign_tag import AssignNode
from liquid.builtin.tags.capture_tag import CaptureNode
from liquid.builtin.tags.case_tag import CaseNode, MultiExpressionBlockNode
from liquid.builtin.tags.comment_tag import CommentNode
from liquid.builtin.tags.doc_tag import DocNode
from liquid.builtin.tags.for_tag import BreakNode, ContinueNode, ForNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.liquid_tag import LiquidNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.expression import Expression
from liquid.template import BoundTemplate
from liquid.token import Token
from liquid.undefined import Undefined
from markupsafe import escape as markup_escape

from ._environment import (
    TidingsContext,
    TidingsEnvironment,
    json_filter,
)
from ._escape import (
    SAFE_URL_SCHEMES,
    JsonFragment,
    dump_json,
    escape_html,
    escape_json_string,
    escape_json_value,
    escape_text,
    escape_url_attribute,
)
from ._expressions import (
    ChargedContainsExpression,
    ChargedEqExpression,
    ChargedGeExpression,
    ChargedGtExpression,
    ChargedLeExpression,
    ChargedLtExpression,
    ChargedNeExpression,
    ChargedWhenExpression,
    LimitedLoopExpression,
    LimitedRangeLiteral,
)
from ._limits import (
    CHARACTERS_PER_UNIT,
    COMPARE_COST,
    CONSTANT_TIME_FILTERS,
    CONTAINS_COST,
    FILTER_COST,
    LOOP_ITERATION_COST,
    MAX_INT_BITS,
    UNSIZED_CLASSES,
    compare_cost,
    deep_size_of,
    guard_filter,
    size_of,
    work_limit_error,
)
from ._nodes import (
    TidingsEchoNode,
    TidingsOutputNode,
)

RenderFunction = Callable[[dict[str, Any]], str]
"""A compiled template: render data (top-level names) in, text out."""

# forloop members the compiled path computes from the loop index and length.
_FORLOOP_KEYS = frozenset({"index", "index0", "rindex", "rindex0", "first", "last", "length"})

# Segments that `RenderContext.get_item` treats specially.
_SPECIAL_KEYS = frozenset({"size", "first", "last"})

# Builtin names the interpreter resolves after the data and the assigned names.
_BUILTIN_ROOTS = frozenset({"now", "today"})

# Values the `json` filter serialises without help (no range to check).
_JSON_CLASSES = frozenset({dict, list, str, int, float, bool, type(None)})

# Value classes whose Liquid truthiness is their non-None/non-False-ness.
_PLAIN_CLASSES = frozenset({str, int, float, list, dict, tuple, bool})

# Loop iterations between two checks of the output size inside loops. The
# interpreter stops at the first write over the limit; this bounds how far past
# the limit the compiled path can get before it notices and hands over.
_CHECK_EVERY = 16

# Python refuses to compile more deeply nested sources.
_MAX_DEPTH = 40


class Unsupported(Exception):  # noqa: N818 - a signal, not an error shown to users
    """The template uses something outside the compiled subset."""


class LimitReached(Exception):  # noqa: N818 - a signal, not an error shown to users
    """A resource limit is reached: render on the interpreter for the exact error."""


_MISSING = object()

_COMPARISONS = (EqExpression, NeExpression, LtExpression, GtExpression, LeExpression, GeExpression)

# Each comparison class python-liquid parses is given its charged subclass before
# compiling (see limit_expressions); one without it would escape the work budget.
_CHARGED_COMPARISONS = frozenset(
    {
        ChargedEqExpression,
        ChargedNeExpression,
        ChargedLtExpression,
        ChargedGtExpression,
        ChargedLeExpression,
        ChargedGeExpression,
    }
)


def _escape_str_html(text: str) -> str:
    return str(markup_escape(text))


# HTML-escape a plain str: markupsafe's C escaper without the Markup wrapper
# (`escape` calls exactly this for a `str`), else the public function.
_html_escape_str: Callable[[str], str] = getattr(markupsafe, "_escape_inner", _escape_str_html)

# A JSON string's text, quotes included: what json.dumps(str, ensure_ascii=False) returns.
_json_quote: Callable[[str], str] = json.encoder.encode_basestring


def _final_text(chunks: list[str], limit: int) -> str:
    """Join the output; hand over to the interpreter if it is over the byte limit."""
    text = "".join(chunks)
    # A character is at most 4 UTF-8 bytes: most messages need no encoding to check.
    if (
        len(text) * 4 > limit
        and (len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))) > limit
    ):
        raise LimitReached
    return text


def _byte_size(chunks: list[str], state: list[int]) -> int:
    """UTF-8 size of ``chunks``, counted incrementally (``state`` = [chunks seen, bytes])."""
    seen, size = state
    for index in range(seen, len(chunks)):
        text = chunks[index]
        size += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    state[0] = len(chunks)
    state[1] = size
    return size


def _loop_slice(
    items: Any, length: int, limit: int | None, offset: int | None, reverse: bool
) -> tuple[Any, int]:
    """``LoopExpression._slice`` without the ``offset: continue`` bookkeeping."""
    start = int(offset or 0)
    stop = None if limit is None else limit + start
    start_ = min(max(start, 0), length)
    stop_ = min(stop or length, length)
    length_ = max(stop_ - start_, 0)
    sliced = islice(items, start_, stop_)
    if reverse:
        return reversed(list(sliced)), length_
    return sliced, length_


def _namespace_over(limit: int, *values: object) -> None:
    """Raise if assigned values are over the local namespace limit (python-liquid's measure)."""
    if sum(sys.getsizeof(v, 1) for v in values if v is not _MISSING) > limit:
        raise LimitReached


def _raise_limit() -> None:
    raise LimitReached


def _over_budget(
    output_limit: int, work_budget: int
) -> Callable[[Token, int, tuple[tuple[list[str], list[int]], ...]], None]:
    """The function generated code calls once a render is over its work budget."""

    def over_budget(
        token: Token, before: int, sinks: tuple[tuple[list[str], list[int]], ...]
    ) -> None:
        # Already over before this charge (constant charges are not checked one by
        # one): the interpreter stopped earlier, where the budget ran out. And it
        # stops at the first write over the output limit, which the generated code
        # only checks now and then.
        if before > work_budget:
            raise LimitReached
        if sum(_byte_size(chunks, state) for chunks, state in sinks) > output_limit:
            raise LimitReached
        raise work_limit_error(work_budget, token)

    return over_budget


def _is_literal(expr: Expression) -> bool:
    return isinstance(
        expr, StringLiteral | IntegerLiteral | FloatLiteral | TrueLiteral | FalseLiteral | Nil
    )


def _cheap_operand(expr: Expression) -> bool:
    """Whether a comparison with ``expr`` on one side costs :data:`COMPARE_COST` whatever the other.

    True for a literal scalar (``compare_cost`` charges the constant when a side is
    a number, a boolean or nil), ``empty`` and ``blank`` (no size), and a string
    literal shorter than :data:`CHARACTERS_PER_UNIT` (size 0: either the other
    side's size is 0 too, or the sizes differ; both cost the constant).
    """
    if isinstance(expr, StringLiteral):
        return len(expr.value) < CHARACTERS_PER_UNIT
    return _is_literal(expr) or isinstance(expr, Empty | Blank)


class _Loop:
    """A ``for`` loop being compiled: its Python names and what its body uses."""

    __slots__ = ("identifier", "index", "length", "uses_forloop", "var")

    def __init__(self, identifier: str, var: str, index: str, length: str) -> None:
        self.identifier = identifier
        self.var = var
        self.index = index
        self.length = length
        self.uses_forloop = False


class _Sink:
    """An output buffer in the generated code: list, its append and its size state."""

    __slots__ = ("append", "chunks", "enclosing", "state")

    def __init__(self, chunks: str, append: str, state: str, enclosing: _Sink | None) -> None:
        self.chunks = chunks
        self.append = append
        self.state = state
        self.enclosing = enclosing


class _Generator:
    """Generate the Python source of one template's render function."""

    def __init__(self, bound: BoundTemplate, env: TidingsEnvironment) -> None:
        self.env = env
        self.bound = bound
        self.context = TidingsContext(bound)
        self.lines: list[str] = []
        self.depth = 1
        self.counter = 0
        self.consts: dict[str, object] = {}
        self.const_ids: dict[int, str] = {}
        self.roots: dict[str, str] = {}
        self.assigned: dict[str, str] = {}
        self.loops: list[_Loop] = []
        self.captures_in_loop = 0
        self.case_repeat_depth = 0
        self.output_limit = env.limits.output_bytes
        self.namespace_limit = env.local_namespace_limit
        self.loop_limit = env.loop_iteration_limit
        self.autoescape = bool(env.autoescape)
        self.uses_counter = False
        self.work_budget = env.limits.work_budget
        self.uses_work = False
        # Every open output buffer (the render's, then enclosing captures).
        self.sinks: list[_Sink] = []

    # -- helpers -----------------------------------------------------------------

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def temp(self, prefix: str = "_t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: object, prefix: str = "_k") -> str:
        key = id(value)
        name = self.const_ids.get(key)
        if name is None:
            name = self.temp(prefix)
            self.consts[name] = value
            self.const_ids[key] = name
        return name

    def indent(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise Unsupported("nested too deeply")

    def dedent(self) -> None:
        self.depth -= 1

    def charge(self, cost: str, token: object) -> None:
        """Emit: add ``cost`` units to the work count; raise once over budget.

        Over budget, the generated code raises the interpreter's error itself (same
        charges, same point), unless the budget ran out before this charge or the
        output written so far is over its limit: the interpreter would have stopped
        earlier, so it renders instead and reports that.
        """
        self.uses_work = True
        if cost.isdigit():
            # A constant charge (a filter that takes constant time) is only added:
            # the next check (a charge that depends on data, each loop iteration,
            # the end of the render) finds the budget exceeded and hands over.
            self.emit(f"_wk += {cost}")
            return
        spent = self.temp("_c")
        self.emit(f"{spent} = {cost}")
        self.emit(f"_wk += {spent}")
        sinks = ", ".join(f"({sink.chunks}, {sink.state})" for sink in self.sinks)
        self.emit(
            f"if _wk > {self.work_budget}: "
            f"_over_budget({self.const(token)}, _wk - {spent}, ({sinks},))"
        )

    def size(self, value: str) -> str:
        """A Python expression of ``size_of(value)`` (inlined for a plain str)."""
        return (
            f"(len({value}) >> 4 if {value}.__class__ is str else "
            f"0 if {value}.__class__ in _UNSIZED else _sz({value}))"
        )

    # -- names -------------------------------------------------------------------

    def collect_assigned(self, nodes: list[Node]) -> None:
        for node in nodes:
            if isinstance(node, AssignNode | CaptureNode):
                name = str(node.name)
                if name not in self.assigned:
                    self.assigned[name] = self.temp("_a")
            for child in node.children(self.context, include_partials=False):
                self.collect_assigned([child])

    def root(self, name: str) -> str:
        """A Python expression for a top-level name (not a loop variable)."""
        if name == "partial":
            # `partial` is always false at the top level of a render.
            return "False"
        if name in _BUILTIN_ROOTS:
            raise Unsupported(f"builtin name {name!r}")
        var = self.roots.get(name)
        if var is None:
            var = self.temp("_r")
            self.roots[name] = var
        assigned = self.assigned.get(name)
        if assigned is None:
            return var
        # Assigned names shadow render data; undefined when neither has it.
        undefined = self.const(name, "_n")
        return (
            f"({assigned} if {assigned} is not _M else "
            f"({var} if {var} is not _M else _U({undefined})))"
        )

    # -- expressions -------------------------------------------------------------

    def expr(self, expr: Expression) -> str:
        """Emit statements evaluating ``expr``; return a Python expression of its value."""
        if isinstance(expr, Path):
            return self.path(expr)
        if isinstance(expr, StringLiteral):
            if self.autoescape:
                return self.const(Markup(expr.value))
            return repr(str(expr.value))
        if isinstance(expr, TrueLiteral):
            return "True"
        if isinstance(expr, FalseLiteral):
            return "False"
        if isinstance(expr, Nil):
            return "None"
        if isinstance(expr, IntegerLiteral):
            return f"({int(expr.value)!r})"
        if isinstance(expr, FloatLiteral):
            return self.const(float(expr.value))
        if isinstance(expr, Empty | Blank):
            return self.const(expr)
        if isinstance(expr, RangeLiteral):
            if type(expr) is not LimitedRangeLiteral:
                raise Unsupported("range without its limit")
            start = self.expr(expr.start)
            stop = self.expr(expr.stop)
            make = self.const(expr._make_range)
            var = self.temp()
            self.emit(f"{var} = {make}({start}, {stop})")
            # The interpreter refuses a range longer than the loop limit where it is built.
            self.emit(f"if len({var}) > {self.loop_limit}: _raise_limit()")
            return var
        if type(expr) is FilteredExpression:
            return self.filtered(expr)
        if isinstance(expr, BooleanExpression):
            return self.condition(expr.expression)
        if isinstance(
            expr,
            LogicalAndExpression
            | LogicalOrExpression
            | LogicalNotExpression
            | EqExpression
            | NeExpression
            | LtExpression
            | GtExpression
            | LeExpression
            | GeExpression
            | ContainsExpression,
        ):
            # Their values are Python bools: the truthiness is the value.
            return self.condition(expr)
        raise Unsupported(f"expression {type(expr).__name__}")

    def path(self, path: Path) -> str:
        segments = list(path.path)
        head = segments[0]
        if not isinstance(head, str):
            raise Unsupported("path with a computed root")
        loop = next((lp for lp in reversed(self.loops) if lp.identifier == head), None)
        forloop = self.loops[-1] if head == "forloop" and loop is None and self.loops else None
        rest = segments[1:]
        var = self.temp()
        undefined = self.const(head, "_n")
        if forloop is not None:
            if not rest or not isinstance(rest[0], str) or rest[0] not in _FORLOOP_KEYS:
                raise Unsupported("forloop used other than through its counters")
            key = str(rest.pop(0))
            forloop.uses_forloop = True
            i, n = forloop.index, forloop.length
            value = {
                "index": f"{i} + 1",
                "index0": i,
                "rindex": f"{n} - {i}",
                "rindex0": f"{n} - {i} - 1",
                "first": f"{i} == 0",
                "last": f"{i} == {n} - 1",
                "length": n,
            }[key]
            self.emit(f"{var} = {value}")
        elif loop is not None:
            self.emit(f"{var} = {loop.var}")
        else:
            self.emit(f"{var} = {self.root(head)}")
        if not rest:
            return var
        # Evaluate computed segments first (python-liquid does too).
        keys: list[tuple[str, bool]] = []
        for segment in rest:
            if isinstance(segment, Path):
                keys.append((self.path(segment), True))
            elif isinstance(segment, str):
                keys.append((repr(segment), segment in _SPECIAL_KEYS))
            else:
                keys.append((f"({int(segment)!r})", True))
        getter = self.const(self.context.get_item)
        self.emit("try:")
        self.indent()
        for key, special in keys:
            if special:
                self.emit(f"{var} = {getter}({var}, {key})")
            else:
                self.emit(f"{var} = {var}[{key}]")
        self.dedent()
        self.emit("except (KeyError, TypeError, IndexError):")
        self.indent()
        self.emit(f"{var} = _U({undefined})")
        self.dedent()
        return var

    def filtered(self, expr: FilteredExpression) -> str:
        value = self.expr(expr.left)
        for flt in expr.filters or []:
            value = self.apply_filter(value, flt)
        return value

    def apply_filter(self, value: str, flt: Any) -> str:
        name = str(flt.name)
        func = self.env.filters.get(name)
        if func is None or getattr(func, "with_context", False):
            raise Unsupported(f"filter {name!r}")
        positional: list[str] = []
        keywords: list[tuple[str, str]] = []
        for arg in flt.args:
            if isinstance(arg, KeywordArgument):
                keywords.append((str(arg.name), self.expr(arg.value)))
            else:
                positional.append(self.expr(arg.value))
        var = self.temp()
        self.emit(f"{var} = {value}")
        if name in CONSTANT_TIME_FILTERS:
            cost = str(FILTER_COST)
        elif name == "json":
            cost = " + ".join([str(FILTER_COST), f"_deep({var})", *map(self.size, positional)])
        else:
            cost = " + ".join([str(FILTER_COST), *(self.size(x) for x in [var, *positional])])
        self.charge(cost, flt.token)
        # The filter with the interpreter's size guards; the work is charged above.
        func = super(TidingsContext, self.context).filter(name, token=flt.token)
        guarded = self.const(guard_filter(func, name, flt.token, self.env.limits), "_f")
        kwargs = ", ".join(f"{key!r}: {val}" for key, val in keywords)
        call = ", ".join([var, *positional, *([f"**{{{kwargs}}}"] if keywords else [])])
        slow = f"{var} = {guarded}({call})"
        if name == "default" and func is liquid_default and self.inline_default(flt):
            # python-liquid's `default` and the guards, for the common classes.
            fallback = positional[0] if positional else "''"
            self.emit(f"if {var}.__class__ is str and len({var}) <= {self.output_limit}:")
            self.indent()
            self.emit(f"if not {var}:")
            self.indent()
            self.emit(f"{var} = {fallback}")
            self.dedent()
            self.dedent()
            self.emit(f"elif {var} is None or {var}.__class__ is _Undefined:")
            self.indent()
            self.emit(f"{var} = {fallback}")
            self.dedent()
            self.emit(
                f"elif not ({var}.__class__ is float or "
                f"({var}.__class__ is int and {var}.bit_length() <= {MAX_INT_BITS})):"
            )
            self.indent()
            self.emit(slow)
            self.dedent()
            return var
        if name == "json" and func is json_filter and not flt.args:
            # Our `json` filter and the guards, for JSON-like values.
            self.emit(f"if {var}.__class__ in _JSON_CLASSES:")
            self.indent()
            self.emit(f"{var} = _JsonFragment(_dump_json({var}))")
            self.emit(f"if len({var}) > {self.output_limit}: _raise_limit()")
            self.dedent()
            self.emit("else:")
            self.indent()
            self.emit(slow)
            self.dedent()
            return var
        self.emit(slow)
        return var

    def inline_default(self, flt: Any) -> bool:
        """Whether ``default`` can be inlined exactly (one literal argument at most)."""
        if self.env.undefined is not Undefined or len(flt.args) > 1:
            return False
        if not flt.args:
            return True
        arg = flt.args[0]
        if isinstance(arg, KeywordArgument) or not _is_literal(arg.value):
            return False
        literal = arg.value.value if not isinstance(arg.value, Nil) else None
        if isinstance(literal, str) and len(literal) > self.output_limit:
            return False
        return not (isinstance(literal, int) and abs(literal).bit_length() > 1000)

    def truthy(self, value: str) -> str:
        if not value.isidentifier():
            # `'a' is not None` is a SyntaxWarning: test a variable instead.
            var = self.temp()
            self.emit(f"{var} = {value}")
            value = var
        return (
            f"({value} is not None and {value} is not False and "
            f"({value}.__class__ in _PLAIN or _truthy({value})))"
        )

    def condition(self, expr: Expression) -> str:
        """Emit statements for a condition; return a Python expression of its truth."""
        if isinstance(expr, LogicalAndExpression | LogicalOrExpression):
            var = self.temp("_b")
            left = self.condition(expr.left)
            self.emit(f"{var} = {left}")
            test = var if isinstance(expr, LogicalAndExpression) else f"not {var}"
            self.emit(f"if {test}:")
            self.indent()
            right = self.condition(expr.right)
            self.emit(f"{var} = {right}")
            self.dedent()
            return var
        if isinstance(expr, LogicalNotExpression):
            return f"(not {self.condition(expr.right)})"
        if isinstance(expr, BooleanExpression):
            return self.condition(expr.expression)
        if isinstance(expr, _COMPARISONS):
            return self.comparison(expr)
        if isinstance(expr, ContainsExpression):
            if type(expr) is not ChargedContainsExpression:
                raise Unsupported("contains without its work charge")
            left, right = self.expr(expr.left), self.expr(expr.right)
            if not left.isidentifier():
                var = self.temp()
                self.emit(f"{var} = {left}")
                left = var
            self.charge(f"{CONTAINS_COST} + {self.size(left)}", expr.token)
            token = self.const(expr.token)
            return f"_contains({token}, {left}, {right})"
        value = self.expr(expr)
        var = self.temp("_b")
        self.emit(f"{var} = {self.truthy(value)}")
        return var

    def operand(self, expr: Expression) -> str:
        """Emit ``expr``'s evaluation; return a name or literal safe to use twice."""
        value = self.expr(expr)
        if value.isidentifier():
            return value
        var = self.temp()
        self.emit(f"{var} = {value}")
        return var

    def charge_comparison(
        self, left: str, right: str, token: object, *, constant: bool = False
    ) -> None:
        """Emit the work charge of one comparison, as the interpreter charges it.

        ``constant``: a side is a literal that makes :func:`compare_cost` the
        constant whatever the other side holds (see :func:`_cheap_operand`).
        """
        if constant:
            self.charge(str(COMPARE_COST), token)
            return
        # Inlined fast path of compare_cost: a scalar on either side costs the constant.
        self.charge(
            f"({COMPARE_COST} if {left}.__class__ in _UNSIZED or {right}.__class__ in _UNSIZED "
            f"else _cmp({left}, {right}))",
            token,
        )

    def comparison(self, expr: Expression) -> str:
        """``==``, ``!=``, ``<``, ``>``, ``<=``, ``>=``: both sides, the charge, the test."""
        if type(expr) not in _CHARGED_COMPARISONS:
            raise Unsupported("comparison without its work charge")
        left = self.operand(expr.left)  # type: ignore[attr-defined]
        right = self.operand(expr.right)  # type: ignore[attr-defined]
        constant = _cheap_operand(expr.left) or _cheap_operand(expr.right)  # type: ignore[attr-defined]
        self.charge_comparison(left, right, expr.token, constant=constant)
        if isinstance(expr, EqExpression | NeExpression):
            # Two plain strings compare as Python strings in _eq (no undefined, no
            # __liquid__, no bool, no empty/blank): test them inline.
            test = (
                f"({left} == {right} if {left}.__class__ is str and {right}.__class__ is str "
                f"else _eq({left}, {right}))"
            )
            return test if isinstance(expr, EqExpression) else f"(not {test})"
        if isinstance(expr, LtExpression | GtExpression):
            token = self.const(expr.token)
            if isinstance(expr, GtExpression):
                left, right = right, left
            return f"_lt({token}, {left}, {right})"
        if isinstance(expr, GeExpression):
            left, right = right, left
        return f"_le({left}, {right})"

    # -- nodes -------------------------------------------------------------------

    def block(self, block: BlockNode, sink: _Sink | None) -> None:
        """Compile a block; a blank one writes nothing (python-liquid's NullIO)."""
        if self.env.suppress_blank_control_flow_blocks and block.blank:
            sink = None
        self.nodes(block.nodes, sink)

    def nodes(self, nodes: list[Node], sink: _Sink | None) -> None:
        start = len(self.lines)
        for node in nodes:
            self.node(node, sink)
        if len(self.lines) == start:
            self.emit("pass")

    def node(self, node: Node, sink: _Sink | None) -> None:
        if type(node) is ContentNode:
            if sink is not None and node.text:
                self.emit(f"{sink.append}({str(node.text)!r})")
        elif type(node) in (TidingsOutputNode, TidingsEchoNode):
            self.output(node, sink)
        elif type(node) is IfNode:
            self.if_node(node, sink, negate_first=False)
        elif type(node) is UnlessNode:
            self.if_node(node, sink, negate_first=True)
        elif type(node) is ForNode:
            self.for_node(node, sink)
        elif type(node) is AssignNode:
            if type(node.expression) is not FilteredExpression:
                raise Unsupported("assign expression")
            value = self.expr(node.expression)
            self.emit(f"{self.assigned[str(node.name)]} = {value}")
            self.check_namespace()
        elif type(node) is CaptureNode:
            self.capture(node, sink)
        elif type(node) is CaseNode:
            self.case(node, sink)
        elif type(node) is LiquidNode:
            self.block(node.block, sink)
        elif type(node) in (BreakNode, ContinueNode):
            if not self.loops or self.captures_in_loop or self.case_repeat_depth:
                raise Unsupported("break or continue outside a plain loop body")
            self.emit("break" if type(node) is BreakNode else "continue")
        elif isinstance(node, CommentNode | DocNode):
            pass
        else:
            raise Unsupported(f"node {type(node).__name__}")

    def output(self, node: Any, sink: _Sink | None) -> None:
        if type(node.expression) is not FilteredExpression:
            raise Unsupported("output expression")
        value = self.expr(node.expression)
        escaper = node.escaper
        if not value.isidentifier():
            var = self.temp()
            self.emit(f"{var} = {value}")
            value = var
        # Plain str and int values skip the generic escapers (same result).
        if escaper is escape_text:
            text = (
                f"({value} if {value}.__class__ is str else "
                f"str({value}) if {value}.__class__ is int else _esc_text({value}))"
            )
        elif escaper is escape_html:
            text = (
                f"(_html_str({value}) if {value}.__class__ is str else "
                f"str({value}) if {value}.__class__ is int else _esc_html({value}))"
            )
        elif escaper is escape_json_string:
            text = (
                f"(_json_quote({value})[1:-1] if {value}.__class__ is str else "
                f"_esc_json_string({value}))"
            )
        elif escaper is escape_url_attribute:
            # A plain str without a colon, or with a safe scheme before the first one.
            text = (
                f"(_html_str({value}) if {value}.__class__ is str and (':' not in {value} or "
                f"{value}[:{value}.index(':')] in _SAFE_SCHEMES) else _esc_url_attr({value}))"
            )
        elif escaper is escape_json_value:
            text = f"({value} if {value}.__class__ is _JsonFragment else _esc_json_value({value}))"
        else:
            text = f"{self.const(escaper, '_e')}({value})"
        if sink is None:
            self.emit(f"{text}")
        else:
            self.emit(f"{sink.append}({text})")

    def check_namespace(self) -> None:
        if self.namespace_limit:
            names = ", ".join(self.assigned.values())
            self.emit(f"_namespace_over({self.namespace_limit}, {names})")

    def if_node(self, node: Any, sink: _Sink | None, *, negate_first: bool) -> None:
        first = self.condition(node.condition)
        test = f"not {first}" if negate_first else first
        alternatives: list[ConditionalBlockNode] = list(node.alternatives)
        if any(type(alt) is not ConditionalBlockNode for alt in alternatives):
            raise Unsupported("elsif node")
        if not alternatives:
            self.emit(f"if {test}:")
            self.indent()
            self.block(node.consequence, sink)
            self.dedent()
            if node.default is not None:
                self.emit("else:")
                self.indent()
                self.block(node.default, sink)
                self.dedent()
            return
        # A flag instead of nested else blocks keeps long elsif chains flat.
        done = self.temp("_m")
        self.emit(f"{done} = {test}")
        self.emit(f"if {done}:")
        self.indent()
        self.block(node.consequence, sink)
        self.dedent()
        for alternative in alternatives:
            self.emit(f"if not {done}:")
            self.indent()
            self.emit(f"{done} = {self.condition(alternative.expression)}")
            self.emit(f"if {done}:")
            self.indent()
            self.block(alternative.block, sink)
            self.dedent()
            self.dedent()
        if node.default is not None:
            self.emit(f"if not {done}:")
            self.indent()
            self.block(node.default, sink)
            self.dedent()

    def case(self, node: CaseNode, sink: _Sink | None) -> None:
        default = self.temp("_m")
        self.emit(f"{default} = True")
        for block in node.blocks:
            if type(block) is MultiExpressionBlockNode:
                when = block.expression
                if type(when) is not ChargedWhenExpression:
                    raise Unsupported("when without its work charge")
                # Like the interpreter, each `when` reads the case's value afresh:
                # an earlier `when` block may have assigned to it.
                subject = self.temp()
                self.emit(f"{subject} = {self.expr(node.expression)}")
                tests = []
                for expression in when.expressions:
                    right = self.operand(expression)
                    self.charge_comparison(
                        subject, right, when.token, constant=_cheap_operand(expression)
                    )
                    test = self.temp("_b")
                    self.emit(f"{test} = _eq({subject}, {right})")
                    tests.append(test)
                if len(tests) == 1:
                    self.emit(f"if {tests[0]}:")
                    self.indent()
                    self.emit(f"{default} = False")
                    self.block(block.block, sink)
                    self.dedent()
                    continue
                # `when a, b` renders its block once for each match.
                count = self.temp("_c")
                self.emit(f"{count} = [{', '.join(tests)}].count(True)")
                self.emit(f"if {count}:")
                self.indent()
                self.emit(f"{default} = False")
                self.emit(f"for _ in range({count}):")
                self.indent()
                self.case_repeat_depth += 1
                self.block(block.block, sink)
                self.case_repeat_depth -= 1
                self.dedent()
                self.dedent()
            elif type(block) is BlockNode:
                self.emit(f"if {default}:")
                self.indent()
                self.block(block, sink)
                self.dedent()
            else:
                raise Unsupported("case block")

    def capture(self, node: CaptureNode, sink: _Sink | None) -> None:
        chunks = self.temp("_cap")
        inner = _Sink(chunks, self.temp("_capa"), self.temp("_caps"), sink)
        self.emit(f"{chunks} = []")
        self.emit(f"{inner.append} = {chunks}.append")
        self.emit(f"{inner.state} = [0, 0]")
        if self.loops:
            self.captures_in_loop += 1
        self.sinks.append(inner)
        self.block(node.block, inner)
        self.sinks.pop()
        if self.loops:
            self.captures_in_loop -= 1
        # python-liquid gives a capture the output limit less what its enclosing
        # buffer holds (nothing when that buffer is a suppressed blank block).
        carry = f"_byte_size({sink.chunks}, {sink.state})" if sink is not None else "0"
        self.emit(
            f"if _byte_size({chunks}, {inner.state}) > {self.output_limit} - {carry}: "
            "_raise_limit()"
        )
        value = f"''.join({chunks})"
        if self.autoescape:
            value = f"_Markup({value})"
        self.emit(f"{self.assigned[str(node.name)]} = {value}")
        self.check_namespace()

    def for_node(self, node: ForNode, sink: _Sink | None) -> None:
        expr = node.expression
        if type(expr) is not LimitedLoopExpression or expr.cols is not None:
            raise Unsupported("loop expression")
        identifier = str(expr.identifier)
        if identifier == "forloop":
            raise Unsupported("loop variable named forloop")
        iterable = self.expr(expr.iterable)
        items = self.temp("_it")
        length = self.temp("_len")
        to_iter = self.const(expr._to_iter)
        context = self.const(self.context)
        self.emit(f"{items} = {iterable}")
        plain = expr.limit is None and expr.offset is None and not expr.reversed
        if plain:
            self.emit(f"if {items}.__class__ is list:")
            self.indent()
            self.emit(f"{length} = len({items})")
            self.dedent()
            self.emit("else:")
            self.indent()
            self.emit(f"{items}, {length} = {to_iter}({items}, {context})")
            self.dedent()
        else:
            self.emit(f"{items}, {length} = {to_iter}({items}, {context})")
            to_int = self.const(expr._to_int)
            limit = "None"
            if expr.limit is not None:
                token = self.const(expr.limit.token)
                limit = self.temp()
                self.emit(f"{limit} = {to_int}({self.expr(expr.limit)}, token={token})")
            offset = "None"
            if expr.offset is not None:
                token = self.const(expr.offset.token)
                offset = self.temp()
                if isinstance(expr.offset, StringLiteral):
                    if expr.offset.value == "continue":
                        raise Unsupported("offset: continue")
                    self.emit(f"{offset} = {to_int}({str(expr.offset.value)!r}, token={token})")
                else:
                    self.emit(f"{offset} = {to_int}({self.expr(expr.offset)}, token={token})")
            self.emit(
                f"{items}, {length} = _loop_slice({items}, {length}, {limit}, {offset}, "
                f"{bool(expr.reversed)})"
            )
        self.charge(f"{LOOP_ITERATION_COST} * {length}", expr.token)
        self.emit(f"if {length}:")
        self.indent()
        if self.loop_limit:
            product = " * ".join([length, *(lp.length for lp in self.loops)])
            self.emit(f"if {product} > {self.loop_limit}: _raise_limit()")
        loop = _Loop(identifier, self.temp("_l"), self.temp("_i"), length)
        index_at = len(self.lines)
        self.emit(f"{loop.index} = -1")
        self.emit(f"for {loop.var} in {items}:")
        self.indent()
        self.emit(f"{loop.index} += 1")
        if sink is not None:
            self.uses_counter = True
            self.emit("_n += 1")
            self.emit(
                f"if not _n & {_CHECK_EVERY - 1} and "
                f"_byte_size({sink.chunks}, {sink.state}) > {self.output_limit}: _raise_limit()"
            )
        # Constant charges are not checked one by one: check once per iteration.
        self.uses_work = True
        self.emit(f"if _wk > {self.work_budget}: _raise_limit()")
        self.loops.append(loop)
        saved_captures, saved_case = self.captures_in_loop, self.case_repeat_depth
        self.captures_in_loop = self.case_repeat_depth = 0
        self.block(node.block, sink)
        self.captures_in_loop, self.case_repeat_depth = saved_captures, saved_case
        self.loops.pop()
        if not loop.uses_forloop:
            # No `forloop` in the body: drop the index counter.
            del self.lines[index_at + 2]
            del self.lines[index_at]
        self.dedent()
        self.dedent()
        if node.default is not None:
            self.emit("else:")
            self.indent()
            self.block(node.default, sink)
            self.dedent()

    # -- the function ------------------------------------------------------------

    def generate(self) -> str:
        self.collect_assigned(self.bound.nodes)
        top = _Sink("_o", "_w", "_os", None)
        self.sinks.append(top)
        body_start = len(self.lines)
        self.nodes(self.bound.nodes, top)
        body = self.lines[body_start:]
        header = ["def render(D):", "    _o = []", "    _w = _o.append", "    _os = [0, 0]"]
        if self.uses_counter:
            header.append("    _n = 0")
        if self.uses_work:
            header.append("    _wk = 0")
        for name, var in self.roots.items():
            header.append(f"    {var} = D.get({name!r}, _M)")
            if name not in self.assigned:
                header.append(f"    if {var} is _M: {var} = _U({name!r})")
        header.extend(f"    {var} = _M" for var in self.assigned.values())
        footer = [f"    return _final_text(_o, {self.output_limit})"]
        if self.uses_work:
            footer.insert(0, f"    if _wk > {self.work_budget}: _raise_limit()")
        return "\n".join([*header, *body, *footer]) + "\n"

    def namespace(self) -> dict[str, object]:
        return {
            # Only what the generated code names: it needs no other builtin.
            "__builtins__": {
                "IndexError": IndexError,
                "KeyError": KeyError,
                "TypeError": TypeError,
                "float": float,
                "int": int,
                "len": len,
                "list": list,
                "range": range,
                "str": str,
            },
            "_M": _MISSING,
            "_U": self.env.undefined,
            "_Undefined": Undefined,
            "_PLAIN": _PLAIN_CLASSES,
            "_truthy": is_truthy,
            "_eq": _eq,
            "_lt": _lt,
            "_le": _le,
            "_contains": _contains,
            "_cmp": compare_cost,
            "_esc_text": escape_text,
            "_esc_html": escape_html,
            "_esc_json_string": escape_json_string,
            "_esc_json_value": escape_json_value,
            "_esc_url_attr": escape_url_attribute,
            "_SAFE_SCHEMES": SAFE_URL_SCHEMES,
            "_html_str": _html_escape_str,
            "_json_quote": _json_quote,
            "_JsonFragment": JsonFragment,
            "_JSON_CLASSES": _JSON_CLASSES,
            "_dump_json": dump_json,
            "_final_text": _final_text,
            "_Markup": Markup,
            "_byte_size": _byte_size,
            "_loop_slice": _loop_slice,
            "_namespace_over": _namespace_over,
            "_raise_limit": _raise_limit,
            "_over_budget": _over_budget(self.output_limit, self.work_budget),
            "_sz": size_of,
            "_UNSIZED": UNSIZED_CLASSES,
            "_deep": deep_size_of,
            **self.consts,
        }


def generate_source(bound: BoundTemplate) -> tuple[str, dict[str, object]]:
    """Return the Python source of ``bound``'s render function and its constants.

    Raises:
        Unsupported: The template uses something outside the compiled subset.
    """
    env = bound.env
    if not isinstance(env, TidingsEnvironment) or env.strict:
        raise Unsupported("only tidings' non-strict environments compile")
    if bound.globals or bound.matter:
        raise Unsupported("template globals")
    generator = _Generator(bound, env)
    source = generator.generate()
    return source, generator.namespace()


def compile_render(bound: BoundTemplate, name: str | None = None) -> RenderFunction | None:
    """Compile ``bound`` to a render function, or ``None`` if it must stay interpreted.

    The function takes the render data (top-level names) and returns the text.
    It raises (anything) where the interpreter would raise an error, and
    :class:`LimitReached` where a resource limit is reached: the caller then
    renders on the interpreter to get the exact error.
    """
    try:
        source, namespace = generate_source(bound)
        code = compile(source, f"<tidings template {name or ''}>", "exec")
    except (Unsupported, SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    exec(code, namespace)  # noqa: S102 - our generated source; template text is only literals
    function = namespace["render"]
    assert callable(function)  # noqa: S101 - defined by the source above
    return function
