"""Bulletins end to end: the streaming-app story of bulletins-guide.txt."""

import copy
from datetime import datetime, timedelta

import pytest

import tidings
from tidings.audience.control import in_control_group


def _setup(ws, story, **bulletin_changes):
    ws.define_business_event(story.PROGRAM_RELEASED)
    bulletin = copy.deepcopy(story.GENRE_BULLETIN)
    bulletin.update(bulletin_changes)
    ws.publish_bulletin(bulletin)


def _expected_audience(story, genre="Drama", languages=("Hindi", "English")):
    profiles, events = story.streaming_users()
    recent = {
        e["identity"]
        for e in events
        if e["properties"].get("genre") == genre
        and story.NOW - datetime.fromisoformat(e["timestamp"]) <= timedelta(days=30)
    }
    return {
        p["identity"]: p
        for p in profiles
        if p["identity"] in recent and p["properties"]["language"] in languages
    }


def test_genre_match_language_filter_and_control_group(workspace, story):
    _setup(workspace, story)
    result = workspace.raise_business_event(story.RAISE_BODY)

    assert result.response == {"status": "success", "targets": 1}
    audience = _expected_audience(story)
    records = list(result.deliveries) + list(result.skips)
    identities = [r.identity for r in records]
    # every candidate ends in exactly one Delivery or one Skip
    assert sorted(identities) == sorted(audience)
    held = {r.identity for r in result.skips if r.reason == "control_group"}
    assert held == {i for i in audience if in_control_group("bulletin:new-in-genre", i, 10)}
    no_token = {r.identity for r in result.skips if r.reason == "no_push_token"}
    assert no_token == {i for i, p in audience.items() if not p["push_tokens"]} - held
    sent = list(result.deliveries)
    assert {d.identity for d in sent} == set(audience) - held - no_token
    assert result.summary.sent == len(sent)
    assert result.summary.held_out == len(held)
    assert result.summary.qualified == len(audience)


def test_payload_uses_business_event_and_profile(workspace, story):
    _setup(workspace, story)
    result = workspace.raise_business_event(story.RAISE_BODY)
    delivery = result.deliveries[0]
    assert delivery.channel == "push"
    assert delivery.payload["title"] == "New Drama for you"
    number = int(delivery.identity.split("-")[1])
    assert delivery.payload["body"] == f"Hi Viewer {number}, 234567 is out."
    assert delivery.payload["ttl_seconds"] == 3600
    assert delivery.to == (f"tok-{number}",)
    assert delivery.source == "bulletin"
    assert len(delivery.idempotency_key) == 32


def test_targeting_cap_is_deterministic_and_never_exceeded(story, tmp_path):
    chosen = []
    for run in range(2):
        ws = story.make_workspace("memory", tmp_path / str(run))
        _setup(ws, story, targeting_cap=5)
        body = dict(story.RAISE_BODY, idempotency_key="release-12")
        result = ws.raise_business_event(body)
        sent = {d.identity for d in result.deliveries}
        assert len(sent) == 5
        assert result.summary.capped > 0
        chosen.append(sent)
        # a second, different raise cannot exceed the cap across triggers
        again = ws.raise_business_event(dict(story.RAISE_BODY, name="episode 13"))
        assert {d.identity for d in again.deliveries} <= sent
    assert chosen[0] == chosen[1]


def test_unpublished_bulletins_do_not_fire(workspace, story):
    _setup(workspace, story, published=False)
    result = workspace.raise_business_event(story.RAISE_BODY)
    assert result.response == {"status": "success", "targets": 0}
    assert list(result.deliveries) == []


def test_activity_log_records_each_dispatched_bulletin(workspace, story):
    _setup(workspace, story)
    result = workspace.raise_business_event(story.RAISE_BODY)
    (entry,) = workspace.activity_log()
    assert entry["business_event"] == "Program Released"
    assert entry["bulletin_id"] == "new-in-genre"
    assert entry["sent"] == result.summary.sent
    assert entry["creator"] == "jdoe@example.com"
    assert entry["event_time"] == story.NOW.isoformat()


def test_memory_and_sqlite_give_identical_results(story, tmp_path):
    outputs = []
    for kind in ("memory", "sqlite"):
        ws = story.make_workspace(kind, tmp_path)
        _setup(ws, story, targeting_cap=20)
        result = ws.raise_business_event(dict(story.RAISE_BODY, idempotency_key="k1"))
        outputs.append(
            (
                [(d.identity, d.payload, d.idempotency_key) for d in result.deliveries],
                [(s.identity, s.reason) for s in result.skips],
                result.summary.to_dict(),
            )
        )
        ws.close()
    assert outputs[0] == outputs[1]


def test_sink_streams_records_instead_of_keeping_them(workspace, story):
    _setup(workspace, story)
    seen = []
    result = workspace.raise_business_event(story.RAISE_BODY, sink=seen.append)
    assert list(result.deliveries) == []
    assert len(seen) == result.summary.candidates
    assert sum(isinstance(r, tidings.Delivery) for r in seen) == result.summary.sent


def test_business_event_defined_twice_with_other_properties_is_an_error(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    workspace.define_business_event(story.PROGRAM_RELEASED)  # same again is fine
    with pytest.raises(tidings.DefinitionError, match="already defined"):
        workspace.define_business_event({"name": "Program Released", "properties": ["genre"]})


def test_bulletin_rule_must_use_a_property_of_its_event(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    bulletin = copy.deepcopy(story.GENRE_BULLETIN)
    bulletin["match"][0]["business_property"] = "mood"
    with pytest.raises(tidings.DefinitionError) as info:
        workspace.publish_bulletin(bulletin)
    assert info.value.field == "match.0.business_property"


def test_bulletin_with_bad_template_names_the_field(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    bulletin = copy.deepcopy(story.GENRE_BULLETIN)
    bulletin["message"]["title"] = "New {{ BusinessEvent.genre | nope }}"
    with pytest.raises(tidings.DefinitionError) as info:
        workspace.publish_bulletin(bulletin)
    assert info.value.field == "message.title"
    assert (info.value.problems[0].line, info.value.problems[0].column) == (1, 30)
    assert isinstance(info.value.__cause__, tidings.TemplateError)
    assert info.value.__cause__.field == "push.title"


def test_definitions_survive_reopening_a_sqlite_workspace(story, tmp_path):
    ws = story.make_workspace("sqlite", tmp_path)
    _setup(ws, story)
    ws.close()
    reopened = tidings.Workspace.sqlite(tmp_path / "ws.db", clock=story.fixed_clock)
    result = reopened.raise_business_event(story.RAISE_BODY)
    assert result.response == {"status": "success", "targets": 1}
    assert result.summary.sent > 0
    reopened.close()
