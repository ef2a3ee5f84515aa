"""What happens during the demo: External Trigger calls, the deliveries recorded, engagement.

Seeded like the rest of the demo: the same configuration gives the same calls,
the same recorded deliveries and the same simulated views, clicks and conversions.
"""

# ruff: noqa: S311
# S311 (non-cryptographic random): the point is a seeded, reproducible generator of demo
# data; nothing here is a secret.

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from ..models.definitions import Goal
from ..models.records import Delivery, Record, Skip
from ..models.users import UserEvent
from ..sinks import JsonLinesSink
from ..stats import (
    DEFAULT_CLICKED,
    DEFAULT_VIEWED,
    engagement_event,
    goal_for,
)
from ..workspace import Workspace
from .population import DEMO_NOW, DemoConfig, identity_of

__all__ = ["Recorder", "simulate", "trigger_calls"]

_NO_PAYLOAD: Final[dict[str, Any]] = {}


@dataclass
class Recorder:
    """The demo's sink: deliveries to JSON Lines, and who was sent or held out."""

    file: JsonLinesSink
    sent: list[Delivery] = field(default_factory=list)
    held_out: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, record: Record) -> None:
        if isinstance(record, Skip):
            if record.reason == "control_group":
                self.held_out.append((record.source_id, record.identity))
            return
        self.file(record)
        # Keep the delivery without its payload: the simulation needs the keys only.
        self.sent.append(
            Delivery(
                source=record.source,
                source_id=record.source_id,
                identity=record.identity,
                channel=record.channel,
                payload=_NO_PAYLOAD,
                send_at=record.send_at,
                idempotency_key=record.idempotency_key,
            )
        )


def _order_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    products = list(sample.get("productDetails", []))
    chosen = [dict(p) for p in rng.sample(products, rng.randint(1, len(products)))]
    total = sum(rng.uniform(20, 250) for _ in chosen)
    return {
        **sample,
        "orderId": f"NW-200-{n:06d}",
        "productDetails": chosen,
        "orderTotal": f"${total:,.2f}",
    }


def _fitness_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    steps = rng.randint(15_000, 24_000)
    day = (DEMO_NOW - timedelta(days=1)).date().isoformat()
    return {
        **sample,
        "steps": steps,
        "date": day,
        "milestoneId": f"steps-15k-{day}-{n}",
        "streakDays": rng.randint(1, 60),
    }


def _subscription_trigger(rng: random.Random, sample: Mapping[str, Any], n: int) -> dict[str, Any]:
    return {
        **sample,
        "accountId": f"ACC-{10_000 + n}",
        "subscriptionId": f"sub_demo_{n:06d}_{rng.getrandbits(24):06x}",
        "upgradedAt": DEMO_NOW.isoformat().replace("+00:00", "Z"),
    }


_STORIES: Final[dict[str, Callable[[random.Random, Mapping[str, Any], int], dict[str, Any]]]] = {
    "order": _order_trigger,
    "fitness": _fitness_trigger,
    "subscription": _subscription_trigger,
}


def trigger_calls(spec: Mapping[str, Any], config: DemoConfig) -> Iterator[dict[str, Any]]:
    """External Trigger bodies (per-recipient data, at most 1,000 recipients per call)."""
    for trigger in spec.get("triggers", []):
        campaign_id = str(trigger["campaign_id"])
        story = _STORIES[str(trigger.get("story", "order"))]
        rng = random.Random(f"{config.seed}:triggers:{campaign_id}")
        sample = trigger["sample_data"]
        share, broken = float(trigger.get("share", 0.01)), float(trigger.get("broken_share", 0))
        recipients: list[dict[str, Any]] = []
        for index in range(config.users):
            if rng.random() >= share:
                continue
            data = story(rng, sample, len(recipients))
            if rng.random() < broken:
                # A service bug: the data lacks a key the template needs (a technical error).
                data.pop(str(trigger.get("broken_key", "")), None)
            recipients.append({"identity": identity_of(index), "ExternalTrigger": data})
        for n, first in enumerate(range(0, len(recipients), 1000)):
            yield {
                "campaign_id": campaign_id,
                "idempotency_key": f"demo-{campaign_id}-{n}",
                "to": recipients[first : first + 1000],
            }


# Engagement: P(viewed) by channel, P(clicked | viewed); conversion by what the user did.
_VIEW: Final = {"push": 0.55, "email": 0.4, "webhook": 0.0}
_CLICK: Final = 0.25
_CONVERT_CLICKED: Final = 0.55
_CONVERT_VIEWED: Final = 0.2
_CONVERT_BASE: Final = 0.12


def simulate(
    ws: Workspace, recorder: Recorder, config: DemoConfig
) -> tuple[list[UserEvent], dict[str, int]]:
    """Engagement and goal events for the demo's deliveries and hold-outs (not stored)."""
    rng = random.Random(f"{config.seed}:engagement")
    goals: dict[str, Goal | None] = {}
    events: list[UserEvent] = []
    counts = {"viewed": 0, "clicked": 0, "converted": 0}

    def goal(source_id: str) -> Goal | None:
        if source_id not in goals:
            goals[source_id] = goal_for(ws, source_id)
        return goals[source_id]

    def convert(identity: str, source_id: str, at: datetime, chance: float) -> None:
        target = goal(source_id)
        if target is None or rng.random() >= chance:
            return
        # Some conversions come after the window closes: they must not count.
        delay = timedelta(hours=rng.uniform(0.05, target.window_hours * 1.2))
        events.append(
            UserEvent.model_construct(
                identity=identity,
                name=target.event,
                properties={"source": "demo"},
                timestamp=at + delay,
            )
        )
        counts["converted"] += 1

    for delivery in recorder.sent:
        chance = _CONVERT_BASE
        if rng.random() < _VIEW.get(delivery.channel, 0.0):
            seen = delivery.send_at + timedelta(minutes=rng.uniform(1, 600))
            events.append(engagement_event(delivery, DEFAULT_VIEWED, seen))
            counts["viewed"] += 1
            chance = _CONVERT_VIEWED
            if rng.random() < _CLICK:
                clicked = seen + timedelta(seconds=rng.uniform(2, 120))
                events.append(engagement_event(delivery, DEFAULT_CLICKED, clicked))
                counts["clicked"] += 1
                chance = _CONVERT_CLICKED
        convert(delivery.identity, delivery.source_id, delivery.send_at, chance)
    for source_id, identity in recorder.held_out:
        convert(identity, source_id, config.now, _CONVERT_BASE)
    return events, counts
