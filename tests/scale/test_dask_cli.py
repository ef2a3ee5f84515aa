"""`tidings dispatch --dask` and `--parquet`, in-process, against the session's cluster."""

import json
from datetime import UTC, datetime, timedelta

import pytest

import tidings
from tidings.cli import main

pytest.importorskip("distributed", reason="the dask extra is not installed")
pytest.importorskip("pyarrow", reason="the dask extra is not installed")

from tidings.storage.parquet import ParquetStore

DEFINITIONS = {
    "business_events": [{"name": "Program Released", "properties": ["genre"]}],
    "bulletins": [
        {
            "id": "genre",
            "name": "New in your genre",
            "business_event": "Program Released",
            "match": [
                {"business_property": "genre", "event": "Movie Watched", "event_property": "genre"}
            ],
            "message": {
                "channel": "push",
                "title": "New {{ BusinessEvent.genre }}",
                "body": "Hi {{ Profile.name | default: 'there' }}",
            },
            "targeting_cap": 150,
            "control_group": {"kind": "campaign", "percent": 20},
            "published": True,
        }
    ],
    "campaigns": [
        {
            "id": "hello",
            "name": "hello",
            "message": {
                "channel": "push",
                "title": "Hi {{ Profile.name }}",
                "body": "{{ ExternalTrigger.x }}",
            },
            "targeting_cap": 100,
            "control_group": {"kind": "campaign", "percent": 20},
        }
    ],
}
BODY = {
    "business_event": "Program Released",
    "name": "Drama night",
    "properties": {"genre": "Drama"},
    "c-by": "cli",
    "when": "now",
    "idempotency_key": "cli-1",
}


@pytest.fixture
def setup(tmp_path):
    """Two SQLite workspaces with the definitions, a Parquet audience, the body."""
    defs = tmp_path / "defs.json"
    defs.write_text(json.dumps(DEFINITIONS), encoding="utf-8")
    for name in ("one.db", "dask.db"):
        assert main(["import", "--db", str(tmp_path / name), "--definitions", str(defs)]) == 0
    store = ParquetStore(tmp_path / "audience", partitions=4)
    store.upsert_profiles(
        tidings.UserProfile(identity=f"u{i:04d}", name=f"U{i}", push_tokens=(f"t{i}",))
        for i in range(600)
    )
    when = datetime.now(UTC) - timedelta(days=1)
    store.append_events(
        tidings.UserEvent(
            identity=f"u{i:04d}",
            name="Movie Watched",
            properties={"genre": "Drama"},
            timestamp=when,
        )
        for i in range(0, 600, 2)
    )
    body = tmp_path / "raise.json"
    body.write_text(json.dumps(BODY), encoding="utf-8")
    return tmp_path


def test_dispatch_on_dask_writes_what_one_process_writes(client, setup, capsys):
    base = ["dispatch", "--business-event", str(setup / "raise.json"), "--parquet"]
    base.append(str(setup / "audience"))
    one = setup / "one.jsonl"
    assert main([*base, "--db", str(setup / "one.db"), "--out", str(one)]) == 0
    expected = json.loads(capsys.readouterr().out)
    address = client.scheduler.address
    out = setup / "dask-out"
    dask_args = ["--db", str(setup / "dask.db"), "--out", str(out), "--dask", address]
    assert main([*base, *dask_args]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["summary"] == expected["summary"]
    assert report["summary"]["sent"] == 150  # the cap: slots go to users not held out
    assert report["summary"]["held_out"] > 0
    assert captured.err.count("partition part-") == 4  # progress per partition
    lines = [line for p in out.rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert _unsent(lines) == _unsent(one.read_text().splitlines())


def test_a_campaign_call_on_dask_writes_what_one_process_writes(client, setup, capsys):
    call = {"campaign_id": "hello", "to": {"identity": [f"u{i:04d}" for i in range(400)]}}
    call["idempotency_key"] = "cli-call"
    (setup / "call.json").write_text(json.dumps(dict(call, ExternalTrigger={"x": 1})))
    base = ["dispatch", "--trigger", str(setup / "call.json"), "--parquet", str(setup / "audience")]
    one = setup / "one.jsonl"
    assert main([*base, "--db", str(setup / "one.db"), "--out", str(one), "--skips"]) == 0
    expected = json.loads(capsys.readouterr().out)
    out = setup / "dask-out"
    dask = ["--db", str(setup / "dask.db"), "--out", str(out), "--skips"]
    assert main([*base, *dask, "--dask", client.scheduler.address]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["response"] == expected["response"]
    assert report["summary"] == expected["summary"]
    assert report["summary"]["sent"] == 100
    lines = [line for p in out.rglob("*.jsonl") for line in p.read_text().splitlines()]
    assert _unsent(lines) == _unsent(one.read_text().splitlines())


def _unsent(lines):
    """The records without their send time (the two runs read the real clock)."""
    records = [json.loads(line) for line in lines]
    for record in records:
        record.pop("send_at", None)
    return sorted(records, key=lambda r: r["identity"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dask", "local:0"], "local:N takes a number of workers"),
        (["--dask", "local:2", "--business-event", "raise.json"], "--dask needs --parquet"),
        (
            ["--dask", "local:2", "--business-event", "raise.json", "--parquet", "one.db"],
            "no partitions",
        ),
    ],
)
def test_dask_usage_errors(setup, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(setup)
    args = ["dispatch", "--db", "one.db", "--out", "o"]
    if "--business-event" not in extra and "--trigger" not in extra:
        args += ["--business-event", "raise.json", "--parquet", "audience"]
    assert main([*args, *extra]) != 0
    assert message in capsys.readouterr().err
