"""What a dispatch produces: one ``Delivery`` or one ``Skip`` per candidate, and a summary."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .._json import dumps, dumps_floatless, has_float

__all__ = [
    "Delivery",
    "Record",
    "Sink",
    "Skip",
    "SkipReason",
    "Summary",
    "delivery_dict",
    "delivery_key",
    "delivery_keys",
    "encode_delivery",
]

SkipReason = Literal[
    "unknown_identity",
    "filtered_out",
    "control_group",
    "targeting_cap",
    "no_email",
    "invalid_email",
    "no_push_token",
    "unsubscribed",
    "missing_trigger_key",
    "trigger_too_large",
    "render_error",
    "payload_too_large",
    "invalid_webhook_body",
    "duplicate_recipient",
    "frequency_cap",
    "dnd_discard",
    "past_cutoff",
    "ttl_expired",
]
"""Why a candidate got no message. ``render_error``, ``payload_too_large`` and
``invalid_webhook_body`` are technical errors; the rest are outcomes."""

OUT_OF_AUDIENCE_REASONS: frozenset[str] = frozenset(
    {"filtered_out", "unknown_identity", "duplicate_recipient"}
)
"""Skips of candidates who never qualified (not in the audience): not counted as qualified."""

TECHNICAL_REASONS: frozenset[str] = frozenset(
    {"render_error", "payload_too_large", "invalid_webhook_body", "missing_trigger_key"}
)
"""Skips caused by a technical error (a template, payload or trigger that did not work)."""

NOT_ERROR_REASONS: frozenset[str] = OUT_OF_AUDIENCE_REASONS | {"control_group", "targeting_cap"}
"""Skips that are no error at all: out of the audience, held out, or over the targeting cap."""


def is_error(reason: str) -> bool:
    """Whether a skip reason is an error (technical or not), as opposed to a planned outcome."""
    return reason not in NOT_ERROR_REASONS


def delivery_key(source_id: str, dispatch_key: str, identity: str) -> str:
    """A stable idempotency key for one user's message of one dispatch."""
    return delivery_keys(source_id, dispatch_key)(identity)


def delivery_keys(source_id: str, dispatch_key: str) -> Callable[[str], str]:
    """:func:`delivery_key` of one dispatch, as a function of the identity (for many users).

    The key is the SHA-256 of ``source_id``, ``dispatch_key`` and the identity,
    NUL-separated (hex, first 32 digits); the hash of the shared prefix is made
    once and copied per user, which costs half as much as hashing from scratch.
    """
    prefix = hashlib.sha256(f"{source_id}\x00{dispatch_key}\x00".encode())

    def key(identity: str) -> str:
        digest = prefix.copy()
        digest.update(identity.encode())
        return digest.hexdigest()[:32]

    return key


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message to send: who, on which channel, what, when, and its idempotency key.

    Attributes:
        source: ``"campaign"`` or ``"bulletin"``.
        source_id: The campaign or bulletin id.
        identity: The recipient.
        channel: ``push``, ``email`` or ``webhook``.
        payload: The rendered channel payload, JSON-ready.
        send_at: When to send (timezone-aware).
        idempotency_key: Stable across retries of the same request.
        to: Where to send, as a tuple whatever the channel: ``("ann@example.com",)``
            for email (one address), the user's device tokens for push (one or
            more), ``(url,)`` for a webhook. :attr:`address` gives the one address
            of an email or a webhook as a string.
    """

    source: Literal["campaign", "bulletin"]
    source_id: str
    identity: str
    channel: str
    payload: dict[str, Any]
    send_at: datetime
    idempotency_key: str
    to: tuple[str, ...] = ()

    @property
    def address(self) -> str | None:
        """The email address (or webhook URL) as a string; None for push.

        A push delivery goes to every device token of the user, so it has no
        single address: read :attr:`to` for the tokens.
        """
        if self.channel == "push" or len(self.to) != 1:
            return None
        return self.to[0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``type: "delivery"``)."""
        return delivery_dict(
            self.source,
            self.source_id,
            self.identity,
            self.channel,
            self.payload,
            self.send_at.isoformat(),
            self.idempotency_key,
            self.to,
        )


def delivery_dict(
    source: str,
    source_id: str,
    identity: str,
    channel: str,
    payload: dict[str, Any],
    send_at: str,
    idempotency_key: str,
    to: Sequence[str],
) -> dict[str, Any]:
    """:meth:`Delivery.to_dict` of a delivery given as its fields (``send_at`` as ISO text).

    The one definition of a delivery's dict (and so of its JSON line): the encoded
    path of a dispatch builds it from the parts without making the Delivery.
    """
    return {
        "type": "delivery",
        "source": source,
        "source_id": source_id,
        "identity": identity,
        "channel": channel,
        "payload": payload,
        "send_at": send_at,
        "idempotency_key": idempotency_key,
        "to": list(to),
    }


@dataclass(frozen=True, slots=True)
class Skip:
    """A candidate who got no message, and why.

    Attributes:
        source_id: The campaign or bulletin id.
        identity: The user.
        reason: A :data:`SkipReason` code.
        detail: A human-readable explanation (the error message for errors).
        field: The message field at fault, for render errors.
    """

    source_id: str
    identity: str
    reason: SkipReason
    detail: str = ""
    field: str | None = None

    @property
    def technical(self) -> bool:
        """Whether this skip is a technical error (bad template or data), not an outcome."""
        return self.reason in TECHNICAL_REASONS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``type: "skip"``)."""
        data: dict[str, Any] = {
            "type": "skip",
            "source_id": self.source_id,
            "identity": self.identity,
            "reason": self.reason,
            "detail": self.detail,
        }
        if self.field is not None:
            data["field"] = self.field
        return data


Record = Delivery | Skip
Sink = Callable[[Record], None]


def encode_line(record: Record) -> str:
    """The JSON line (without its newline) :class:`JsonLinesSink` writes for ``record``.

    Compact JSON, UTF-8 text (``json.dumps(..., ensure_ascii=False,
    separators=(",", ":"))``, byte for byte). Only a delivery's payload may hold
    a float (every other field is text), so only the payload is searched for one.
    """
    if isinstance(record, Delivery):
        return encode_delivery(record.to_dict())
    return dumps_floatless(record.to_dict())


def encode_delivery(data: dict[str, Any], *, floatless: bool = False) -> str:
    """The JSON line of a delivery's dict (:func:`delivery_dict`): :func:`encode_line`'s text.

    ``floatless`` says the payload holds no float (push and email payloads hold
    text, None and ints only), so it is not searched for one.
    """
    if not floatless and has_float(data["payload"]):
        return dumps(data)
    return dumps_floatless(data)


@dataclass
class Summary:
    """Counts of outcomes: of one dispatch, or of every dispatch of a source in the ledger.

    The one counting rule of tidings: a dispatch's summary and ``tidings stats``
    (:class:`tidings.stats.SourceStats`) both count through :meth:`add_outcome`.
    ``qualified`` counts candidates in the audience (after filters); every candidate
    ends as exactly one of sent, pending, held out, capped, or another skip.
    ``errors`` counts technical errors (:data:`TECHNICAL_REASONS`).
    ``pending`` counts deliveries decided but not confirmed as handed to the sink
    (a crashed dispatch not yet resumed): found only when counting ledger rows, so
    it is left out of :meth:`to_dict`, the dispatch summary's shape.
    """

    candidates: int = 0
    qualified: int = 0
    sent: int = 0
    held_out: int = 0
    capped: int = 0
    filtered: int = 0
    errors: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    pending: int = 0

    @property
    def non_technical_errors(self) -> int:
        """Skips that are errors but not technical ones (no address, frequency cap, ...)."""
        return sum(
            count
            for reason, count in self.skipped.items()
            if is_error(reason) and reason not in TECHNICAL_REASONS
        )

    def add(self, record: Record) -> None:
        """Count one record."""
        if isinstance(record, Delivery):
            self.add_outcome("sent", None)
        else:
            self.add_outcome("skipped", record.reason)

    def add_outcome(self, state: str, reason: str | None) -> None:
        """Count one outcome given as stored in the ledger (``sent``/``pending``/``skipped``)."""
        self.candidates += 1
        if state == "pending":
            self.qualified += 1
            self.pending += 1
            return
        if state != "skipped" or reason is None:
            self.qualified += 1
            self.sent += 1
            return
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if reason in OUT_OF_AUDIENCE_REASONS:
            if reason == "filtered_out":
                self.filtered += 1
            return
        self.qualified += 1
        if reason == "control_group":
            self.held_out += 1
        elif reason == "targeting_cap":
            self.capped += 1
        elif reason in TECHNICAL_REASONS:
            self.errors += 1

    def merge(self, other: Summary) -> None:
        """Add another summary's counts to this one."""
        self.candidates += other.candidates
        self.qualified += other.qualified
        self.sent += other.sent
        self.held_out += other.held_out
        self.capped += other.capped
        self.filtered += other.filtered
        self.errors += other.errors
        self.pending += other.pending
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def error_counts(self) -> dict[str, Any]:
        """The errors as ``tidings dispatch`` and ``tidings stats`` both print them.

        ``{"technical": n, "non_technical": m, "by_reason": [{"reason", "count",
        "technical"}, ...]}``: every skip that is an error (:func:`is_error`),
        technical ones first, then by count (most first) and reason.
        """
        rows = sorted(
            ((reason, count) for reason, count in self.skipped.items() if is_error(reason)),
            key=lambda row: (row[0] not in TECHNICAL_REASONS, -row[1], row[0]),
        )
        return {
            "technical": self.errors,
            "non_technical": self.non_technical_errors,
            "by_reason": [
                {"reason": reason, "count": count, "technical": reason in TECHNICAL_REASONS}
                for reason, count in rows
            ],
        }

    def report(self) -> dict[str, Any]:
        """The counts as ``tidings dispatch`` prints them.

        :meth:`to_dict` with ``errors`` split as ``tidings stats`` splits them
        (:meth:`error_counts`), so both print the same numbers under the same names.
        """
        return {**self.to_dict(), "errors": self.error_counts()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``errors``: the technical errors only; see :meth:`report`)."""
        return {
            "candidates": self.candidates,
            "qualified": self.qualified,
            "sent": self.sent,
            "held_out": self.held_out,
            "capped": self.capped,
            "filtered": self.filtered,
            "errors": self.errors,
            "skipped": dict(sorted(self.skipped.items())),
        }
