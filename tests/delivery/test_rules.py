"""Table tests for time rules: DND windows, local send times, DST, cut-off, TTL."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tidings.delivery.rules import (
    DeliveryPreferences,
    DoNotDisturb,
    decide_timing,
    local_datetime,
    next_local_time,
    period_keys,
    zone,
)

NIGHT = DoNotDisturb(start=time(21), end=time(9))
NOON_UTC = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(8, 59), True),
        (time(9, 0), False),
        (time(12, 0), False),
    ],
)
def test_window_crossing_midnight(local, inside):
    assert NIGHT.contains(local) is inside


def test_window_within_a_day():
    lunch = DoNotDisturb(start=time(12), end=time(14))
    assert lunch.contains(time(12, 30))
    assert not lunch.contains(time(14))
    assert not lunch.contains(time(11, 59))


# Noon UTC across the world's offsets, UTC-12 to UTC+14.
@pytest.mark.parametrize(
    ("tz", "expected_send"),
    [
        ("Etc/GMT+12", "2026-11-27T09:00:00-12:00"),  # 00:00 local: delayed to 09:00
        ("America/New_York", "2026-11-27T09:00:00-05:00"),  # 07:00 local
        ("UTC", None),  # 12:00: outside the window, sent now
        ("Asia/Kolkata", None),  # 17:30
        ("Asia/Tokyo", "2026-11-28T09:00:00+09:00"),  # 21:00 exactly: inside
        ("Pacific/Kiritimati", "2026-11-28T09:00:00+14:00"),  # 02:00 next day
    ],
)
def test_dnd_delay_for_users_around_the_world(tz, expected_send):
    timing = decide_timing(NOON_UTC, zone(tz), DeliveryPreferences(dnd=NIGHT))
    assert timing.refusal is None
    if expected_send is None:
        assert timing.send_at == NOON_UTC
    else:
        assert timing.send_at == datetime.fromisoformat(expected_send)


def test_dnd_discard():
    prefs = DeliveryPreferences(dnd=NIGHT.model_copy(update={"action": "discard"}))
    assert decide_timing(NOON_UTC, zone("Asia/Tokyo"), prefs).refusal == "dnd_discard"
    assert decide_timing(NOON_UTC, zone("UTC"), prefs).send_at == NOON_UTC


def test_skipped_local_hour_moves_forward_by_the_gap():
    ny = zone("America/New_York")
    assert (
        local_datetime(date(2026, 3, 8), time(2, 30), ny).isoformat() == "2026-03-08T03:30:00-04:00"
    )
    lord_howe = zone("Australia/Lord_Howe")  # a 30-minute jump at 02:00
    assert (
        local_datetime(date(2026, 10, 4), time(2, 15), lord_howe).isoformat()
        == "2026-10-04T02:45:00+11:00"
    )


def test_repeated_local_hour_means_its_first_occurrence():
    ny = zone("America/New_York")
    first = local_datetime(date(2026, 11, 1), time(1, 30), ny)
    assert first.astimezone(UTC) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_local_send_time_on_a_spring_forward_day():
    berlin = zone("Europe/Berlin")  # 02:00 -> 03:00 on 2026-03-29
    after = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 local
    sent = next_local_time(after, time(2, 30), berlin)
    assert sent.isoformat() == "2026-03-29T03:30:00+02:00"


def test_local_send_time_is_the_next_occurrence():
    kolkata = zone("Asia/Kolkata")
    assert next_local_time(NOON_UTC, time(10), kolkata).isoformat() == "2026-11-28T10:00:00+05:30"
    assert next_local_time(NOON_UTC, time(18), kolkata).isoformat() == "2026-11-27T18:00:00+05:30"
    exact = datetime(2026, 11, 27, 4, 30, tzinfo=UTC)  # 10:00 local exactly
    assert next_local_time(exact, time(10), kolkata) == exact


def test_dnd_end_on_a_fall_back_night():
    ny = zone("America/New_York")  # 02:00 EDT -> 01:00 EST on 2026-11-01
    at = datetime(2026, 11, 1, 5, 0, tzinfo=UTC)  # 01:00 EDT, inside 21-09
    timing = decide_timing(at, ny, DeliveryPreferences(dnd=NIGHT))
    assert timing.send_at.isoformat() == "2026-11-01T09:00:00-05:00"


def test_cutoff_drops_deliveries_delayed_past_it():
    prefs = DeliveryPreferences(dnd=NIGHT)
    cutoff = NOON_UTC + timedelta(hours=6)
    tokyo = zone("Asia/Tokyo")
    assert decide_timing(NOON_UTC, tokyo, prefs, cutoff=cutoff).refusal == "past_cutoff"
    assert decide_timing(NOON_UTC, zone("UTC"), prefs, cutoff=cutoff).send_at == NOON_UTC
    # exactly at the cut-off is still allowed
    assert (
        decide_timing(cutoff, zone("UTC"), DeliveryPreferences(), cutoff=cutoff).send_at == cutoff
    )


def test_ttl_drops_deliveries_whose_delay_outlives_it():
    prefs = DeliveryPreferences(dnd=NIGHT)
    tokyo = zone("Asia/Tokyo")  # delayed 12 hours
    assert decide_timing(NOON_UTC, tokyo, prefs, ttl_seconds=3600).refusal == "ttl_expired"
    assert decide_timing(NOON_UTC, tokyo, prefs, ttl_seconds=12 * 3600).send_at is not None


@pytest.mark.parametrize(
    ("instant", "tz", "day", "week"),
    [
        ("2026-11-27T23:30:00+00:00", "UTC", "2026-11-27", "2026-W48"),
        ("2026-11-27T23:30:00+00:00", "Asia/Kolkata", "2026-11-28", "2026-W48"),
        ("2026-11-29T20:00:00+00:00", "Pacific/Kiritimati", "2026-11-30", "2026-W49"),
        ("2026-11-30T10:00:00+00:00", "Etc/GMT+12", "2026-11-29", "2026-W48"),
    ],
)
def test_frequency_periods_are_counted_in_the_users_zone(instant, tz, day, week):
    assert period_keys(datetime.fromisoformat(instant), zone(tz)) == (day, week)


def test_empty_window_is_rejected():
    with pytest.raises(ValueError, match="different start and end"):
        DoNotDisturb(start=time(9), end=time(9))
