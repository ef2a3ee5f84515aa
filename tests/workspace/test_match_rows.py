"""Match rows that describe one event (issue 11, point 1), through the Workspace API.

The guide's story: "users who watched the previous program *in that language*" is one
past event carrying both values, not two independent conditions.
"""

from datetime import UTC, datetime, timedelta

import pytest

import tidings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EVENT = {"name": "Program Released", "properties": ["prev_program_id", "language", "genre"]}
RAISE = {
    "business_event": "Program Released",
    "name": "Sa Re Ga Ma episode 12",
    "properties": {"prev_program_id": "123457", "language": "Hindi", "genre": "Music"},
    "c-by": "ops@example.com",
    "when": "now",
}
MESSAGE = {"channel": "push", "title": "New episode", "body": "{{ BusinessEvent.language }}"}


def _watched(identity: str, program: object, language: str, days_ago: int = 1) -> dict:
    return {
        "identity": identity,
        "name": "Program Watched",
        "properties": {"program_id": program, "language": language},
        "timestamp": (NOW - timedelta(days=days_ago)).isoformat(),
    }


PROFILES = [
    {"identity": i, "push_tokens": [f"tok-{i}"], "properties": {"language": lang}}
    for i, lang in [
        ("tamil-and-hindi", "Tamil"),
        ("hindi-viewer", "Hindi"),
        ("tamil-viewer", "Tamil"),
        ("old-hindi", "Hindi"),
        ("int-id", "Hindi"),
    ]
]
EVENTS = [
    # Watched 123457 in Tamil and another program (555) in Hindi: not one event.
    _watched("tamil-and-hindi", "123457", "Tamil"),
    _watched("tamil-and-hindi", "555", "Hindi"),
    _watched("hindi-viewer", "123457", "Hindi"),
    _watched("tamil-viewer", "123457", "Tamil"),
    _watched("old-hindi", "123457", "Hindi", days_ago=60),
    # The program id stored as a number matches the business value "123457".
    _watched("int-id", 123457, "Hindi"),
]


def _workspace(kind: str, tmp_path) -> tidings.Workspace:
    clock = lambda: NOW  # noqa: E731 - a fixed clock
    if kind == "memory":
        ws = tidings.Workspace(clock=clock)
    else:
        ws = tidings.Workspace.sqlite(tmp_path / "ws.db", clock=clock)
    ws.upsert_profiles(PROFILES)
    ws.record_events(EVENTS)
    ws.define_business_event(EVENT)
    return ws


@pytest.fixture(params=["memory", "sqlite"])
def ws(request, tmp_path):
    workspace = _workspace(request.param, tmp_path)
    yield workspace
    workspace.close()


def _bulletin(*rows: dict, bulletin_id: str = "b1") -> dict:
    return {
        "id": bulletin_id,
        "name": "Next episode",
        "business_event": "Program Released",
        "match": list(rows),
        "message": MESSAGE,
        "published": True,
    }


SAME_EVENT_ROW = {
    "event": "Program Watched",
    "within_days": 30,
    "where": [
        {"property": "program_id", "business_property": "prev_program_id"},
        {"property": "language", "business_property": "language"},
    ],
}


def _audience(ws: tidings.Workspace) -> list[str]:
    result = ws.raise_business_event(RAISE)
    return sorted([d.identity for d in result.deliveries] + [s.identity for s in result.skips])


def test_tamil_hindi_case_one_event_carries_both_values(ws):
    ws.publish_bulletin(_bulletin(SAME_EVENT_ROW))
    # tamil-and-hindi watched 123457 only in Tamil: not in the Hindi bulletin's audience.
    assert _audience(ws) == ["hindi-viewer", "int-id"]


def test_two_independent_rows_keep_their_and_of_separate_events(ws):
    rows = [
        {
            "business_property": "prev_program_id",
            "event": "Program Watched",
            "event_property": "program_id",
            "within_days": 30,
        },
        {
            "business_property": "language",
            "event": "Program Watched",
            "event_property": "language",
            "within_days": 30,
        },
    ]
    ws.publish_bulletin(_bulletin(*rows))
    # Each row on its own: any event may satisfy each; this is what the old form meant.
    assert _audience(ws) == ["hindi-viewer", "int-id", "tamil-and-hindi"]


def test_single_condition_form_with_where_is_one_row(ws):
    row = {
        "business_property": "prev_program_id",
        "event": "Program Watched",
        "event_property": "program_id",
        "where": [{"property": "language", "business_property": "language"}],
    }
    ws.publish_bulletin(_bulletin(row))
    assert _audience(ws) == ["hindi-viewer", "int-id", "old-hindi"]


def test_literal_conditions_and_operators(ws):
    row = {
        "event": "Program Watched",
        "where": [
            {"property": "program_id", "op": "in", "value": ["123457", 123457]},
            {"property": "language", "op": "ne", "business_property": "language"},
        ],
    }
    ws.publish_bulletin(_bulletin(row))
    assert _audience(ws) == ["tamil-and-hindi", "tamil-viewer"]


def test_profile_property_row(ws):
    profile_row = {"kind": "profile", "property": "language", "business_property": "language"}
    ws.publish_bulletin(_bulletin(profile_row, SAME_EVENT_ROW))
    assert _audience(ws) == ["hindi-viewer", "int-id"]
    ws.publish_bulletin(_bulletin(profile_row, bulletin_id="b1"))
    assert _audience(ws) == ["hindi-viewer", "int-id", "old-hindi"]


def test_ordered_comparison_reads_a_numeric_business_value(tmp_path):
    for kind in ("memory", "sqlite"):
        ws = _workspace(kind, tmp_path)
        ws.record_events(
            [
                {
                    "identity": "tamil-viewer",
                    "name": "Purchased",
                    "properties": {"amount": 250},
                    "timestamp": NOW.isoformat(),
                },
                {
                    "identity": "hindi-viewer",
                    "name": "Purchased",
                    "properties": {"amount": 99.5},
                    "timestamp": NOW.isoformat(),
                },
            ]
        )
        ws.define_business_event({"name": "Sale", "properties": ["min_amount"]})
        ws.publish_bulletin(
            {
                "id": "big-spenders",
                "name": "Sale",
                "business_event": "Sale",
                "match": [
                    {
                        "event": "Purchased",
                        "where": [
                            {"property": "amount", "op": "gte", "business_property": "min_amount"}
                        ],
                    }
                ],
                "message": {"channel": "push", "title": "Sale", "body": "Sale"},
                "published": True,
            }
        )
        body = dict(RAISE, business_event="Sale", properties={"min_amount": "100"})
        result = ws.raise_business_event(body)
        assert [d.identity for d in result.deliveries] == ["tamil-viewer"], kind
        ws.close()


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"event": "Program Watched"}, "match.0"),
        (
            {"event": "Program Watched", "business_property": "language"},
            "match.0",
        ),
        (
            {
                "event": "Program Watched",
                "where": [{"property": "language", "business_property": "lang"}],
            },
            "match.0.business_property",
        ),
        (
            {
                "event": "Program Watched",
                "where": [{"property": "language", "op": "in", "business_property": "language"}],
            },
            "match.0",
        ),
        (
            {
                "event": "Program Watched",
                "where": [{"property": "x", "value": "a", "business_property": "language"}],
            },
            "match.0",
        ),
        ({"kind": "profile", "property": "language", "business_property": "nope"}, "match.0"),
        ({"kind": "profile", "property": "language", "op": "exists"}, "match.0"),
    ],
)
def test_bad_rows_are_refused_at_publish_naming_the_row(ws, row, field):
    with pytest.raises(tidings.DefinitionError) as info:
        ws.publish_bulletin(_bulletin(row))
    assert (info.value.field or "").startswith(field)
