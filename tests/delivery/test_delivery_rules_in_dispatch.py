"""Delivery rules applied by the workspace: frequency caps, DND, cut-off, TTL, schedule edges."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tidings

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _workspace(clock, caps=(), zones=("UTC",)):
    ws = tidings.Workspace(clock=clock)
    ws.upsert_profiles(
        {
            "identity": f"u{i}",
            "push_tokens": [f"t{i}"],
            "email": f"u{i}@x.example",
            "timezone": zones[i % len(zones)],
        }
        for i in range(6)
    )
    if caps:
        ws.configure({"frequency_caps": list(caps)})
    return ws


def _campaign(ws, channel="push", **extra):
    message = (
        {"channel": "push", "title": "t", "body": "b"}
        if channel == "push"
        else {"channel": "email", "subject": "s", "html": "<p>h</p>"}
    )
    return ws.publish_campaign({"name": "c", "message": message, **extra})


def _trigger(ws, campaign_id, ids=("u0",), **extra):
    return ws.trigger_campaign({"campaign_id": campaign_id, "to": {"identity": list(ids)}, **extra})


def test_frequency_cap_per_day_in_the_users_zone():
    clock = Clock(datetime(2026, 11, 27, 18, 0, tzinfo=UTC))  # 23:30 in Kolkata
    ws = _workspace(clock, caps=[{"limit": 2, "period": "day"}], zones=("Asia/Kolkata",))
    cid = _campaign(ws)
    sent = [len(list(_trigger(ws, cid).deliveries)) for _ in range(3)]
    assert sent == [1, 1, 0]
    assert _trigger(ws, cid).skips[0].reason == "frequency_cap"
    clock.now = datetime(2026, 11, 27, 18, 45, tzinfo=UTC)  # 00:15 the next local day
    assert len(list(_trigger(ws, cid).deliveries)) == 1


def test_frequency_cap_per_channel_and_across_channels():
    clock = Clock(START)
    ws = _workspace(
        clock,
        caps=[{"limit": 1, "period": "day", "channel": "push"}, {"limit": 2, "period": "week"}],
    )
    push, email = _campaign(ws, "push"), _campaign(ws, "email")
    assert len(list(_trigger(ws, push).deliveries)) == 1
    assert _trigger(ws, push).skips[0].reason == "frequency_cap"  # push: 1 a day
    assert len(list(_trigger(ws, email).deliveries)) == 1  # email is not push-capped
    assert _trigger(ws, email).skips[0].reason == "frequency_cap"  # 2 a week across channels


def test_campaign_can_opt_out_of_global_limits():
    clock = Clock(START)
    ws = _workspace(clock, caps=[{"limit": 1, "period": "day"}])
    capped = _campaign(ws)
    important = _campaign(ws, delivery={"apply_global_limits": False})
    assert len(list(_trigger(ws, capped).deliveries)) == 1
    assert all(len(list(_trigger(ws, important).deliveries)) == 1 for _ in range(3))
    assert _trigger(ws, capped).skips[0].reason == "frequency_cap"


def test_dnd_delay_carries_the_new_send_time():
    ws = _workspace(Clock(START), zones=("Asia/Tokyo", "UTC"))  # 21:00 in Tokyo, 12:00 UTC
    cid = _campaign(ws, delivery={"dnd": {"start": "21:00", "end": "09:00", "action": "delay"}})
    result = _trigger(ws, cid, ids=("u0", "u1"))
    by_user = {d.identity: d.send_at for d in result.deliveries}
    assert by_user["u0"] == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)  # 09:00 Tokyo
    assert by_user["u1"] == START


def test_dnd_discard_is_a_skip():
    ws = _workspace(Clock(START), zones=("Asia/Tokyo", "UTC"))
    cid = _campaign(ws, delivery={"dnd": {"start": "21:00", "end": "09:00", "action": "discard"}})
    result = _trigger(ws, cid, ids=("u0", "u1"))
    assert [(s.identity, s.reason) for s in result.skips] == [("u0", "dnd_discard")]


def test_users_without_a_zone_use_the_workspace_default():
    ws = tidings.Workspace(clock=Clock(START))
    ws.upsert_profiles([{"identity": "nozone", "push_tokens": ["t"]}])
    ws.configure({"default_timezone": "Asia/Tokyo"})
    cid = _campaign(ws, delivery={"dnd": {"start": "21:00", "end": "09:00", "action": "discard"}})
    assert _trigger(ws, cid, ids=("nozone",)).skips[0].reason == "dnd_discard"


def test_cutoff_and_ttl_drop_late_deliveries():
    ws = _workspace(Clock(START), zones=("Asia/Tokyo",))
    dnd = {"dnd": {"start": "21:00", "end": "09:00", "action": "delay"}}
    cutoff = _campaign(
        ws, delivery=dnd, schedule={"cutoff": (START + timedelta(hours=2)).isoformat()}
    )
    assert _trigger(ws, cutoff).skips[0].reason == "past_cutoff"
    ttl = ws.publish_campaign(
        {
            "name": "t",
            "message": {"channel": "push", "title": "t", "body": "b", "ttl_seconds": 600},
            "delivery": dnd,
        }
    )
    assert _trigger(ws, ttl).skips[0].reason == "ttl_expired"


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(seconds=-1), False),
        (timedelta(0), True),
        (timedelta(hours=1), True),
        (timedelta(hours=2), True),
        (timedelta(hours=2, seconds=1), False),
    ],
)
def test_schedule_edges(offset, ok):
    clock = Clock(START + offset)
    ws = _workspace(clock)
    cid = _campaign(
        ws, schedule={"start": START.isoformat(), "end": (START + timedelta(hours=2)).isoformat()}
    )
    assert _trigger(ws, cid).ok is ok


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=72 * 60),  # minutes to advance the clock
            st.lists(
                st.sampled_from([f"u{i}" for i in range(6)]), min_size=1, max_size=6, unique=True
            ),
            st.sampled_from(["push", "email"]),
        ),
        max_size=15,
    ),
    daily=st.integers(min_value=1, max_value=3),
)
def test_frequency_caps_never_exceeded(steps, daily):
    clock = Clock(START)
    zones = (
        "UTC",
        "Asia/Kolkata",
        "America/New_York",
        "Pacific/Kiritimati",
        "Etc/GMT+12",
        "Europe/Berlin",
    )
    ws = _workspace(
        clock,
        caps=[{"limit": daily, "period": "day"}, {"limit": daily + 2, "period": "week"}],
        zones=zones,
    )
    campaigns = {"push": _campaign(ws, "push"), "email": _campaign(ws, "email")}
    sends: dict[tuple[str, str], int] = {}
    weekly: dict[tuple[str, str], int] = {}
    for minutes, ids, channel in steps:
        clock.now = clock.now + timedelta(minutes=minutes)
        for delivery in _trigger(ws, campaigns[channel], ids=ids).deliveries:
            tz = tidings.delivery.rules.zone(zones[int(delivery.identity[1:]) % len(zones)])
            day, week = tidings.delivery.rules.period_keys(delivery.send_at, tz)
            sends[(delivery.identity, day)] = sends.get((delivery.identity, day), 0) + 1
            weekly[(delivery.identity, week)] = weekly.get((delivery.identity, week), 0) + 1
    assert all(count <= daily for count in sends.values())
    assert all(count <= daily + 2 for count in weekly.values())


@settings(max_examples=30, deadline=None)
@given(
    ids=st.lists(st.sampled_from([f"u{i}" for i in range(6)] + ["ghost"]), min_size=1, max_size=8)
)
def test_the_same_request_twice_never_sends_more_than_once(ids):
    ws = _workspace(Clock(START), caps=[{"limit": 1, "period": "day"}])
    cid = _campaign(ws)
    body = {"campaign_id": cid, "to": {"identity": ids}, "idempotency_key": "k"}
    first = ws.trigger_campaign(body)
    second = ws.trigger_campaign(body)
    assert second.response == first.response
    assert list(second.deliveries) == []
    assert len(list(first.deliveries)) == len({i for i in ids if i != "ghost"})
