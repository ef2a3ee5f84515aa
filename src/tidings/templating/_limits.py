"""Resource limits of a render: sizes, ranges, numbers and the work budget.

Both render paths enforce the same limits. The interpreter charges its
:class:`~tidings.templating._environment.TidingsContext` (one per render); the
compiled path keeps the same count in a local variable of the generated
function and charges exactly the same events, so a template hits the work
budget at the same point on both paths.

What work costs (units were calibrated so that a budget of 1,000,000 takes
well under a second, compiled or interpreted, whatever the template does):

- each loop iteration (``for`` and ``tablerow``): 5 units, charged when the loop
  starts, for its length after ``limit``/``offset``;
- each filter call: 25 units, plus the size of its input and of its positional
  arguments: 4 units per item of an array, object or range, 1 unit per 16
  characters of a string (``json`` counts nested items too; filters that take
  constant time, such as ``size`` and ``first``, cost only the 25);
- each ``contains``: 5 units plus the size of what it searches;
- each comparison (``==``, ``!=``, ``<``, ``>``, ``<=``, ``>=``, and each value of a
  ``case``'s ``when``): 5 units, plus, when both sides are the same size (the
  only case in which Python walks them item by item), the size of the left side
  with its nested items (1 unit per 16 characters for strings).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from liquid import Markup
from liquid.exceptions import ResourceLimitError

from ..errors import ArgumentError

if TYPE_CHECKING:
    from liquid.token import Token


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits that keep a hostile template or payload from hurting the process.

    Attributes:
        loop_iterations: Most iterations of a loop, counting nested loops as the
            product of their lengths (Liquid's rule). A range (``(1..n)``) longer
            than this is refused where it is built, wherever it is used.
        output_bytes: Most bytes (UTF-8) one render may produce. It also bounds
            any single value a filter builds and, approximately, the total size
            of the variables a template assigns or captures, so a template
            cannot run out of memory without writing anything.
        nesting_depth: Most nested blocks (``if`` inside ``for`` inside ...) a
            template may contain.
        work_budget: Most units of work one render may do: 5 per loop
            iteration; 25 per filter call plus 4 per item of the arrays and
            objects and 1 per 16 characters of the strings it is given; 5 per
            ``contains`` plus the size of what it searches; 5 per comparison
            (``==``, ``case``/``when``, ...) plus the size of the two sides
            when they are the same size. Bounds CPU time,
            which the other limits do not (a loop of sorts over long arrays stays
            under them all); the default takes well under a second.
    """

    loop_iterations: int = 10_000
    output_bytes: int = 1_000_000
    nesting_depth: int = 30
    work_budget: int = 1_000_000

    def __post_init__(self) -> None:
        for name in ("loop_iterations", "output_bytes", "nesting_depth", "work_budget"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ArgumentError(
                    f"Limits.{name} must be a positive integer, not {value!r}", field=name
                )


DEFAULT_LIMITS = Limits()


class FilterLimitError(ResourceLimitError):
    """A value is over a resource limit (becomes ``LimitExceededError``)."""


class WorkLimitError(ResourceLimitError):
    """A render did more work than the budget allows (becomes ``LimitExceededError``)."""


# Python refuses to print ints over 4300 digits (about 14,300 bits) anyway.
MAX_INT_BITS = 14_000

# Filters whose result can be far larger than their inputs: checked before they run.
_MULTIPLYING_FILTERS = frozenset({"replace", "join"})

# Filters that take constant time whatever their input: one unit of work.
CONSTANT_TIME_FILTERS = frozenset({"default", "first", "last", "raw", "safe", "size"})

# Classes whose length is what a filter or `contains` walks through, and classes
# known to have none (the common cases, tested before the slower issubclass).
SIZED_CLASSES: frozenset[type] = frozenset({str, list, tuple, dict, range, Markup})
UNSIZED_CLASSES: frozenset[type] = frozenset({int, float, bool, type(None)})
_SIZED_BASES = (str, list, tuple, dict)


LOOP_ITERATION_COST = 5
FILTER_COST = 25
CONTAINS_COST = 5
COMPARE_COST = 5
ITEM_COST = 4
CHARACTERS_PER_UNIT = 16


def size_of(value: object) -> int:
    """Units of work to walk ``value``: 4 per array/object/range item, 1 per 16 characters."""
    # type(), not .__class__: a strict Undefined raises on any attribute access.
    cls = type(value)
    if cls is str:
        return len(cast("str", value)) >> 4
    if cls in UNSIZED_CLASSES:
        return 0
    if cls in SIZED_CLASSES or issubclass(cls, _SIZED_BASES):
        if issubclass(cls, str):
            return len(cast("str", value)) >> 4
        return ITEM_COST * len(cast("Sized", value))
    return 0


def deep_size_of(value: object) -> int:
    """Like :func:`size_of`, counting the items of nested arrays and objects too."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        cls = type(item)
        items: Iterable[object]
        if cls is list or cls is tuple:
            items = cast("Sequence[object]", item)
        elif cls is dict or (cls not in UNSIZED_CLASSES and isinstance(item, dict)):
            items = cast("dict[object, object]", item).values()
        else:
            total += size_of(item)
            continue
        total += ITEM_COST * len(cast("Sized", item))
        # Scalars are counted here rather than pushed: most items of large data are.
        for child in items:
            child_cls = type(child)
            if child_cls is str:
                total += len(cast("str", child)) >> 4
            elif child_cls not in UNSIZED_CLASSES:
                stack.append(child)
    return total


def compare_cost(left: object, right: object) -> int:
    """Units of work one comparison of ``left`` with ``right`` costs (see the module docstring).

    Python compares two containers (or strings) item by item only when they have
    the same length; otherwise it answers at once. Both sides the same size is the
    cheap test for that: the nested items of the left side are then charged, so a
    loop comparing two large, equal data structures runs out of budget instead of
    taking minutes. A scalar on either side costs only the 5.
    """
    left_cls, right_cls = type(left), type(right)
    if left_cls in UNSIZED_CLASSES or right_cls in UNSIZED_CLASSES:
        return COMPARE_COST
    # Text shorter than a unit has size 0: the sizes are then both 0 or differ.
    if (left_cls is str and len(cast("str", left)) < CHARACTERS_PER_UNIT) or (
        right_cls is str and len(cast("str", right)) < CHARACTERS_PER_UNIT
    ):
        return COMPARE_COST
    size = size_of(left)
    if not size or size != size_of(right):
        return COMPARE_COST
    return COMPARE_COST + (size if type(left) is str else deep_size_of(left))


def filter_cost(name: str, left: object, args: Sequence[object]) -> int:
    """Units of work one call of filter ``name`` costs (see the module docstring)."""
    if name in CONSTANT_TIME_FILTERS:
        return FILTER_COST
    cost = FILTER_COST + (deep_size_of(left) if name == "json" else size_of(left))
    for arg in args:
        cost += size_of(arg)
    return cost


def work_limit_error(budget: int, token: Token | None) -> WorkLimitError:
    """The error raised when a render goes over ``budget`` units of work."""
    return WorkLimitError(
        f"work limit reached: the template does more than {budget} units of work "
        "per render (loop iterations and filter work)",
        token=token,
    )


def check_range(value: range, limit: int, token: Token | None) -> None:
    """Raise if ``value`` has more than ``limit`` items, before anything iterates it."""
    try:
        length = len(value)
    except OverflowError:  # more items than an index can count
        length = value.stop - value.start
    if length > limit:
        raise FilterLimitError(
            f"range of {length} items is over the loop iteration limit of {limit}", token=token
        )


def _check_range(value: object, limit: int, token: Token | None) -> None:
    # type(), not isinstance(): a strict Undefined raises on any attribute access,
    # __class__ included, and must reach the `default` filter untouched.
    if type(value) is range:
        check_range(value, limit, token)


def _estimated_size(name: str, left: object, args: tuple[object, ...]) -> int:
    """A cheap upper estimate of the length of a multiplying filter's result."""
    if name == "replace" and type(left) is str and len(args) >= 1:
        old = str(args[0])
        new = str(args[1]) if len(args) > 1 else ""
        count = left.count(old) if old else len(left) + 1
        return len(left) + count * len(new)
    if name == "join" and type(left) in (list, tuple):
        items = cast("Sequence[object]", left)
        sep = str(args[0]) if args else " "
        # Non-string items are short (numbers) or bounded by the result check.
        texts = sum(len(str(item)) for item in items if type(item) is str)
        return max(len(items) - 1, 0) * len(sep) + texts
    return 0


def guard_filter(
    func: Callable[..., object], name: str, token: Token | None, limits: Limits
) -> Callable[..., object]:
    """Wrap filter ``func`` in the size checks (not the work budget: callers charge it).

    A filter may not iterate a range longer than the loop iteration limit, nor
    build a string or array longer than the output limit (``replace`` and
    ``join`` are estimated before they run, so they fail before allocating),
    nor a number too large to print.
    """
    loop_limit = limits.loop_iterations
    output_limit = limits.output_bytes

    def guarded(left: object, *args: object, **kwargs: object) -> object:
        _check_range(left, loop_limit, token)
        for arg in args:
            _check_range(arg, loop_limit, token)
        if name in _MULTIPLYING_FILTERS and _estimated_size(name, left, args) > output_limit:
            raise FilterLimitError(
                f"'{name}' would build a value over the output limit of {output_limit} bytes",
                token=token,
            )
        result = func(left, *args, **kwargs)
        if type(result) is int and result.bit_length() > MAX_INT_BITS:
            # `{% assign n = n | times: n %}` in a loop squares its way to
            # numbers that take seconds to multiply and cannot be printed.
            raise FilterLimitError(f"'{name}' built a number too large to use", token=token)
        if issubclass(type(result), str | list) and len(cast("Sized", result)) > output_limit:
            raise FilterLimitError(
                f"'{name}' built a value over the output limit of {output_limit} bytes",
                token=token,
            )
        return result

    return guarded
