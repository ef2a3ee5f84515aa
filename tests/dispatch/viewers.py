"""The world the dispatch tests share: viewers who watched a movie, the drama bulletin, its raise.

``viewers(n)`` gives n profiles, each with one "Movie Watched" event (three in four
Drama), addresses and time zones varied by index; ``varied=True`` adds the awkward
cases (push tokens with quotes, an empty token list, a zone past UTC+14, a non-ASCII
property name). ``populate`` writes them to a workspace with the bulletin published.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

PROGRAM_RELEASED = {"name": "Program Released", "properties": ["program_id", "genre"]}

RAISE = {
    "business_event": "Program Released",
    "name": "Episode 12",
    "properties": {"program_id": "42", "genre": "Drama"},
    "c-by": "ops@example.com",
    "when": "now",
    "idempotency_key": "release-42",
}


def viewers(n: int, *, varied: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Profiles and events of ``n`` viewers (``user-0000``, ...), deterministic."""
    zones = ["Asia/Kolkata", "America/New_York", None]
    if varied:
        zones.append("Pacific/Kiritimati")
    profiles, events = [], []
    for i in range(n):
        identity = f"user-{i:04d}"
        if varied:
            tokens = [f"tok-{i}"] if i % 5 else ([] if i % 2 else ["a", 'q"b'])
        else:
            tokens = [f"tok-{i}"] if i % 5 else []
        properties: dict[str, Any] = {"language": ["Hindi", "English", "Tamil"][i % 3], "n": i}
        if varied:
            properties["é"] = "ü"
        profiles.append(
            {
                "identity": identity,
                "name": f"Viewer {i}" if i % 9 else None,
                "email": f"viewer{i}@example.com" if i % 7 else None,
                "push_tokens": tokens,
                "timezone": zones[i % len(zones)],
                "properties": properties,
            }
        )
        events.append(
            {
                "identity": identity,
                "name": "Movie Watched",
                "properties": {"genre": "Drama" if i % 4 else "Comedy"},
                "timestamp": (NOW - timedelta(days=1 + i % 20)).isoformat(),
            }
        )
    return profiles, events


def drama_bulletin(**changes: Any) -> dict[str, Any]:
    """The drama bulletin (a push, 10% control group, DND, TTL), with ``changes`` applied."""
    bulletin: dict[str, Any] = {
        "id": "drama",
        "name": "New drama",
        "business_event": "Program Released",
        "segment": {"kind": "all"},
        "match": [
            {
                "business_property": "genre",
                "event": "Movie Watched",
                "event_property": "genre",
                "within_days": 30,
            }
        ],
        "message": {
            "channel": "push",
            "title": "New {{ BusinessEvent.genre }}",
            "body": "Hi {{ Profile.name | default: 'there' }} ({{ Profile.language }})",
        },
        "control_group": {"kind": "campaign", "percent": 10},
        "targeting_cap": 150,
        "delivery": {"dnd": {"start": "21:00", "end": "09:00", "action": "delay"}},
        "ttl_seconds": 36000,
        "published": True,
    }
    bulletin.update(changes)
    return bulletin


def populate(
    ws: tidings.Workspace, n: int, bulletin: dict[str, Any], *, varied: bool = False
) -> tidings.Workspace:
    """Write ``n`` viewers and their events to ``ws``, define the event, publish ``bulletin``."""
    profiles, events = viewers(n, varied=varied)
    ws.upsert_profiles(profiles)
    ws.record_events(events)
    ws.define_business_event(PROGRAM_RELEASED)
    ws.publish_bulletin(bulletin)
    return ws
