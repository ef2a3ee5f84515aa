"""Engagement: which user events mean "viewed" and "clicked", and recording them.

``Notification Viewed`` / ``Notification Clicked`` by default, configurable per
workspace (:func:`configure_engagement`, stored in the registry). An engagement
event names its delivery by ``idempotency_key`` and ``source_id`` in its properties
(:func:`engagement_event`, :func:`record_engagement`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from ..errors import DefinitionError
from ..models.records import Delivery
from ..models.users import UserEvent

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = [
    "DEFAULT_CLICKED",
    "DEFAULT_VIEWED",
    "EngagementEvents",
    "configure_engagement",
    "engagement_event",
    "engagement_events",
    "record_engagement",
]

DEFAULT_VIEWED: Final = "Notification Viewed"
"""The user event a messaging service reports when a notification was seen."""
DEFAULT_CLICKED: Final = "Notification Clicked"
"""The user event a messaging service reports when a notification was clicked."""
_DEFINITION_KIND: Final = "monitoring"
_ENGAGEMENT_KEY: Final = "engagement_events"


@dataclass(frozen=True, slots=True)
class EngagementEvents:
    """The user event names that mean "viewed" and "clicked" in this workspace."""

    viewed: str = DEFAULT_VIEWED
    clicked: str = DEFAULT_CLICKED

    def resolve(self, event: str) -> str:
        """``"viewed"``/``"clicked"`` to the configured name; any other name as it is."""
        return {"viewed": self.viewed, "clicked": self.clicked}.get(event, event)

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"viewed": self.viewed, "clicked": self.clicked}


def configure_engagement(
    ws: Workspace, *, viewed: str = DEFAULT_VIEWED, clicked: str = DEFAULT_CLICKED
) -> EngagementEvents:
    """Name the user events the messaging service reports back; stored in the registry.

    Raises:
        DefinitionError: a name is empty or the two names are the same.
    """
    if not viewed or not clicked:
        raise DefinitionError("engagement event names must not be empty", field="engagement")
    if viewed == clicked:
        raise DefinitionError(
            f"viewed and clicked must be different events, both are {viewed!r}",
            field="engagement",
        )
    names = EngagementEvents(viewed=viewed, clicked=clicked)
    ws.registry.save_definition(_DEFINITION_KIND, _ENGAGEMENT_KEY, names.to_dict())
    return names


def engagement_events(ws: Workspace) -> EngagementEvents:
    """The engagement event names configured for ``ws`` (the defaults when none are)."""
    stored = ws.registry.definitions(_DEFINITION_KIND).get(_ENGAGEMENT_KEY)
    if not stored:
        return EngagementEvents()
    return EngagementEvents(
        viewed=str(stored.get("viewed") or DEFAULT_VIEWED),
        clicked=str(stored.get("clicked") or DEFAULT_CLICKED),
    )


def _delivery_fields(delivery: Delivery | Mapping[str, Any]) -> tuple[str, str, str]:
    if isinstance(delivery, Delivery):
        return delivery.identity, delivery.source_id, delivery.idempotency_key
    try:
        identity = delivery["identity"]
        source_id = delivery["source_id"]
        key = delivery["idempotency_key"]
    except KeyError as exc:
        raise DefinitionError(
            f"a delivery needs identity, source_id and idempotency_key; {exc.args[0]} is missing",
            field=str(exc.args[0]),
        ) from None
    if not all(isinstance(v, str) and v for v in (identity, source_id, key)):
        raise DefinitionError(
            "identity, source_id and idempotency_key must be non-empty strings (a skip has "
            "no idempotency key: only deliveries are engaged with)",
            field="idempotency_key",
        )
    return identity, source_id, key


def engagement_event(delivery: Delivery | Mapping[str, Any], name: str, at: datetime) -> UserEvent:
    """The user event ``name`` recorded against ``delivery`` at ``at`` (not stored).

    ``delivery`` is a :class:`~tidings.models.records.Delivery`, or a mapping
    with ``identity``, ``source_id`` and ``idempotency_key`` (a line of the
    deliveries JSON Lines file, or a ledger outcome of a sent message).

    Raises:
        DefinitionError: the delivery lacks one of those keys.
    """
    identity, source_id, key = _delivery_fields(delivery)
    return UserEvent(
        identity=identity,
        name=name,
        properties={"idempotency_key": key, "source_id": source_id},
        timestamp=at,
    )


def record_engagement(
    ws: Workspace,
    delivery: Delivery | Mapping[str, Any],
    event: str = "viewed",
    *,
    at: datetime | None = None,
) -> UserEvent:
    """Record that a user viewed or clicked a delivery (or did any event because of it).

    Args:
        ws: The workspace.
        delivery: The delivery (see :func:`engagement_event` for accepted shapes).
        event: ``"viewed"``, ``"clicked"`` (the workspace's configured names) or any
            other event name, recorded as it is.
        at: When it happened (default: the workspace clock).

    Returns:
        The stored user event.
    """
    name = engagement_events(ws).resolve(event)
    recorded = engagement_event(delivery, name, at if at is not None else ws.clock())
    ws.store.append_events([recorded])
    return recorded
