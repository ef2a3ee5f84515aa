"""What a dispatch call returns: its records (when kept), summaries and the vendor response."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from ..errors import TidingsError
from .records import Delivery, Skip, Summary

__all__ = ["Dispatch", "RecordList"]


_R = TypeVar("_R", Delivery, Skip)


class RecordList(Sequence[_R]):
    """A read-only view of the records a dispatch kept: ``len``, indexing, slicing.

    Iterate it as often as needed; it follows the dispatch's kept list without
    copying it. Equal to another sequence holding the same records in order.
    """

    __slots__ = ("_items",)

    def __init__(self, items: list[_R]) -> None:
        self._items: list[_R] = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> _R: ...

    @overload
    def __getitem__(self, index: slice) -> list[_R]: ...

    def __getitem__(self, index: int | slice) -> _R | list[_R]:
        return self._items[index]

    def __iter__(self) -> Iterator[_R]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecordList):
            return self._items == other._items
        if isinstance(other, list | tuple):
            return self._items == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable contents: not hashable

    def __repr__(self) -> str:
        return f"RecordList({self._items!r})"


@dataclass
class Dispatch:
    """The result of one trigger or business event.

    Attributes:
        response: The vendor-shaped JSON answer (``{"status": "success", ...}`` or
            ``{"status": "fail", "error": ..., "code": 400}``).
        summary: The counts.
        kept_deliveries: Deliveries kept in memory (when no sink was given).
        kept_skips: Skips kept in memory (when no sink was given).
        summaries: The counts per campaign or bulletin id.
        error: For a refused request (``status: fail``), the typed error behind
            the response's message, when there is one.
        not_dispatched: For a raised business event, its bulletins that were not
            dispatched and why: ``{"b7": "paused"}`` (``unpublished``, ``paused``
            or ``stopped``).
    """

    response: dict[str, Any]
    summary: Summary = field(default_factory=Summary)
    kept_deliveries: list[Delivery] = field(default_factory=list)
    kept_skips: list[Skip] = field(default_factory=list)
    summaries: dict[str, Summary] = field(default_factory=dict)
    error: TidingsError | None = None
    not_dispatched: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the request was accepted (``status == "success"``)."""
        return self.response.get("status") == "success"

    @property
    def deliveries(self) -> RecordList[Delivery]:
        """The deliveries kept in memory, in order (empty when they went to a sink).

        A sequence: ``len(result.deliveries)``, ``result.deliveries[0]``, and any
        number of iterations.
        """
        return RecordList(self.kept_deliveries)

    @property
    def skips(self) -> RecordList[Skip]:
        """The skips kept in memory, in order (empty when they went to a sink).

        A sequence, like :attr:`deliveries`.
        """
        return RecordList(self.kept_skips)

    @classmethod
    def fail(cls, error: str | TidingsError, code: int = 400) -> Dispatch:
        """A request-level failure in the vendor's shape (keeps a typed error on ``error``)."""
        typed = error if isinstance(error, TidingsError) else None
        return cls(response={"status": "fail", "error": str(error), "code": code}, error=typed)
