"""Run one capped, DND-aware bulletin dispatch against a workspace (for crash tests).

usage: python _crash_worker.py setup DB [USERS] | run DB OUT
(DB: an SQLite file, or a PostgreSQL DSN whose schema is migrated)

1,500 users (half of them past the targeting cap of 750 or held out) write about
1,000 lines: enough kill points for the crash tests, in a few seconds per run.
"""

import sys
from datetime import UTC, datetime, timedelta

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ZONES = ["Asia/Kolkata", "America/New_York", "Europe/Berlin", "Pacific/Kiritimati", "Etc/GMT+12"]


def _open(path: str) -> tidings.Workspace:
    if path.startswith("postgresql://"):
        return tidings.Workspace.postgres(path, clock=lambda: NOW)
    return tidings.Workspace.sqlite(path, clock=lambda: NOW)


def setup(path: str, users: int = 1500) -> None:
    ws = _open(path)
    ws.upsert_profiles(
        {
            "identity": f"u{i:05d}",
            "name": f"User {i}",
            "push_tokens": [f"t{i}"],
            "timezone": ZONES[i % len(ZONES)],
        }
        for i in range(users)
    )
    ws.record_events(
        {
            "identity": f"u{i:05d}",
            "name": "Movie Watched",
            "properties": {"genre": "Drama" if i % 3 else "Comedy"},
            "timestamp": (NOW - timedelta(days=1)).isoformat(),
        }
        for i in range(users)
    )
    ws.configure({"frequency_caps": [{"limit": 5, "period": "day"}]})
    ws.define_business_event({"name": "Program Released", "properties": ["genre"]})
    ws.publish_bulletin(
        {
            "id": "b1",
            "name": "New drama",
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {
                "channel": "push",
                "title": "{{ BusinessEvent.genre }}",
                "body": "Hi {{ Profile.name }}",
            },
            "control_group": {"kind": "campaign", "percent": 10},
            "targeting_cap": 750,
            "delivery": {"dnd": {"start": "21:00", "end": "09:00", "action": "delay"}},
            "published": True,
        }
    )
    ws.close()


def run(path: str, out: str) -> None:
    ws = _open(path)
    body = {
        "business_event": "Program Released",
        "name": "ep 1",
        "properties": {"genre": "Drama"},
        "c-by": "me",
        "when": "now",
        "idempotency_key": "release-1",
    }
    with tidings.JsonLinesSink(out) as sink:
        result = ws.raise_business_event(body, sink=sink)
    ws.close()
    print(result.summary.to_dict())


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], *(int(n) for n in sys.argv[3:4]))
    else:
        run(sys.argv[2], sys.argv[3])
