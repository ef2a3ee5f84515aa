"""Results users can hold (issue 11, point 6): kept records are sequences; email addresses."""


def _email_campaign(ws) -> str:
    return ws.publish_campaign(
        {
            "name": "Hello",
            "message": {"channel": "email", "subject": "Hi", "html": "<p>Hi</p>"},
        }
    )


def test_kept_deliveries_and_skips_are_sequences(story):
    ws = story.make_workspace("memory", None, users=20)
    cid = _email_campaign(ws)
    # user-0000 and user-0007 have no email: two skips; plus one unknown identity.
    identities = ["user-0000", "user-0001", "user-0002", "user-0007", "nobody"]
    result = ws.trigger_campaign({"to": {"identity": identities}, "campaign_id": cid})
    deliveries, skips = result.deliveries, result.skips
    assert len(deliveries) == 2
    assert len(skips) == 3
    assert deliveries[0].identity == "user-0001"
    assert deliveries[-1].identity == "user-0002"
    assert [d.identity for d in deliveries[:1]] == ["user-0001"]
    # iterate as often as wanted: the same records each time
    assert list(deliveries) == list(deliveries) == list(result.deliveries)
    assert sorted(s.reason for s in skips) == ["no_email", "no_email", "unknown_identity"]
    assert deliveries == list(result.kept_deliveries)
    assert "RecordList" in repr(skips)


def test_records_sent_to_a_sink_leave_empty_sequences(story):
    ws = story.make_workspace("memory", None, users=5)
    cid = _email_campaign(ws)
    collected: list = []
    result = ws.trigger_campaign(
        {"to": {"identity": ["user-0001"]}, "campaign_id": cid}, sink=collected.append
    )
    assert len(collected) == 1
    assert len(result.deliveries) == 0
    assert list(result.skips) == []


def test_email_delivery_address_is_a_string(story):
    ws = story.make_workspace("memory", None, users=5)
    cid = _email_campaign(ws)
    result = ws.trigger_campaign({"to": {"identity": ["user-0001"]}, "campaign_id": cid})
    delivery = result.deliveries[0]
    assert delivery.to == ("viewer1@example.com",)
    assert delivery.address == "viewer1@example.com"


def test_push_delivery_has_no_single_address(story):
    ws = story.make_workspace("memory", None, users=5)
    cid = ws.publish_campaign(
        {"name": "P", "message": {"channel": "push", "title": "t", "body": "b"}}
    )
    result = ws.trigger_campaign({"to": {"identity": ["user-0001"]}, "campaign_id": cid})
    delivery = result.deliveries[0]
    assert delivery.to == ("tok-1",)
    assert delivery.address is None


def test_dispatch_and_stats_print_the_same_counts(story, tmp_path, capsys):
    import json

    from tidings.cli import main

    ws = story.make_workspace("sqlite", tmp_path, users=30)
    cid = _email_campaign(ws)
    ws.close()
    # Every 7th user has no email: non-technical errors the summary must not hide.
    trigger = tmp_path / "trigger.json"
    identities = [f"user-{i:04d}" for i in range(30)] + ["ghost"]
    trigger.write_text(json.dumps({"to": {"identity": identities}, "campaign_id": cid}))
    db = str(tmp_path / "ws.db")
    out = str(tmp_path / "out.jsonl")
    assert main(["dispatch", "--db", db, "--trigger", str(trigger), "--out", out]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["errors"] == {
        "technical": 0,
        "non_technical": 5,
        "by_reason": [{"reason": "no_email", "count": 5, "technical": False}],
    }
    assert main(["stats", "--db", db, "--format", "json"]) == 0
    (source,) = json.loads(capsys.readouterr().out)["sources"]
    for key in ("candidates", "qualified", "sent", "held_out", "capped", "filtered"):
        assert source[key] == summary[key], key
    assert source["errors"] == summary["errors"]
    assert source["skipped"] == summary["skipped"] == {"no_email": 5, "unknown_identity": 1}
