"""The vendor's request bodies, parsed and validated in one place into typed requests.

Bodies: the Bulletins API (raise a business event), External Trigger (one data
object for every recipient, or one per recipient), Create Campaign, Message via
Identity. A body that breaks a rule becomes a :class:`Refusal` carrying the
vendor's documented message (the workspace answers ``{"status": "fail", ...}``);
a valid one becomes a typed request the workspace turns into dispatch plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .dispatch import Recipient
from .errors import DataError, DefinitionError, MissingTriggerKeyError
from .models.data import DataLimits, check_data
from .models.definitions import (
    MAX_EVENT_KEY_LENGTH,
    BusinessEventDefinition,
    ExternalTriggerCampaign,
)
from .models.instants import check_instant
from .models.trigger import trigger_size

__all__ = [
    "MAX_PROPERTY_VALUE_BYTES",
    "BusinessEventRequest",
    "Refusal",
    "TriggerRequest",
    "body_problem",
    "campaign_from_api",
    "campaign_id",
    "check_trigger_request",
    "identity_message",
    "parse_business_event",
    "parse_trigger",
    "request_key",
]

MAX_PROPERTY_VALUE_BYTES = 512
"""Business event property values are limited to 512 bytes (vendor rule)."""

MALFORMED = "Malformed body: expected a JSON object"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the vendor's API would refuse, with its documented message."""

    error: str


@dataclass(frozen=True, slots=True)
class BusinessEventRequest:
    """A valid Bulletins API body: which event, its properties, when, what, who."""

    definition: BusinessEventDefinition
    properties: dict[str, str]
    when: datetime
    name: str
    creator: str


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    """A valid External Trigger body: the recipients in order and the shared data."""

    recipients: tuple[Recipient, ...]
    shared: Mapping[str, Any] | None


def _describe(value: object) -> str:
    return "null" if value is None else str(value)


def _incorrect(name: str, value: object) -> Refusal:
    return Refusal(f'"{name}" has an incorrect value - {_describe(value)}')


def request_key(body: object, *, strict: bool) -> str | Refusal | None:
    """The body's ``idempotency_key``: a non-empty string, or None when absent.

    ``strict`` (External Trigger) refuses a key of the wrong type; the Bulletins
    API ignores it.
    """
    key = body.get("idempotency_key") if isinstance(body, Mapping) else None
    if isinstance(key, str) and key:
        return key
    if strict and key is not None:
        return Refusal('"idempotency_key" has an incorrect value - must be a string')
    return None


def _parse_when(value: object, now: datetime) -> datetime | None:
    if value == "now":
        return now
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return check_instant(datetime.fromtimestamp(float(value), UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
            # Too close to the ends of the calendar to compute a send time with.
            return check_instant(
                parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            )
        except ValueError:
            return None
    return None


def parse_business_event(
    body: object, events: Mapping[str, BusinessEventDefinition], now: datetime
) -> BusinessEventRequest | Refusal:
    """Validate a Bulletins API body against the defined business ``events``."""
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    name = body.get("business_event")
    if not isinstance(name, str) or name not in events:
        return Refusal("Business Event Not Found")
    definition = events[name]
    when = _parse_when(body.get("when"), now)
    if when is None:
        return _incorrect("when", body.get("when"))
    instance_name = body.get("name")
    if not isinstance(instance_name, str) or not instance_name:
        return _incorrect("name", instance_name)
    creator = body.get("c-by")
    if not isinstance(creator, str) or not creator:
        return _incorrect("c-by", creator)
    properties = body.get("properties")
    if not isinstance(properties, Mapping):
        return _incorrect("properties", properties)
    for key, value in properties.items():
        if not isinstance(key, str) or len(key) > MAX_EVENT_KEY_LENGTH:
            return Refusal(f"Event key {str(key)[:40]!r} exceeds {MAX_EVENT_KEY_LENGTH} characters")
        if not isinstance(value, str):
            return Refusal(f"Property {key} must be a string")
        if len(value.encode()) > MAX_PROPERTY_VALUE_BYTES:
            return Refusal(f"Property {key} value exceeds {MAX_PROPERTY_VALUE_BYTES} bytes")
    for required in definition.properties:
        if required not in properties:
            return Refusal(f"Property {required} missing")
    return BusinessEventRequest(definition, dict(properties), when, instance_name, creator)


def campaign_id(body: object) -> str | Refusal:
    """The ``campaign_id`` of an External Trigger body (a number is taken as its text)."""
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    value = body.get("campaign_id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return value if isinstance(value, str) else Refusal("Campaign Not Found")


def parse_trigger(body: Mapping[str, Any]) -> TriggerRequest | Refusal:
    """The recipients and data of an External Trigger body, in either form.

    ``{"to": {"identity": [...]}, "ExternalTrigger": {...}}`` (one data object for
    all) or ``{"to": [{"identity": ..., "ExternalTrigger": {...}}, ...]}`` (per
    recipient, falling back to a top-level ``ExternalTrigger``).
    """
    to = body.get("to")
    shared = body.get("ExternalTrigger")
    if shared is not None and not isinstance(shared, Mapping):
        return Refusal('"ExternalTrigger" has an incorrect value - must be an object')
    recipients: list[Recipient] = []
    if isinstance(to, Mapping):
        identities = to.get("identity")
        if isinstance(identities, str):
            identities = [identities]
        if not isinstance(identities, list) or not identities:
            return _incorrect("to.identity", identities)
        for identity in identities:
            if not isinstance(identity, str) or not identity:
                return _incorrect("to.identity", identity)
            recipients.append(Recipient(identity))
    elif isinstance(to, list) and to:
        for i, entry in enumerate(to):
            if not isinstance(entry, Mapping):
                return Refusal(f'"to[{i}]" has an incorrect value - must be an object')
            identity = entry.get("identity")
            if not isinstance(identity, str) or not identity:
                return _incorrect(f"to[{i}].identity", identity)
            data = entry.get("ExternalTrigger")
            if data is not None and not isinstance(data, Mapping):
                return Refusal(
                    f'"to[{i}].ExternalTrigger" has an incorrect value - must be an object'
                )
            recipients.append(Recipient(identity, data))
    else:
        return _incorrect("to", to)
    return TriggerRequest(tuple(recipients), shared)


def check_trigger_request(
    campaign: ExternalTriggerCampaign, request: TriggerRequest, now: datetime
) -> Refusal | None:
    """The request-level rules of a campaign: recipients per call, schedule, shared data.

    Shared data over ``max_trigger_bytes`` (measured by
    :func:`~tidings.models.trigger.trigger_size`, as per-recipient data is) is
    refused, and so is shared data lacking a key the templates need when no
    recipient brings their own data.
    """
    count = len(request.recipients)
    if count > campaign.max_recipients_per_call:
        return Refusal(
            f"Too many recipients: {count} (at most {campaign.max_recipients_per_call} per call)"
        )
    refusal = campaign.schedule.refusal(now)
    if refusal is not None:
        return Refusal(refusal)
    shared = request.shared
    if shared is None:
        return None
    size = trigger_size(shared)
    if size > campaign.max_trigger_bytes:
        return Refusal(
            f"ExternalTrigger data is {size} bytes, over the limit of "
            f"{campaign.max_trigger_bytes} bytes"
        )
    if all(r.trigger is None for r in request.recipients):
        try:
            campaign.message.check_trigger(shared)
        except MissingTriggerKeyError as exc:
            return Refusal(exc.message)
    return None


def campaign_from_api(body: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the Create Campaign API shape (``channel`` + ``content``) as well as ours.

    Raises:
        DefinitionError: ``content`` or ``audience`` is not an object.
    """
    data = dict(body)
    if "content" in data and "message" not in data:
        content = data.pop("content")
        if not isinstance(content, Mapping):
            raise DefinitionError('"content" must be an object', field="content")
        channel = data.pop("channel", content.get("channel"))
        data["message"] = {**content, "channel": channel}
    audience = data.pop("audience", None)
    if isinstance(audience, Mapping):
        data.setdefault("filters", audience.get("filters", ()))
    elif audience is not None:
        raise DefinitionError('"audience" must be an object', field="audience")
    return data


def identity_message(body: object, fresh_key: Callable[[], str]) -> dict[str, Any] | Refusal:
    """The campaign definition of a Message via Identity body (validated by the caller).

    Its id is ``identity:`` plus the request's idempotency key, or ``fresh_key()``.
    """
    if not isinstance(body, Mapping):
        return Refusal(MALFORMED)
    content = body.get("content")
    if not isinstance(content, Mapping):
        return _incorrect("content", content)
    definition = {
        key: body[key]
        for key in ("filters", "control_group", "targeting_cap", "schedule")
        if key in body
    }
    definition["name"] = str(body.get("name") or "Message via Identity")
    definition["message"] = dict(content)
    key = body.get("idempotency_key")
    definition["id"] = f"identity:{key or fresh_key()}"[:MAX_EVENT_KEY_LENGTH]
    return definition


_BODY_LIMITS = DataLimits(max_items=5_000_000)
"""Request bodies: the default bounds, but room for a million recipients per call."""


def body_problem(body: object) -> DataError | None:
    """Why a body is not plain, bounded JSON-like data (None when it is, or not a mapping).

    Runs before anything reads the body, so a cycle, a lone surrogate or a
    5,000-digit integer never reaches ``json.dumps`` or the encoder. A body that
    is not a mapping is left to each entry point ("Malformed body").
    """
    if not isinstance(body, Mapping):
        return None
    try:
        check_data(body, "", _BODY_LIMITS)
    except DataError as exc:
        return exc
    return None
