"""One batching rule for the whole package: how many items travel together.

Dispatch chunks, profile look-ups and the targeting-cap pass all read their
input :data:`CHUNK_SIZE` items at a time with :func:`batched`, so one chunk is
the only thing in memory and the numbers cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Final, TypeVar

__all__ = ["CHUNK_SIZE", "batched"]

CHUNK_SIZE: Final = 1000
"""Candidates per dispatch chunk (one ledger transaction, one unit of worker work)."""

_T = TypeVar("_T")


def batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """Lists of ``size`` items (the last one shorter) from ``items``, lazily.

    Like :func:`itertools.batched` (Python 3.12) but yielding lists.
    """
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
