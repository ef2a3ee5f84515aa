"""Render: an eligible user's message, as a Delivery (or a Skip when rendering fails).

A failure for one user (bad data, a template error, a payload over its channel's
limit) becomes that user's ``Skip`` with the reason and the field; it never
stops the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..channels._batch import BatchRender
from ..errors import (
    InvalidWebhookBodyError,
    MissingTriggerKeyError,
    PayloadTooLargeError,
    TemplateError,
    TidingsError,
)
from ..models.records import Delivery, Skip, SkipReason, delivery_keys, encode_line
from .eligibility import Eligible, Entry, Timings, check
from .plan import DispatchPlan

__all__ = ["Ready", "decide", "recipients", "render", "render_payload"]


class Ready(NamedTuple):
    """A rendered delivery waiting for its cap claims.

    ``day`` and ``week`` are the user's local day and ISO week of the send (empty
    when no cap needs them); ``line`` is the delivery's JSON line when the sink
    takes encoded lines (encoding in a worker spares the dispatching process).
    """

    delivery: Delivery
    day: str
    week: str
    line: str | None


def _reason_for(exc: BaseException) -> SkipReason:
    if isinstance(exc, MissingTriggerKeyError):
        return "missing_trigger_key"
    if isinstance(exc, PayloadTooLargeError):
        return "payload_too_large"
    if isinstance(exc, InvalidWebhookBodyError):
        return "invalid_webhook_body"
    return "render_error"


def render_payload(
    plan: DispatchPlan, user: Eligible, batch: BatchRender | None = None
) -> Skip | dict[str, Any]:
    """``user``'s payload as a dict (the plan's TTL carried to a push), or the Skip of a failure.

    ``batch`` is the plan's message ready for many users (:func:`decide` makes one
    per chunk); without it the message renders on its own.
    """
    try:
        if batch is None:
            batch = BatchRender(plan.message, plan.namespaces)
        payload = batch(user.person.profile, user.trigger)
    except TidingsError as exc:
        field_name = getattr(exc, "field", None)
        detail = exc.detailed_message() if isinstance(exc, TemplateError) else str(exc)
        return Skip(plan.source_id, user.person.identity, _reason_for(exc), detail, field_name)
    except Exception as exc:  # noqa: BLE001 - one bad user never stops the batch
        return Skip(
            plan.source_id, user.person.identity, "render_error", f"{type(exc).__name__}: {exc}"
        )
    ttl = plan.ttl_seconds
    if ttl is not None and plan.message.channel == "push" and payload.get("ttl_seconds") is None:
        payload["ttl_seconds"] = ttl
    return payload


def recipients(channel: str, address: tuple[str, ...], payload: dict[str, Any]) -> tuple[str, ...]:
    """A delivery's ``to``: the user's address, or the URL of a webhook's payload."""
    return address if channel != "webhook" else (str(payload.get("url", "")),)


def render(
    plan: DispatchPlan,
    user: Eligible,
    *,
    encode: bool,
    batch: BatchRender | None = None,
    key: Callable[[str], str] | None = None,
) -> Skip | Ready:
    """Render ``user``'s message; ``encode`` also encodes the delivery's JSON line.

    ``batch`` is the plan's message ready for many users (:func:`decide` makes one
    per chunk); without it the message renders on its own. ``key`` is the plan's
    :func:`~tidings.models.records.delivery_keys` (made here when not given).
    """
    payload = render_payload(plan, user, batch)
    if isinstance(payload, Skip):
        return payload
    identity, source_id, channel = user.person.identity, plan.source_id, plan.message.channel
    send = user.send
    delivery = Delivery(
        source=plan.source,
        source_id=source_id,
        identity=identity,
        channel=channel,
        payload=payload,
        send_at=send.at,
        idempotency_key=(key or delivery_keys(source_id, plan.dispatch_key))(identity),
        to=recipients(channel, user.address, payload),
    )
    day, week = (send.day, send.week) if plan.claims else ("", "")
    return Ready(delivery, day, week, encode_line(delivery) if encode else None)


def decide(plan: DispatchPlan, entries: list[Entry], *, encode: bool) -> list[Skip | Ready]:
    """Check and render each entry: the per-user work, with no store and no ledger."""
    timings: Timings = {}
    batch = BatchRender(plan.message, plan.namespaces)
    key = delivery_keys(plan.source_id, plan.dispatch_key)
    verdicts: list[Skip | Ready] = []
    for entry in entries:
        verdict = check(plan, entry, timings)
        verdicts.append(
            render(plan, verdict, encode=encode, batch=batch, key=key)
            if isinstance(verdict, Eligible)
            else verdict
        )
    return verdicts
