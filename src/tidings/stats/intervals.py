"""Pure statistics: confidence intervals, conversion rates and the uplift between two groups.

No workspace, no I/O: numbers in, numbers out. The uplift is the difference of two
rates with a 95% Newcombe (hybrid Wilson score) interval; see :func:`newcombe_interval`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "Z_95",
    "Conversion",
    "Interval",
    "Rate",
    "Uplift",
    "newcombe_interval",
    "wilson_interval",
]

Z_95: Final = 1.959963984540054
"""The two-sided 95% quantile of the standard normal distribution."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval ``[low, high]`` (proportions or differences of them)."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies inside the interval (bounds included)."""
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"low": self.low, "high": self.high}


def wilson_interval(successes: int, total: int, *, z: float = Z_95) -> Interval | None:
    """The Wilson score interval of a proportion ``successes / total``.

    Unlike the Wald interval it stays inside ``[0, 1]`` and is not degenerate at
    0% or 100%. Returns None when ``total`` is 0 (no data, no interval).

    Raises:
        ValueError: ``successes`` is negative or above ``total``.
    """
    if total < 0 or not 0 <= successes <= max(total, 0):
        raise ValueError(f"need 0 <= successes <= total, got {successes} of {total}")
    if total == 0:
        return None
    p = successes / total
    z2 = z * z
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def newcombe_interval(
    successes_a: int, total_a: int, successes_b: int, total_b: int, *, z: float = Z_95
) -> Interval | None:
    """Newcombe's hybrid score interval for the difference ``p_a - p_b`` (his method 10).

    Built from the two Wilson intervals ``[l_a, u_a]`` and ``[l_b, u_b]``::

        low  = d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)
        high = d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)

    It keeps close to its nominal coverage for small groups and rates near 0 or
    1, where the Wald interval collapses (zero conversions in both groups give a
    Wald interval of width 0). Returns None when either group is empty.
    """
    wilson_a = wilson_interval(successes_a, total_a, z=z)
    wilson_b = wilson_interval(successes_b, total_b, z=z)
    if wilson_a is None or wilson_b is None:
        return None
    p_a, p_b = successes_a / total_a, successes_b / total_b
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - wilson_a.low) ** 2 + (wilson_b.high - p_b) ** 2)
    high = difference + math.sqrt((wilson_a.high - p_a) ** 2 + (p_b - wilson_b.low) ** 2)
    return Interval(max(-1.0, low), min(1.0, high))


@dataclass(frozen=True, slots=True)
class Rate:
    """A conversion rate of one group: ``converted`` of ``users``.

    ``rate`` and its 95% Wilson ``interval`` are None when the group is empty.
    """

    converted: int
    users: int

    @property
    def rate(self) -> float | None:
        """``converted / users``, or None for an empty group."""
        return self.converted / self.users if self.users else None

    @property
    def interval(self) -> Interval | None:
        """The 95% Wilson interval of the rate, or None for an empty group."""
        return wilson_interval(self.converted, self.users)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        interval = self.interval
        return {
            "converted": self.converted,
            "users": self.users,
            "rate": self.rate,
            "interval": interval.to_dict() if interval else None,
        }


@dataclass(frozen=True, slots=True)
class Uplift:
    """Target rate minus control rate, with its 95% Newcombe interval.

    Attributes:
        difference: ``target.rate - control.rate`` (None when a group is empty).
        interval: The 95% interval of the difference (None when a group is empty).
        relative: ``difference / control.rate`` (None when the control rate is 0 or unknown).
        method: How the interval was computed.
    """

    difference: float | None
    interval: Interval | None
    relative: float | None
    method: str = "newcombe-wilson"

    @property
    def significant(self) -> bool | None:
        """Whether the interval excludes zero (None when it is undefined)."""
        return None if self.interval is None else not self.interval.contains(0.0)

    @classmethod
    def between(cls, target: Rate, control: Rate) -> Uplift:
        """The uplift of ``target`` over ``control``."""
        interval = newcombe_interval(
            target.converted, target.users, control.converted, control.users
        )
        if target.rate is None or control.rate is None:
            return cls(difference=None, interval=None, relative=None)
        difference = target.rate - control.rate
        relative = difference / control.rate if control.rate > 0 else None
        return cls(difference=difference, interval=interval, relative=relative)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "difference": self.difference,
            "interval": self.interval.to_dict() if self.interval else None,
            "relative": self.relative,
            "significant": self.significant,
            "method": self.method,
        }


@dataclass(frozen=True, slots=True)
class Conversion:
    """Conversions to a goal event: the target group, the control group, the uplift.

    ``goal_where``: the goal's conditions on the event's properties, as JSON
    (``[{"property": "amount", "op": "gte", "value": 500}]``; empty: any such event).
    """

    goal_event: str
    window_hours: int
    target: Rate
    control: Rate
    goal_where: tuple[dict[str, Any], ...] = ()

    @property
    def uplift(self) -> Uplift:
        """Target rate minus control rate, with its 95% interval."""
        return Uplift.between(self.target, self.control)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "goal_event": self.goal_event,
            "goal_where": list(self.goal_where),
            "window_hours": self.window_hours,
            "target": self.target.to_dict(),
            "control": self.control.to_dict(),
            "uplift": self.uplift.to_dict(),
        }
