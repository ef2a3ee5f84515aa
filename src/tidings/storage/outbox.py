"""The outbox: deliveries waiting to leave, and what became of each one.

A delivery's status goes ``pending -> sent -> delivered | failed``:

- ``pending``: queued, due at ``due`` (now, or later after a ``retry`` answer);
- ``sent``: taken by a sender and handed to the provider, not yet answered; the
  take holds a lease, and a ``sent`` row whose lease ran out (its sender died) is
  due again;
- ``delivered``: the provider acknowledged it; final, never taken again;
- ``failed``: refused for good, or out of attempts; final, with the last error.

Rows are keyed by the delivery's idempotency key, so queueing the same delivery
again (a resumed dispatch, a file queued twice) changes nothing. The ledgers
(:class:`~tidings.storage.memory_ledger.MemoryLedger`,
:class:`~tidings.storage.sqlite_ledger.SQLiteLedger`,
:class:`~tidings.storage.postgres_ledger.PostgresLedger`) expose the
:class:`Outbox` operations through the :class:`~tidings.storage.ledger.Ledger`
protocol and forward them (:class:`OutboxForwarding`) to their own outbox:
:class:`MemoryOutbox` here, :class:`~tidings.storage.sqlite_outbox.SQLiteOutbox`,
:class:`~tidings.storage.postgres_outbox.PostgresOutbox`.
"""

from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from ..models.records import Delivery

__all__ = [
    "DELIVERY_STATES",
    "DeliveryState",
    "DeliveryUpdate",
    "MemoryOutbox",
    "Outbox",
    "OutboxForwarding",
    "QueuedDelivery",
    "delivery_from_dict",
    "outbox_rows",
]

DeliveryState = Literal["pending", "sent", "delivered", "failed"]
"""Where a queued delivery stands (see the module docstring)."""

DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "sent", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery taken from the outbox, with the attempts made before this take."""

    delivery: Delivery
    attempts: int


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """A sender's answer for one taken delivery, as the ledger stores it.

    Attributes:
        key: The delivery's idempotency key.
        state: ``delivered``, ``failed``, or ``pending`` (try again at ``due``).
        attempts: Requests made in this take (the take itself counted one).
        error: The provider's answer or the network error (None when delivered).
        code: The HTTP status or SMTP code, if any.
        due: For ``pending``: when it may be taken again.
    """

    key: str
    state: Literal["delivered", "failed", "pending"]
    attempts: int = 1
    error: str | None = None
    code: int | None = None
    due: datetime | None = None


def outbox_rows(
    deliveries: Sequence[Delivery], at: datetime
) -> list[tuple[str, str, str, str, str, float]]:
    """The outbox's insert parameters for ``deliveries`` queued at ``at``.

    ``(key, source_id, identity, channel, delivery JSON, due)``, in the column order
    of every outbox's ``INSERT`` (SQLite and PostgreSQL share it).
    """
    return [
        (
            d.idempotency_key,
            d.source_id,
            d.identity,
            d.channel,
            json.dumps(d.to_dict(), ensure_ascii=False, separators=(",", ":")),
            at.timestamp(),
        )
        for d in deliveries
    ]


def delivery_from_dict(data: dict[str, Any]) -> Delivery:
    """The :class:`Delivery` of :meth:`Delivery.to_dict` (a queued row, a JSON line).

    Raises:
        ValueError: A field is missing or of the wrong type (the message names it).
    """

    def text(name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
        return value

    source = text("source")
    if source not in ("campaign", "bulletin"):
        raise ValueError("source must be 'campaign' or 'bulletin'")
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    to = data.get("to", [])
    if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
        raise ValueError("to must be a list of strings")
    send_at = datetime.fromisoformat(text("send_at"))
    if send_at.tzinfo is None:
        raise ValueError("send_at must have a time zone")
    return Delivery(
        source="campaign" if source == "campaign" else "bulletin",
        source_id=text("source_id"),
        identity=text("identity"),
        channel=text("channel"),
        payload=payload,
        send_at=send_at,
        idempotency_key=text("idempotency_key"),
        to=tuple(to),
    )


class Outbox(Protocol):
    """The senders' outbox: deliveries queued, taken for sending, and settled."""

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """Put deliveries in the outbox as ``pending``, due at ``at``; return how many are new.

        Keyed by idempotency key: a delivery already queued (in any state) is left as is.
        """
        ...

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """Atomically take up to ``limit`` due deliveries for sending (they become ``sent``).

        Due: ``pending`` with ``due <= now``, or ``sent`` whose lease ran out (a sender
        died). A taken row counts one attempt and is leased for ``lease`` seconds.
        ``channels`` limits the take to the sender's channels. Oldest due first.
        """
        ...

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """Store senders' answers for taken (``sent``) deliveries, in one transaction.

        A row that is no longer ``sent`` (already settled) is left alone, so an
        acknowledged delivery is never reopened.
        """
        ...

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """Outbox rows per state (every state present, zeros included), of a source or all."""
        ...

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """Every outbox row of a source: key, identity, channel, state, attempts, last error."""
        ...


class OutboxForwarding:
    """The :class:`Outbox` half of a ledger: every call goes to the ledger's ``_outbox``."""

    _outbox: Outbox

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`Outbox.queue`."""
        return self._outbox.queue(deliveries, at=at)

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`Outbox.take_due`."""
        return self._outbox.take_due(limit, now=now, lease=lease, channels=channels)

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`Outbox.settle`."""
        self._outbox.settle(updates, now=now)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`Outbox.delivery_counts`."""
        return self._outbox.delivery_counts(source_id)

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Outbox.delivery_states`."""
        return self._outbox.delivery_states(source_id)


def _row(
    delivery: Delivery, state: str, attempts: int, error: str | None, code: int | None
) -> dict[str, Any]:
    return {
        "key": delivery.idempotency_key,
        "source_id": delivery.source_id,
        "identity": delivery.identity,
        "channel": delivery.channel,
        "state": state,
        "attempts": attempts,
        "last_error": error,
        "code": code,
    }


class MemoryOutbox:
    """The outbox of :class:`~tidings.storage.memory_ledger.MemoryLedger`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, Any]] = {}
        self._open: dict[str, None] = {}  # keys not yet delivered or failed, in queue order

    def queue(self, deliveries: Sequence[Delivery], *, at: datetime) -> int:
        """See :meth:`Outbox.queue`."""
        added = 0
        with self._lock:
            for delivery in deliveries:
                if delivery.idempotency_key in self._rows:
                    continue
                self._rows[delivery.idempotency_key] = {
                    "delivery": delivery,
                    "state": "pending",
                    "attempts": 0,
                    "error": None,
                    "code": None,
                    "due": at.timestamp(),
                }
                self._open[delivery.idempotency_key] = None
                added += 1
        return added

    def take_due(
        self,
        limit: int,
        *,
        now: datetime,
        lease: float,
        channels: Collection[str] | None = None,
    ) -> list[QueuedDelivery]:
        """See :meth:`Outbox.take_due`."""
        moment = now.timestamp()
        taken: list[QueuedDelivery] = []
        with self._lock:
            due = heapq.nsmallest(
                limit,
                (
                    (row["due"], position, key)
                    for position, (key, row) in enumerate(
                        (key, self._rows[key]) for key in self._open
                    )
                    if row["due"] <= moment
                    and (channels is None or row["delivery"].channel in channels)
                ),
            )
            for _, _, key in due:
                row = self._rows[key]
                taken.append(QueuedDelivery(row["delivery"], row["attempts"]))
                row["state"] = "sent"
                row["attempts"] += 1
                row["due"] = moment + lease
        return taken

    def settle(self, updates: Sequence[DeliveryUpdate], *, now: datetime) -> None:
        """See :meth:`Outbox.settle`."""
        with self._lock:
            for update in updates:
                row = self._rows.get(update.key)
                if row is None or row["state"] != "sent":
                    continue
                row["state"] = update.state
                row["attempts"] += max(0, update.attempts - 1)
                row["error"] = update.error
                row["code"] = update.code
                row["due"] = (update.due or now).timestamp()
                if update.state in ("delivered", "failed"):
                    self._open.pop(update.key, None)

    def delivery_counts(self, source_id: str | None = None) -> dict[str, int]:
        """See :meth:`Outbox.delivery_counts`."""
        counts: dict[str, int] = dict.fromkeys(DELIVERY_STATES, 0)
        with self._lock:
            for row in self._rows.values():
                if source_id is None or row["delivery"].source_id == source_id:
                    counts[row["state"]] += 1
        return counts

    def delivery_states(self, source_id: str) -> list[dict[str, Any]]:
        """See :meth:`Outbox.delivery_states`."""
        with self._lock:
            return [
                _row(row["delivery"], row["state"], row["attempts"], row["error"], row["code"])
                for row in self._rows.values()
                if row["delivery"].source_id == source_id
            ]
