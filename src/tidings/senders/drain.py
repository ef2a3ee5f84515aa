"""Draining the outbox: take due deliveries, send them, store each answer.

The ledger is the source of truth (see :mod:`tidings.storage.outbox`): a batch
is taken (``sent``, leased) in one transaction, sent, and settled in another. A
crash between the two leaves the batch ``sent``; once its lease runs out the next
run takes it again. So a delivery is acknowledged at most once in the ledger and
is never taken again after that; the at most one batch in flight at a crash may
reach the provider twice, with the same idempotency key (``webhook-id``,
``Idempotency-Key``, the email's ``Message-ID``) for the receiver to drop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import ArgumentError
from ..models.records import Delivery, Record, Sink, Skip
from ..storage.ledger import Ledger
from ..storage.outbox import DeliveryUpdate, QueuedDelivery
from ._base import Sender, SendResult

__all__ = ["DrainReport", "OutboxSink", "drain", "retry_delay"]

logger = logging.getLogger(__name__)

MAX_BATCH = 10_000
"""The largest batch a drain takes at once (memory stays bounded)."""


@dataclass
class DrainReport:
    """What one drain did.

    Attributes:
        taken: Deliveries taken from the outbox.
        delivered: Acknowledged by the provider.
        failed: Refused for good, or out of attempts.
        retry: Left ``pending`` for a later run (the provider asked to wait).
    """

    taken: int = 0
    delivered: int = 0
    failed: int = 0
    retry: int = 0

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return {
            "taken": self.taken,
            "delivered": self.delivered,
            "failed": self.failed,
            "retry": self.retry,
        }


def retry_delay(attempts: int) -> float:
    """Seconds before a delivery that ran out of in-process retries is due again.

    Doubles from 30 seconds per attempt made, capped at one hour.
    """
    return float(min(3600, 30 * 2 ** max(0, min(attempts - 1, 12))))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _update(
    queued: QueuedDelivery, result: SendResult, now: datetime, max_attempts: int
) -> DeliveryUpdate:
    key = queued.delivery.idempotency_key
    if result.status == "delivered":
        return DeliveryUpdate(key, "delivered", result.attempts, None, result.code)
    if result.status == "failed":
        return DeliveryUpdate(key, "failed", result.attempts, result.answer, result.code)
    total = queued.attempts + max(1, result.attempts)
    if total >= max_attempts:
        answer = f"gave up after {total} attempts: {result.answer}"
        return DeliveryUpdate(key, "failed", result.attempts, answer, result.code)
    wait = result.retry_after if result.retry_after is not None else retry_delay(total)
    due = now + timedelta(seconds=max(1.0, wait))
    return DeliveryUpdate(key, "pending", result.attempts, result.answer, result.code, due)


def drain(
    ledger: Ledger,
    sender: Sender,
    *,
    batch: int = 100,
    max_attempts: int = 8,
    lease: float = 300.0,
    limit: int | None = None,
    clock: Callable[[], datetime] = _utc_now,
    progress: Callable[[DrainReport], None] | None = None,
) -> DrainReport:
    """Send every due delivery of the sender's channels, until none is due.

    Args:
        ledger: Holds the outbox.
        sender: Sends a batch (its ``channels`` select what is taken).
        batch: Deliveries taken per transaction (1 to :data:`MAX_BATCH`).
        max_attempts: Requests per delivery over all runs before it is ``failed``.
        lease: Seconds a taken batch stays reserved; must exceed the longest a
            batch can take to send (retries and their waits included), or a
            second sender on the same ledger may take it again.
        limit: Stop after taking this many deliveries (None: drain all).
        clock: The current time (tests pass a fixed clock).
        progress: Called with the running report after each batch.

    Returns:
        The counts of this drain.

    Raises:
        ArgumentError: ``batch``, ``max_attempts`` or ``lease`` is out of range.
    """
    if not 1 <= batch <= MAX_BATCH:
        raise ArgumentError(f"must be between 1 and {MAX_BATCH}", field="batch")
    if not 1 <= max_attempts <= 100:
        raise ArgumentError("must be between 1 and 100", field="max_attempts")
    if not lease > 0:
        raise ArgumentError("must be a positive number of seconds", field="lease")
    report = DrainReport()
    while limit is None or report.taken < limit:
        size = batch if limit is None else min(batch, limit - report.taken)
        taken = ledger.take_due(size, now=clock(), lease=lease, channels=sender.channels)
        if not taken:
            break
        report.taken += len(taken)
        results = {r.key: r for r in sender.send([q.delivery for q in taken])}
        now = clock()
        updates = []
        for queued in taken:
            key = queued.delivery.idempotency_key
            result = results.get(key) or SendResult(key, "retry", "the sender gave no result")
            update = _update(queued, result, now, max_attempts)
            updates.append(update)
            if update.state == "delivered":
                report.delivered += 1
            elif update.state == "failed":
                report.failed += 1
                logger.warning("delivery %s failed: %s", key, update.error)
            else:
                report.retry += 1
        ledger.settle(updates, now=now)
        if progress is not None:
            progress(report)
    return report


class OutboxSink:
    """A sink that queues a dispatch's deliveries in the ledger's outbox.

    Deliveries are buffered and queued on :meth:`flush`, which the dispatch calls
    before it marks a chunk emitted: a delivery is in the outbox before its
    outcome counts as handed over, so a crash loses none. Records are also passed
    on to ``then`` (another sink), if given.

    Args:
        ledger: Holds the outbox.
        then: The sink records go to next, or None.
        clock: When queued deliveries are due (now: the dispatch already timed them).
        channels: Queue only deliveries of these channels (a sender's); None: all.
    """

    def __init__(
        self,
        ledger: Ledger,
        then: Sink | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        channels: Collection[str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.then = then
        self.clock = clock
        self.channels = channels
        self.queued = 0
        self._buffer: list[Delivery] = []

    def __call__(self, record: Record) -> None:
        """Buffer a delivery; pass every record on."""
        self._take(record)
        if self.then is not None:
            self.then(record)

    def write_encoded(self, record: Record, line: str) -> None:
        """Like :meth:`__call__`, passing an already encoded line on when ``then`` takes it."""
        self._take(record)
        forward = getattr(self.then, "write_encoded", None)
        if callable(forward):
            forward(record, line)
        elif self.then is not None:
            self.then(record)

    @classmethod
    def around(
        cls,
        ledger: Ledger,
        sender: Sender,
        sink: Sink | None,
        keep: tuple[list[Delivery], list[Skip]] | None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> OutboxSink:
        """An outbox sink for ``sender``'s channels in front of ``sink``, or of ``keep``'s lists."""
        if sink is None and keep is not None:
            kept = keep

            def put(record: Record) -> None:
                if isinstance(record, Delivery):
                    kept[0].append(record)
                else:
                    kept[1].append(record)

            sink = put
        return cls(ledger, sink, clock=clock, channels=sender.channels)

    def _take(self, record: Record) -> None:
        if isinstance(record, Delivery) and (
            self.channels is None or record.channel in self.channels
        ):
            self._buffer.append(record)
            if len(self._buffer) >= MAX_BATCH:
                self.flush()

    def resume(self, pending_keys: set[str]) -> None:
        """Pass a resumed dispatch's pending keys on (queueing is idempotent itself)."""
        forward = getattr(self.then, "resume", None)
        if callable(forward):
            forward(pending_keys)

    def flush(self) -> None:
        """Queue the buffered deliveries (one transaction), then flush ``then``."""
        if self._buffer:
            self.queued += self.ledger.queue(self._buffer, at=self.clock())
            self._buffer = []
        forward = getattr(self.then, "flush", None)
        if callable(forward):
            forward()
