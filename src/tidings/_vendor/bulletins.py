"""The Bulletins API body: raise a business event, validated against its definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ..models.definitions import MAX_EVENT_KEY_LENGTH, BusinessEventDefinition
from ._common import MALFORMED, Refusal, incorrect, parse_when

__all__ = ["MAX_PROPERTY_VALUE_BYTES", "BusinessEventRequest", "parse_business_event"]

MAX_PROPERTY_VALUE_BYTES = 512
"""Business event property values are limited to 512 bytes (vendor rule)."""


@dataclass(frozen=True, slots=True)
class BusinessEventRequest:
    """A valid Bulletins API body: which event, its properties, when, what, who."""

    definition: BusinessEventDefinition
    properties: dict[str, str]
    when: datetime
    name: str
    creator: str


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
    when = parse_when(body.get("when"), now)
    if when is None:
        return incorrect("when", body.get("when"))
    instance_name = body.get("name")
    if not isinstance(instance_name, str) or not instance_name:
        return incorrect("name", instance_name)
    creator = body.get("c-by")
    if not isinstance(creator, str) or not creator:
        return incorrect("c-by", creator)
    properties = body.get("properties")
    if not isinstance(properties, Mapping):
        return incorrect("properties", properties)
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
