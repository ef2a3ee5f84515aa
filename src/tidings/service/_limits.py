"""Per-account request rate limits: a token bucket per account.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each
request takes one. An empty bucket refuses the request with the seconds until a
token is back, which the service sends as ``Retry-After`` with a 429.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ArgumentError

__all__ = ["RateLimit", "TokenBucket"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """How many requests an account may make: ``rate`` a second, ``burst`` at once.

    Attributes:
        rate: Tokens gained per second (sustained requests per second).
        burst: The most tokens a bucket holds (requests accepted at once after a pause).

    Raises:
        ArgumentError: ``rate`` is not positive or ``burst`` is below 1.
    """

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not math.isfinite(self.rate) or self.rate <= 0:
            raise ArgumentError("must be a positive number of requests a second", field="rate")
        if self.burst < 1:
            raise ArgumentError("must be at least 1", field="burst")


class TokenBucket:
    """One account's bucket; thread-safe. ``clock`` returns seconds (monotonic)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit.burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else the seconds to wait before one is back."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._at)
            self._at = now
            self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.rate)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.limit.rate
