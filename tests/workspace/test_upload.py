"""Workspace.upload: the vendor's Upload Profiles / Upload Events body."""

from datetime import UTC, datetime

import pytest

import tidings
from tidings._vendor import count_recipients


@pytest.fixture
def ws():
    return tidings.Workspace()


def test_profiles_merge_into_the_stored_profile(ws):
    ws.upsert_profiles(
        [{"identity": "u1", "name": "Ann", "push_tokens": ["t1"], "properties": {"a": 1}}]
    )
    answer = ws.upload(
        {
            "d": [
                {
                    "identity": "u1",
                    "type": "profile",
                    "profileData": {"Email": "ann@Example.com", "b": 2},
                }
            ]
        }
    )
    assert answer == {"status": "success", "processed": 1, "unprocessed": []}
    profile = ws.store.get_profile("u1")
    assert (profile.name, profile.email, profile.push_tokens) == ("Ann", "ann@example.com", ("t1",))
    assert profile.properties == {"a": 1, "b": 2}


def test_two_records_for_one_new_user_in_one_call_both_count(ws):
    ws.upload(
        {
            "d": [
                {"identity": "n1", "type": "profile", "profileData": {"Name": "Nia"}},
                {"identity": "n1", "type": "profile", "profileData": {"Timezone": "Asia/Kolkata"}},
            ]
        }
    )
    profile = ws.store.get_profile("n1")
    assert (profile.name, profile.timezone) == ("Nia", "Asia/Kolkata")


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1767225600, datetime(2026, 1, 1, tzinfo=UTC)),
        ("1767225600", datetime(2026, 1, 1, tzinfo=UTC)),
        ("2026-01-01T00:00:00+00:00", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_event_time(ws, ts, expected):
    ws.upload({"d": [{"identity": "u1", "type": "event", "evtName": "Charged", "ts": ts}]})
    [event] = ws.store.events_for("u1")
    assert event.timestamp == expected


@pytest.mark.parametrize(
    ("record", "error"),
    [
        (
            {"identity": "u1", "type": "event", "evtName": "E", "ts": "later"},
            '"ts" has an incorrect value - later',
        ),
        (
            {"identity": "u1", "type": "event", "evtName": "E", "ts": True},
            '"ts" has an incorrect value - True',
        ),
        ({"identity": "u1", "type": "event"}, '"evtName" has an incorrect value - null'),
        (
            {"identity": "u1", "type": "event", "evtName": "E", "evtData": []},
            '"evtData" has an incorrect value - []',
        ),
        ({"identity": "u1", "type": "profile"}, '"profileData" has an incorrect value - null'),
        ({"type": "profile", "profileData": {}}, '"identity" has an incorrect value - null'),
        (
            {"FBID": "1", "type": "profile", "profileData": {}},
            '"FBID" is not supported: name the user by "identity"',
        ),
    ],
)
def test_bad_records_are_listed_and_the_others_written(ws, record, error):
    good = {"identity": "ok", "type": "profile", "profileData": {"Name": "Ok"}}
    answer = ws.upload({"d": [good, record]})
    assert answer["status"] == "partial"
    assert answer["processed"] == 1
    assert answer["unprocessed"] == [
        {"status": "fail", "code": 400, "error": error, "index": 1, "record": record}
    ]
    assert ws.store.get_profile("ok") is not None


def test_nothing_processed_is_a_fail_status_with_the_records(ws):
    answer = ws.upload({"d": [{"identity": "u1", "type": "nope"}]})
    assert (answer["status"], answer["processed"], len(answer["unprocessed"])) == ("fail", 0, 1)


@pytest.mark.parametrize(
    ("body", "count"),
    [
        ({"to": {"identity": ["a", "b"], "email": "c@example.com"}}, 3),
        ({"to": {"Identity": ["a"], "Email": ["b@x.com", "c@x.com"]}}, 3),
        ({"to": [{"identity": "a"}, {"email": "b@x.com"}]}, 2),
        ({"to": {"identity": ["a", "b"]}, "campaign_id_list": [1, 2, 3]}, 6),
        (
            {"d": [{"to": {"identity": ["a"]}}, {"to": [{"identity": "b"}, {"identity": "c"}]}, 5]},
            3,
        ),
        ({"to": None}, 0),
        ([], 0),
    ],
)
def test_count_recipients(body, count):
    assert count_recipients(body) == count
