"""Versions and lifecycle (issue 11, point 4): publish again, pause, resume, stop."""

import copy
import sqlite3

import pytest

import tidings

PUSH = {"channel": "push", "title": "Steps", "body": "{{ ExternalTrigger.steps }} steps today"}


def _campaign(body: str = PUSH["body"]) -> dict:
    return {"id": "steps", "name": "Steps", "message": {**PUSH, "body": body}}


def _trigger(ws, campaign_id="steps", key=None):
    body = {
        "to": {"identity": ["user-0001", "user-0002"]},
        "campaign_id": campaign_id,
        "ExternalTrigger": {"steps": 15000},
    }
    if key is not None:
        body["idempotency_key"] = key
    return ws.trigger_campaign(body)


def _versions(ws, kind, key):
    return [(v.version, v.current) for v in ws.versions(kind, key)]


def test_publishing_an_id_again_makes_a_new_version(workspace):
    workspace.publish_campaign(_campaign())
    workspace.publish_campaign(_campaign())  # the same definition: the same version
    assert _versions(workspace, "campaign", "steps") == [(1, True)]
    workspace.publish_campaign(_campaign("{{ ExternalTrigger.steps }} steps, well done"))
    versions = workspace.versions("campaign", "steps")
    assert [(v.version, v.current) for v in versions] == [(1, False), (2, True)]
    assert versions[0].definition["message"]["body"] == PUSH["body"]
    assert versions[1].definition["message"]["body"].endswith("well done")
    assert versions[1].published_at == workspace.clock()
    assert versions[1].to_dict()["version"] == 2
    assert workspace.campaigns["steps"].message.body.endswith("well done")


def test_each_outcome_records_the_version_that_produced_it(workspace):
    workspace.publish_campaign(_campaign())
    first = _trigger(workspace)
    workspace.publish_campaign(_campaign("v2: {{ ExternalTrigger.steps }}"))
    second = _trigger(workspace)
    assert first.summary.sent == second.summary.sent == 2
    assert second.deliveries[0].payload["body"] == "v2: 15000"
    rows = workspace.ledger.outcomes("steps")
    assert [row["version"] for row in rows] == [1, 1, 2, 2]


def test_bulletin_outcomes_and_activity_carry_the_version(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    workspace.publish_bulletin(story.GENRE_BULLETIN)
    changed = copy.deepcopy(story.GENRE_BULLETIN)
    changed["message"]["title"] = "Just out: {{ BusinessEvent.genre }}"
    workspace.publish_bulletin(changed)
    result = workspace.raise_business_event(story.RAISE_BODY)
    assert result.response == {"status": "success", "targets": 1}
    assert result.deliveries[0].payload["title"] == "Just out: Drama"
    versions = {row["version"] for row in workspace.ledger.outcomes("new-in-genre")}
    assert versions == {2}
    assert workspace.activity_log()[0]["version"] == 2


@pytest.mark.parametrize(
    ("state", "error"), [("paused", "Campaign Paused"), ("stopped", "Campaign Stopped")]
)
def test_a_paused_or_stopped_campaign_answers_with_the_vendor_fail_body(workspace, state, error):
    workspace.publish_campaign(_campaign())
    move = workspace.pause if state == "paused" else workspace.stop
    assert move("campaign", "steps") == state
    result = _trigger(workspace)
    assert result.response == {"status": "fail", "error": error, "code": 400}
    assert workspace.ledger.outcomes("steps") == []
    assert workspace.lifecycle.state("campaign", "steps") == state


def test_resume_makes_a_paused_campaign_send_again(workspace):
    workspace.publish_campaign(_campaign())
    workspace.pause("campaign", "steps")
    workspace.pause("campaign", "steps")  # pausing twice is harmless
    assert workspace.resume("campaign", "steps") == "active"
    assert _trigger(workspace).summary.sent == 2


def test_stopping_is_final(workspace):
    workspace.publish_campaign(_campaign())
    workspace.stop("campaign", "steps")
    for verb in (workspace.resume, workspace.pause):
        with pytest.raises(tidings.ArgumentError, match="stopped") as info:
            verb("campaign", "steps")
        assert info.value.field == "id"
    workspace.publish_campaign(_campaign("again {{ ExternalTrigger.steps }}"))
    assert _trigger(workspace).response["error"] == "Campaign Stopped"


def test_lifecycle_refuses_unknown_ids_and_kinds(workspace):
    with pytest.raises(tidings.ArgumentError) as info:
        workspace.pause("campaign", "nope")
    assert info.value.field == "id"
    with pytest.raises(tidings.ArgumentError) as info:
        workspace.versions("segment", "steps")
    assert info.value.field == "kind"


def test_business_event_with_no_dispatchable_bulletin_says_why(workspace, story):
    workspace.define_business_event(story.PROGRAM_RELEASED)
    bulletins = {"a-paused": True, "b-stopped": True, "c-draft": False}
    for key, published in bulletins.items():
        workspace.publish_bulletin({**story.GENRE_BULLETIN, "id": key, "published": published})
    workspace.pause("bulletin", "a-paused")
    workspace.stop("bulletin", "b-stopped")
    result = workspace.raise_business_event(story.RAISE_BODY)
    assert result.response == {"status": "success", "targets": 0}
    assert result.not_dispatched == {
        "a-paused": "paused",
        "b-stopped": "stopped",
        "c-draft": "unpublished",
    }
    assert result.summaries == {}
    assert workspace.activity_log() == []
    workspace.resume("bulletin", "a-paused")
    again = workspace.raise_business_event({**story.RAISE_BODY, "name": "episode 13"})
    assert again.response == {"status": "success", "targets": 1}
    assert again.not_dispatched == {"b-stopped": "stopped", "c-draft": "unpublished"}


def test_versions_and_states_survive_reopening(story, tmp_path):
    ws = story.make_workspace("sqlite", tmp_path, users=20)
    ws.publish_campaign(_campaign())
    ws.publish_campaign(_campaign("v2 {{ ExternalTrigger.steps }}"))
    ws.pause("campaign", "steps")
    ws.close()
    with tidings.Workspace.sqlite(tmp_path / "ws.db", clock=story.fixed_clock) as reopened:
        assert _versions(reopened, "campaign", "steps") == [(1, False), (2, True)]
        assert _trigger(reopened).response["error"] == "Campaign Paused"
        reopened.resume("campaign", "steps")
        _trigger(reopened)
        assert {row["version"] for row in reopened.ledger.outcomes("steps")} == {2}


def test_a_stop_in_another_process_takes_effect_at_once(story, tmp_path):
    serving = story.make_workspace("sqlite", tmp_path, users=20)
    serving.publish_campaign(_campaign())
    with tidings.Workspace.sqlite(tmp_path / "ws.db", clock=story.fixed_clock) as other:
        other.stop("campaign", "steps")
    assert _trigger(serving).response["error"] == "Campaign Stopped"
    serving.close()


def test_an_sqlite_file_from_schema_version_1_is_upgraded(story, tmp_path):
    ws = story.make_workspace("sqlite", tmp_path, users=20)
    ws.publish_campaign(_campaign())
    _trigger(ws)
    ws.close()
    # Make the file what tidings wrote before versions: no outcomes.version, schema 1.
    raw = sqlite3.connect(tmp_path / "ws.db")
    raw.execute("ALTER TABLE outcomes DROP COLUMN version")
    raw.execute("DELETE FROM store_schema_version")
    raw.execute("INSERT INTO store_schema_version (version) VALUES (1)")
    raw.commit()
    raw.close()
    with tidings.Workspace.sqlite(tmp_path / "ws.db", clock=story.fixed_clock) as reopened:
        _trigger(reopened, key="after-upgrade")
        versions = [row["version"] for row in reopened.ledger.outcomes("steps")]
        assert versions == [None, None, 1, 1]
    raw = sqlite3.connect(tmp_path / "ws.db")
    assert raw.execute("SELECT max(version) FROM store_schema_version").fetchone() == (2,)
    raw.close()


def test_cli_lists_versions_and_moves_states(story, tmp_path, capsys):
    import json

    from tidings.cli import main

    ws = story.make_workspace("sqlite", tmp_path, users=20)
    ws.publish_campaign(_campaign())
    ws.publish_campaign(_campaign("v2 {{ ExternalTrigger.steps }}"))
    ws.close()
    db = str(tmp_path / "ws.db")
    assert main(["list-versions", "--db", db, "--campaign", "steps"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(v["version"], v["current"]) for v in lines] == [(1, False), (2, True)]
    assert lines[1]["definition"]["message"]["body"] == "v2 {{ ExternalTrigger.steps }}"
    for verb, state in (("pause", "paused"), ("resume", "active"), ("stop", "stopped")):
        assert main([verb, "--db", db, "--campaign", "steps"]) == 0
        assert json.loads(capsys.readouterr().out) == {
            "kind": "campaign",
            "id": "steps",
            "state": state,
        }
    assert main(["resume", "--db", db, "--campaign", "steps"]) == 2
    assert "stopped and cannot be resumed" in capsys.readouterr().err
    assert main(["pause", "--db", db, "--bulletin", "nope"]) == 2
    assert "no bulletin with id 'nope'" in capsys.readouterr().err
    with tidings.Workspace.sqlite(db, clock=story.fixed_clock) as reopened:
        assert _trigger(reopened).response["error"] == "Campaign Stopped"


def test_a_multi_campaign_call_naming_a_stopped_campaign_sends_nothing(workspace):
    workspace.publish_campaign(_campaign())
    other = workspace.publish_campaign({**_campaign(), "id": "other"})
    workspace.stop("campaign", "steps")
    body = {
        "to": {"identity": ["user-0001"]},
        "campaign_id_list": [other, "steps"],
        "ExternalTrigger": {"steps": 1},
    }
    result = workspace.trigger_campaigns(body)
    assert result.response["status"] == "fail"
    assert result.response["error"].endswith("Campaign Stopped")
    assert workspace.ledger.outcomes("other") == []
    workspace.publish_campaign({**_campaign("v2 {{ ExternalTrigger.steps }}"), "id": "other"})
    body["campaign_id_list"] = [other]
    assert workspace.trigger_campaigns(body).ok
    assert {row["version"] for row in workspace.ledger.outcomes("other")} == {2}
