"""Overlapping raises of one capped bulletin on one SQLite file each fill the cap."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CAP = 100


def _seed(path, users):
    ws = tidings.Workspace.sqlite(path, clock=lambda: NOW)
    ws.upsert_profiles({"identity": f"u{i:05d}", "push_tokens": [f"t{i}"]} for i in range(users))
    ws.record_events(
        {
            "identity": f"u{i:05d}",
            "name": "Watched",
            "properties": {"genre": "Drama"},
            "timestamp": (NOW - timedelta(days=1)).isoformat(),
        }
        for i in range(users)
    )
    ws.define_business_event({"name": "Released", "properties": ["genre"]})
    ws.publish_bulletin(
        {
            "id": "capped",
            "name": "capped",
            "business_event": "Released",
            "match": [
                {"business_property": "genre", "event": "Watched", "event_property": "genre"}
            ],
            "message": {"channel": "push", "title": "t", "body": "b"},
            "targeting_cap": CAP,
            "published": True,
        }
    )
    ws.close()


def _raise(path, key, barrier, results):
    ws = tidings.Workspace.sqlite(path, clock=lambda: NOW)
    barrier.wait()
    result = ws.raise_business_event(
        {
            "business_event": "Released",
            "name": key,
            "properties": {"genre": "Drama"},
            "c-by": "me",
            "when": "now",
            "idempotency_key": key,
        }
    )
    results[key] = {d.identity for d in result.deliveries}
    ws.close()


@pytest.mark.parametrize("raises", [2, 4])
def test_overlapping_raises_each_deliver_to_the_cap(tmp_path, raises):
    path = tmp_path / "ws.db"
    _seed(path, 2500)
    barrier = threading.Barrier(raises)
    results: dict[str, set[str]] = {}
    threads = [
        threading.Thread(target=_raise, args=(path, f"r{n}", barrier, results))
        for n in range(raises)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(len(sent) for sent in results.values()) == [CAP] * raises
    assert len(set().union(*results.values())) == CAP  # the same users: the slot holders
    ws = tidings.Workspace.sqlite(path)
    assert ws.ledger.cap_used("capped") == CAP
    ws.close()
