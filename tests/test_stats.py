"""Monitoring numbers on hand-built ledgers with known answers."""

import math
import typing
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tidings
from tidings.models.records import Delivery, Skip, SkipReason
from tidings.stats import (
    DEFAULT_CLICKED,
    DEFAULT_VIEWED,
    EngagementEvents,
    Interval,
    Rate,
    Uplift,
    activity_log,
    compute_stats,
    configure_engagement,
    engagement_event,
    engagement_events,
    goal_for,
    newcombe_interval,
    record_engagement,
    source_stats,
    wilson_interval,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PUSH = {"channel": "push", "title": "Hi", "body": "Hello {{ Profile.name | default: 'you' }}"}


def clock() -> datetime:
    return NOW


def delivery(source_id: str, identity: str, key: str, send_at: datetime = NOW) -> Delivery:
    return Delivery(
        source="campaign",
        source_id=source_id,
        identity=identity,
        channel="push",
        payload={},
        send_at=send_at,
        idempotency_key=key,
        to=("tok",),
    )


def record(ws, records, dispatch_key: str, at: datetime = NOW) -> None:
    """Store outcomes as a dispatch does: decided, then emitted."""
    ws.ledger.record(records, dispatch_key=dispatch_key, at=at)
    by_source: dict[str, list[str]] = {}
    for r in records:
        if isinstance(r, Delivery):
            by_source.setdefault(r.source_id, []).append(r.identity)
    for source_id, identities in by_source.items():
        ws.ledger.mark_emitted(source_id, dispatch_key, identities)


def event(identity: str, name: str, at: datetime, **properties) -> dict:
    return {
        "identity": identity,
        "name": name,
        "timestamp": at.isoformat(),
        "properties": properties,
    }


GENRES = ["Drama", "Comedy", "Thriller", "Documentary"]
PROGRAM_RELEASED = {"name": "Program Released", "properties": ["program_id", "genre", "language"]}
GENRE_BULLETIN = {
    "id": "new-in-genre",
    "name": "New in your genre",
    "business_event": "Program Released",
    "match": [
        {
            "business_property": "genre",
            "event": "Movie Watched",
            "event_property": "genre",
            "within_days": 30,
        }
    ],
    "message": PUSH,
    "control_group": {"kind": "campaign", "percent": 20},
    "creator": "jdoe@example.com",
    "published": True,
}
RAISE_BODY = {
    "business_event": "Program Released",
    "name": "Sa Re Ga Ma episode 12",
    "properties": {"program_id": "234567", "genre": "Drama", "language": "Hindi"},
    "c-by": "jdoe@example.com",
    "when": "now",
}


def streaming_workspace(users: int, path=None) -> tidings.Workspace:
    ws = (
        tidings.Workspace(clock=clock)
        if path is None
        else tidings.Workspace.sqlite(path, clock=clock)
    )
    ws.upsert_profiles(
        {"identity": f"user-{i:04d}", "name": f"Viewer {i}", "push_tokens": [f"tok-{i}"]}
        for i in range(users)
    )
    ws.record_events(
        event(
            f"user-{i:04d}", "Movie Watched", NOW - timedelta(days=1 + i % 20), genre=GENRES[i % 4]
        )
        for i in range(users)
    )
    return ws


@pytest.fixture
def ws():
    workspace = tidings.Workspace(clock=clock)
    workspace.publish_campaign(
        {
            "id": "c1",
            "name": "Camp",
            "message": PUSH,
            "goal": {"event": "Bought", "window_hours": 24},
        }
    )
    return workspace


# -- intervals ---------------------------------------------------------------------------


def test_wilson_interval_matches_the_textbook_value():
    # 81 of 263: Wilson 95% interval (Newcombe 1998, example) = 0.2553 to 0.3662.
    interval = wilson_interval(81, 263)
    assert interval is not None
    assert interval.low == pytest.approx(0.2553, abs=1e-4)
    assert interval.high == pytest.approx(0.3662, abs=1e-4)


def test_wilson_interval_at_zero_is_not_degenerate():
    interval = wilson_interval(0, 10)
    assert interval is not None
    assert interval.low == 0.0
    assert interval.high == pytest.approx(0.2775, abs=1e-4)


def test_wilson_interval_of_an_empty_group_is_undefined():
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize(("x", "n"), [(-1, 10), (11, 10), (1, -1)])
def test_wilson_interval_rejects_impossible_counts(x, n):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(x, n)


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Table II example (e): 56/70 vs 48/80 -> 0.0524 to 0.3339 (method 10).
    interval = newcombe_interval(56, 70, 48, 80)
    assert interval is not None
    assert interval.low == pytest.approx(0.0524, abs=1e-4)
    assert interval.high == pytest.approx(0.3339, abs=1e-4)


def test_newcombe_interval_with_zero_conversions_in_both_groups():
    # Newcombe (1998), example (h): 0/10 vs 0/20 -> -0.1611 to 0.2775.
    interval = newcombe_interval(0, 10, 0, 20)
    assert interval is not None
    assert interval.low == pytest.approx(-0.1611, abs=1e-4)
    assert interval.high == pytest.approx(0.2775, abs=1e-4)


@pytest.mark.parametrize(("a", "b"), [((0, 0), (3, 10)), ((3, 10), (0, 0)), ((0, 0), (0, 0))])
def test_newcombe_interval_of_an_empty_group_is_undefined(a, b):
    assert newcombe_interval(*a, *b) is None


@settings(max_examples=150, deadline=None)
@given(
    n1=st.integers(1, 5000),
    n2=st.integers(1, 5000),
    f1=st.floats(0, 1),
    f2=st.floats(0, 1),
)
def test_newcombe_interval_contains_the_observed_difference(n1, n2, f1, f2):
    x1, x2 = round(f1 * n1), round(f2 * n2)
    interval = newcombe_interval(x1, n1, x2, n2)
    assert interval is not None
    difference = x1 / n1 - x2 / n2
    assert -1.0 <= interval.low <= difference + 1e-12
    assert difference - 1e-12 <= interval.high <= 1.0
    assert all(math.isfinite(v) for v in (interval.low, interval.high))


def test_uplift_is_undefined_for_an_empty_control_group():
    uplift = Uplift.between(Rate(5, 50), Rate(0, 0))
    assert uplift.difference is None
    assert uplift.interval is None
    assert uplift.relative is None
    assert uplift.significant is None


def test_uplift_relative_is_undefined_when_control_never_converts():
    uplift = Uplift.between(Rate(5, 50), Rate(0, 40))
    assert uplift.difference == pytest.approx(0.1)
    assert uplift.relative is None
    assert uplift.interval is not None
    assert uplift.to_dict()["method"] == "newcombe-wilson"


def test_rate_of_an_empty_group():
    rate = Rate(0, 0)
    assert rate.rate is None
    assert rate.interval is None
    assert rate.to_dict() == {"converted": 0, "users": 0, "rate": None, "interval": None}


def test_interval_contains():
    assert Interval(-0.1, 0.2).contains(0.0)
    assert not Interval(0.01, 0.2).contains(0.0)


# -- counts ------------------------------------------------------------------------------


def test_stats_of_a_source_without_outcomes_are_zero(ws):
    stats = source_stats(ws, "c1")
    assert (stats.kind, stats.name, stats.candidates, stats.sent, stats.dispatches) == (
        "campaign",
        "Camp",
        0,
        0,
        0,
    )
    assert stats.conversion is not None
    assert stats.conversion.target == Rate(0, 0)
    assert stats.conversion.uplift.interval is None
    assert stats.errors == []
    assert stats.funnel == [
        ("qualified", 0),
        ("sent", 0),
        ("viewed", 0),
        ("clicked", 0),
        ("converted", 0),
    ]


def test_counts_split_every_outcome_like_the_summary(ws):
    records = [
        delivery("c1", "u1", "k1"),
        delivery("c1", "u2", "k2"),
        Skip("c1", "u3", "control_group"),
        Skip("c1", "u4", "targeting_cap"),
        Skip("c1", "u5", "filtered_out"),
        Skip("c1", "u6", "unknown_identity"),
        Skip("c1", "u7", "no_push_token"),
        Skip("c1", "u8", "no_push_token"),
        Skip("c1", "u9", "render_error"),
        Skip("c1", "u10", "payload_too_large"),
        Skip("c1", "u11", "invalid_webhook_body"),
        Skip("c1", "u12", "duplicate_recipient"),
    ]
    record(ws, records, "d1", NOW)
    stats = source_stats(ws, "c1")
    summary = tidings.Summary()
    for outcome in records:
        summary.add(outcome)
    assert stats.candidates == summary.candidates == 12
    assert stats.qualified == summary.qualified == 9
    assert stats.sent == 2
    assert (stats.held_out, stats.capped, stats.filtered) == (1, 1, 1)
    assert stats.technical_errors == summary.errors == 3
    assert stats.non_technical_errors == 2
    assert [(e.reason, e.count, e.technical) for e in stats.errors] == [
        ("invalid_webhook_body", 1, True),
        ("payload_too_large", 1, True),
        ("render_error", 1, True),
        ("no_push_token", 2, False),
    ]
    assert stats.dispatches == 1


def test_future_skip_reasons_count_as_non_technical(ws):
    # Reasons other engineers may add (unsubscribed, frequency cap, DND discard).
    record(
        ws,
        [Skip("c1", "u1", "unsubscribed"), Skip("c1", "u2", "dnd_discard")],  # type: ignore[arg-type]
        "d1",
        at=NOW,
    )
    stats = source_stats(ws, "c1")
    assert stats.non_technical_errors == 2
    assert stats.technical_errors == 0
    assert stats.qualified == 2


# -- engagement --------------------------------------------------------------------------


def test_engagement_counts_deliveries_viewed_and_clicked(ws):
    d1, d2, d3 = (delivery("c1", f"u{i}", f"k{i}") for i in (1, 2, 3))
    record(ws, [d1, d2, d3], "d1", NOW)
    later = NOW + timedelta(minutes=5)
    record_engagement(ws, d1, "viewed", at=later)
    record_engagement(ws, d1, "viewed", at=later)  # twice: still one delivery viewed
    record_engagement(ws, d1, "clicked", at=later)
    record_engagement(ws, d2.to_dict(), "viewed", at=later)  # a JSON Lines row works too
    # Another user's key, an unknown key, and an event before the send do not count.
    ws.record_events(
        [
            event("u3", DEFAULT_VIEWED, later, idempotency_key="k1", source_id="c1"),
            event("u3", DEFAULT_VIEWED, later, idempotency_key="nope", source_id="c1"),
            event("u3", DEFAULT_CLICKED, NOW - timedelta(hours=1), idempotency_key="k3"),
        ]
    )
    stats = source_stats(ws, "c1")
    assert (stats.viewed, stats.clicked) == (2, 1)


def test_engagement_event_without_a_key_counts_for_the_source(ws):
    record(ws, [delivery("c1", "u1", "k1")], "d1", NOW)
    ws.record_events([event("u1", DEFAULT_CLICKED, NOW + timedelta(seconds=1), source_id="c1")])
    assert source_stats(ws, "c1").clicked == 1


def test_record_engagement_uses_the_clock_and_stores_the_keys(ws):
    recorded = record_engagement(ws, delivery("c1", "u1", "k1"))
    assert recorded.name == DEFAULT_VIEWED
    assert recorded.timestamp == NOW
    assert recorded.properties == {"idempotency_key": "k1", "source_id": "c1"}
    assert [e.name for e in ws.store.events_for("u1")] == [DEFAULT_VIEWED]


def test_record_engagement_with_any_event_name(ws):
    recorded = record_engagement(ws, delivery("c1", "u1", "k1"), "Notification Dismissed")
    assert recorded.name == "Notification Dismissed"


def test_engagement_names_are_configurable_and_persisted(tmp_path):
    path = tmp_path / "ws.db"
    with tidings.Workspace.sqlite(path, clock=clock) as first:
        assert engagement_events(first) == EngagementEvents()
        configure_engagement(first, viewed="Push Impression", clicked="Push Tap")
        first.publish_campaign({"id": "c1", "name": "Camp", "message": PUSH})
        d1 = delivery("c1", "u1", "k1")
        record(first, [d1], "d1")
        recorded = record_engagement(first, d1, "clicked", at=NOW + timedelta(minutes=1))
        assert recorded.name == "Push Tap"
        first.record_events([event("u1", DEFAULT_VIEWED, NOW, idempotency_key="k1")])
    with tidings.Workspace.sqlite(path, clock=clock) as second:
        assert engagement_events(second) == EngagementEvents("Push Impression", "Push Tap")
        stats = source_stats(second, "c1")
        assert (stats.viewed, stats.clicked) == (0, 1)


@pytest.mark.parametrize(
    ("viewed", "clicked", "message"),
    [("", "x", "must not be empty"), ("Same", "Same", "must be different")],
)
def test_configure_engagement_rejects_bad_names(ws, viewed, clicked, message):
    with pytest.raises(tidings.DefinitionError, match=message):
        configure_engagement(ws, viewed=viewed, clicked=clicked)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"identity": "u1", "source_id": "c1"}, "idempotency_key is missing"),
        ({"identity": "u1", "source_id": "c1", "idempotency_key": None}, "only deliveries"),
    ],
)
def test_engagement_needs_a_delivery(row, message):
    with pytest.raises(tidings.DefinitionError, match=message):
        engagement_event(row, DEFAULT_VIEWED, NOW)


# -- conversion --------------------------------------------------------------------------


def test_conversion_within_the_window_after_the_send_or_would_be_send(ws):
    sent_at = NOW
    held_at = NOW + timedelta(hours=2)  # a later dispatch held these two out
    record(ws, [delivery("c1", f"t{i}", f"k{i}", sent_at) for i in range(4)], "d1", NOW)
    record(
        ws,
        [Skip("c1", "h0", "control_group"), Skip("c1", "h1", "control_group")],
        "d2",
        at=held_at,
    )
    ws.record_events(
        [
            event("t0", "Bought", sent_at + timedelta(hours=1)),  # converted
            event("t1", "Bought", sent_at + timedelta(hours=24)),  # converted: window end included
            event("t2", "Bought", sent_at + timedelta(hours=25)),  # too late
            event("t3", "Bought", sent_at - timedelta(minutes=1)),  # before the send
            event("t3", "Browsed", sent_at + timedelta(hours=1)),  # not the goal
            event("h0", "Bought", held_at + timedelta(hours=3)),  # control converted
            event("h1", "Bought", held_at - timedelta(hours=1)),  # before its would-be send
        ]
    )
    conversion = source_stats(ws, "c1").conversion
    assert conversion is not None
    assert (conversion.goal_event, conversion.window_hours) == ("Bought", 24)
    assert conversion.target == Rate(2, 4)
    assert conversion.control == Rate(1, 2)
    uplift = conversion.uplift
    assert uplift.difference == pytest.approx(0.0)
    assert uplift.relative == pytest.approx(0.0)
    assert uplift.interval == newcombe_interval(2, 4, 1, 2)
    assert uplift.significant is False


def test_zero_conversions_do_not_divide_by_zero(ws):
    record(ws, [delivery("c1", "t0", "k0"), Skip("c1", "h0", "control_group")], "d", NOW)
    conversion = source_stats(ws, "c1").conversion
    assert conversion is not None
    assert conversion.target.rate == 0.0
    assert conversion.control.rate == 0.0
    assert conversion.uplift.difference == 0.0
    assert conversion.uplift.relative is None
    assert conversion.uplift.interval == newcombe_interval(0, 1, 0, 1)


def test_a_user_sent_twice_counts_once(ws):
    record(ws, [delivery("c1", "t0", "k0", NOW)], "d1", NOW)
    later = NOW + timedelta(days=3)
    record(ws, [delivery("c1", "t0", "k1", later)], "d2", later)
    ws.record_events([event("t0", "Bought", later + timedelta(hours=1))])
    stats = source_stats(ws, "c1")
    assert stats.sent == 2
    assert stats.dispatches == 2
    assert stats.conversion is not None
    assert stats.conversion.target == Rate(1, 1)


def test_no_goal_means_no_conversion(ws):
    campaign_id = ws.publish_campaign({"name": "No goal", "message": PUSH})
    record(ws, [delivery(campaign_id, "u1", "k1")], "d", NOW)
    stats = source_stats(ws, campaign_id)
    assert stats.conversion is None
    assert stats.converted is None
    assert stats.funnel[-1] == ("converted", None)
    assert stats.to_dict()["conversion"] is None


def test_bulletin_goal_comes_from_its_business_event():
    ws = streaming_workspace(200)
    ws.define_business_event({**PROGRAM_RELEASED, "goal": {"event": "Movie Watched"}})
    ws.publish_bulletin(GENRE_BULLETIN)
    result = ws.raise_business_event(RAISE_BODY)
    assert goal_for(ws, "new-in-genre") == tidings.Goal(event="Movie Watched", window_hours=24)
    stats = source_stats(ws, "new-in-genre")
    assert stats.kind == "bulletin"
    assert stats.sent == result.summary.sent > 0
    assert stats.held_out == result.summary.held_out > 0
    assert stats.qualified == result.summary.qualified
    assert stats.conversion is not None
    assert stats.conversion.target.users == result.summary.sent
    assert stats.conversion.control.users == result.summary.held_out
    assert stats.conversion.target.converted == 0  # all their events are before the send


def test_unknown_source_is_other(ws):
    stats = source_stats(ws, "ghost")
    assert (stats.kind, stats.name, stats.conversion) == ("other", "ghost", None)
    assert goal_for(ws, "ghost") is None


# -- the whole workspace -----------------------------------------------------------------


def test_compute_stats_of_an_empty_workspace():
    stats = compute_stats(tidings.Workspace(clock=clock))
    assert stats.sources == ()
    assert stats.activity == ()
    assert stats.to_dict() == {
        "generated_at": NOW.isoformat(),
        "engagement_events": {"viewed": DEFAULT_VIEWED, "clicked": DEFAULT_CLICKED},
        "sources": [],
        "activity": [],
    }


def test_compute_stats_lists_campaigns_then_bulletins(tmp_path):
    ws = streaming_workspace(100, tmp_path / "ws.db")
    ws.define_business_event(PROGRAM_RELEASED)
    ws.publish_bulletin(GENRE_BULLETIN)
    for n in range(11):
        ws.publish_campaign({"name": f"Campaign {n}", "message": PUSH})
    ws.message_via_identity({"to": {"identity": ["user-0001"]}, "content": PUSH})
    stats = compute_stats(ws)
    ids = [s.source_id for s in stats.sources]
    assert ids[:11] == [str(n) for n in range(1, 12)]  # numeric order: 10 after 9
    assert ids[11] == "new-in-genre"
    assert ids[12].startswith("identity:")  # found in the SQLite ledger
    assert stats.sources[12].sent == 1
    only = compute_stats(ws, sources=["3", "ghost"])
    assert [(s.source_id, s.kind) for s in only.sources] == [("3", "campaign"), ("ghost", "other")]
    ws.close()


def test_activity_log_filters_by_business_event_and_date():
    ws = streaming_workspace(50)
    ws.define_business_event(PROGRAM_RELEASED)
    ws.define_business_event({"name": "Sale Started", "properties": ["category"]})
    ws.publish_bulletin(GENRE_BULLETIN)
    ws.publish_bulletin(
        {
            "id": "sale",
            "name": "Sale",
            "business_event": "Sale Started",
            "match": [
                {
                    "business_property": "category",
                    "event": "Movie Watched",
                    "event_property": "genre",
                }
            ],
            "message": PUSH,
            "creator": "merch@example.com",
            "published": True,
        }
    )
    times = ["2026-11-01T10:00:00+00:00", "2026-11-15T10:00:00+00:00", "2026-11-20T10:00:00+00:00"]
    ws.raise_business_event({**RAISE_BODY, "when": times[0]})
    ws.raise_business_event(
        {"business_event": "Sale Started", "name": "Drama week", "c-by": "merch@example.com",
         "properties": {"category": "Drama"}, "when": times[1]}
    )  # fmt: skip
    ws.raise_business_event({**RAISE_BODY, "when": times[2], "name": "Episode 13"})
    every = activity_log(ws)
    assert [e["event_time"] for e in every] == list(reversed(times))  # newest first
    assert every[1]["creator"] == "merch@example.com"
    assert every[1]["sent"] > 0
    program = activity_log(ws, business_event="Program Released")
    assert [e["name"] for e in program] == ["Episode 13", "Sa Re Ga Ma episode 12"]
    assert [e["event_time"] for e in activity_log(ws, since=date(2026, 11, 15))] == [
        times[2],
        times[1],
    ]
    assert [e["event_time"] for e in activity_log(ws, until=date(2026, 11, 15))] == [
        times[1],
        times[0],
    ]
    window = activity_log(
        ws, since=datetime(2026, 11, 1, 10, 0), until=datetime(2026, 11, 15, 10, 0, tzinfo=UTC)
    )
    assert [e["event_time"] for e in window] == [times[0]]
    assert activity_log(ws, business_event="Nope") == []
    assert compute_stats(ws, business_event="Sale Started").activity == tuple(
        activity_log(ws, business_event="Sale Started")
    )


def test_pending_deliveries_are_qualified_but_not_sent(ws):
    # Decided, never confirmed as handed to the sink (a crashed dispatch).
    ws.ledger.record([delivery("c1", "u1", "k1")], dispatch_key="d1", at=NOW)
    stats = source_stats(ws, "c1")
    assert (stats.pending, stats.sent, stats.qualified) == (1, 0, 1)
    assert stats.conversion is not None
    assert stats.conversion.target.users == 0


@pytest.mark.parametrize("reason", typing.get_args(SkipReason))
def test_stats_and_the_dispatch_summary_count_every_skip_reason_alike(ws, reason):
    records = [delivery("c1", "u0", "k0"), Skip("c1", "u1", reason), Skip("c1", "u2", reason)]
    record(ws, records, "d1", NOW)
    summary = tidings.Summary()
    for outcome in records:
        summary.add(outcome)
    stats = source_stats(ws, "c1")
    counted = {
        "candidates": stats.candidates,
        "qualified": stats.qualified,
        "sent": stats.sent,
        "held_out": stats.held_out,
        "capped": stats.capped,
        "filtered": stats.filtered,
        "errors": stats.technical_errors,
        "skipped": dict(stats.skipped),
    }
    assert counted == summary.to_dict()
    assert stats.non_technical_errors == summary.non_technical_errors
    assert stats.technical_errors + stats.non_technical_errors == sum(e.count for e in stats.errors)


def test_summary_counts_pending_rows_as_qualified_not_sent():
    summary = tidings.Summary()
    summary.add_outcome("pending", None)
    summary.add_outcome("sent", None)
    assert (summary.candidates, summary.qualified, summary.sent, summary.pending) == (2, 2, 1, 1)
    assert "pending" not in summary.to_dict()  # the dispatch summary's shape is unchanged
