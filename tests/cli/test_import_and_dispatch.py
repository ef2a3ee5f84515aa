"""`tidings import` and `tidings dispatch` against a SQLite or PostgreSQL workspace, in-process."""

import json
import uuid

import pytest

from tidings.cli import main


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request, tmp_path, capsys):
    """The ``--db`` of a test: an SQLite file, or a PostgreSQL DSN (migrated first)."""
    if request.param == "sqlite":
        return str(tmp_path / "ws.db")
    cluster = request.getfixturevalue("postgres_cluster")
    schema = f"cli_{uuid.uuid4().hex[:12]}"
    dsn = cluster.dsn("tidings") + f"&options=-c%20tidings.schema%3D{schema}"
    assert main(["migrate", "--db", dsn]) == 0
    from tidings.storage._pg import SCHEMA_VERSION

    assert json.loads(capsys.readouterr().out)["to_version"] == SCHEMA_VERSION
    return dsn


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
                "body": "Hi {{ Profile.name }}",
            },
            "published": True,
        }
    ],
    "campaigns": [
        {
            "name": "Upgrade",
            "message": {
                "channel": "webhook",
                "url": "https://x.example/u",
                "body": '{"plan": "{{ ExternalTrigger.plan }}"}',
            },
        }
    ],
}


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _workspace(tmp_path, capsys, db=None):
    profiles = tmp_path / "profiles.jsonl"
    events = tmp_path / "events.jsonl"
    _write_jsonl(
        profiles,
        [{"identity": f"u{i}", "name": f"User {i}", "push_tokens": [f"t{i}"]} for i in range(10)],
    )
    _write_jsonl(
        events,
        [
            {
                "identity": f"u{i}",
                "name": "Movie Watched",
                "properties": {"genre": "Drama" if i % 2 else "Comedy"},
                "timestamp": "2026-11-01T10:00:00+00:00",
            }
            for i in range(10)
        ],
    )
    definitions = tmp_path / "defs.json"
    definitions.write_text(json.dumps(DEFINITIONS), encoding="utf-8")
    db = db or tmp_path / "ws.db"
    code = main(
        [
            "import",
            "--db",
            str(db),
            "--profiles",
            str(profiles),
            "--events",
            str(events),
            "--definitions",
            str(definitions),
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "profiles": 10,
        "events": 10,
        "campaign_ids": ["1"],
    }
    return db


def test_dispatch_business_event_writes_deliveries(tmp_path, capsys, db_target):
    db = _workspace(tmp_path, capsys, db_target)
    body = tmp_path / "raise.json"
    body.write_text(
        json.dumps(
            {
                "business_event": "Program Released",
                "name": "ep 1",
                "properties": {"genre": "Drama"},
                "c-by": "me",
                "when": "now",
            }
        )
    )
    out = tmp_path / "deliveries.jsonl"
    code = main(["dispatch", "--db", str(db), "--business-event", str(body), "--out", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["response"] == {"status": "success", "targets": 1}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["identity"] for line in lines) == ["u1", "u3", "u5", "u7", "u9"]
    assert {line["payload"]["title"] for line in lines} == {"New Drama"}
    assert report["summary"]["sent"] == 5


def test_dispatch_trigger_and_fail_response(tmp_path, capsys, db_target):
    db = _workspace(tmp_path, capsys, db_target)
    body = tmp_path / "trigger.json"
    body.write_text(
        json.dumps(
            {
                "campaign_id": "1",
                "to": {"identity": ["u1", "nobody"]},
                "ExternalTrigger": {"plan": "Pro"},
            }
        )
    )
    out = tmp_path / "out.jsonl"
    assert (
        main(["dispatch", "--db", str(db), "--trigger", str(body), "--out", str(out), "--skips"])
        == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["type"], line["identity"]) for line in lines] == [
        ("delivery", "u1"),
        ("skip", "nobody"),
    ]
    assert lines[0]["payload"]["body"] == {"plan": "Pro"}
    capsys.readouterr()
    body.write_text(json.dumps({"campaign_id": "9", "to": {"identity": ["u1"]}}))
    assert main(["dispatch", "--db", str(db), "--trigger", str(body), "--out", str(out)]) == 1
    assert json.loads(capsys.readouterr().out)["response"]["error"] == "Campaign Not Found"


def test_dispatch_usage_errors(tmp_path, capsys):
    assert (
        main(["dispatch", "--db", str(tmp_path / "none.db"), "--trigger", str(tmp_path / "x.json")])
        == 2
    )
    body = tmp_path / "b.json"
    body.write_text("{}")
    assert main(["dispatch", "--db", str(tmp_path / "none.db"), "--trigger", str(body)]) == 2
    assert "no workspace" in capsys.readouterr().err


def test_progress_passes_resume_to_the_file_sink(tmp_path):
    import io

    from tidings.cli._dispatch import Progress
    from tidings.sinks import JsonLinesSink

    out = tmp_path / "d.jsonl"
    out.write_text('{"type":"delivery","idempotency_key":"k1"}\n{"type":"deli', encoding="utf-8")
    with JsonLinesSink(out) as sink:
        progress = Progress(sink, io.StringIO(), enabled=False)
        progress.resume({"k1", "k2"})
    assert out.read_text(encoding="utf-8") == '{"type":"delivery","idempotency_key":"k1"}\n'


def test_progress_forwards_encoded_lines_and_flush(tmp_path):
    import io
    from datetime import UTC, datetime

    from tidings.cli._dispatch import Progress
    from tidings.dispatch import LineSink
    from tidings.models.records import Delivery, encode_line
    from tidings.sinks import JsonLinesSink

    delivery = Delivery(
        "campaign",
        "c",
        "u1",
        "push",
        {"title": "t"},
        datetime(2026, 1, 1, tzinfo=UTC),
        "k",
        ("tok",),
    )
    out = tmp_path / "d.jsonl"
    with JsonLinesSink(out) as sink:
        progress = Progress(sink, io.StringIO(), enabled=False)
        assert isinstance(progress, LineSink)
        progress.write_encoded(delivery, encode_line(delivery))
        progress.flush()
        assert (
            out.read_text(encoding="utf-8") == encode_line(delivery) + "\n"
        )  # on disk after flush
    assert (progress.count, progress.sent) == (1, 1)


def test_progress_takes_whole_chunks_so_the_cli_gets_the_encoded_path(tmp_path):
    import io
    from datetime import UTC, datetime

    from tidings.cli._dispatch import Progress
    from tidings.dispatch.commit import ChunkSink
    from tidings.models.records import Delivery, Skip, encode_line
    from tidings.sinks import JsonLinesSink
    from tidings.storage.ledger import outcome_row

    at = datetime(2026, 1, 1, tzinfo=UTC)
    delivery = Delivery("bulletin", "b", "u1", "push", {"title": "t"}, at, "k", ("tok",))
    skip = Skip("bulletin", "b", "u2", "no_push_token")
    rows = [outcome_row(r, "d", at.isoformat(), 1) for r in (delivery, skip)]
    lines = [encode_line(delivery), encode_line(skip)]
    out = tmp_path / "d.jsonl"
    with JsonLinesSink(out, include_skips=True) as sink:
        progress = Progress(sink, io.StringIO(), enabled=False)
        assert isinstance(progress, ChunkSink)
        assert progress.include_skips
        progress.write_lines(lines, rows)
    assert out.read_text(encoding="utf-8") == "".join(line + "\n" for line in lines)
    assert (progress.count, progress.sent) == (2, 1)


def _bad_profiles(tmp_path):
    path = tmp_path / "profiles.jsonl"
    lines = [
        json.dumps({"identity": "u1"}),
        "{oops",
        json.dumps({"identity": "u2", "nickname": "x"}),
        json.dumps({"identity": "u3"}),
        json.dumps({"identity": "u4", "properties": {"city": "\ud800"}}, ensure_ascii=True),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _profile_count(db):
    from tidings import Workspace

    with Workspace.sqlite(db) as ws:
        return ws.store.count_profiles()


def test_import_reports_every_bad_line_and_imports_nothing(tmp_path, capsys):
    profiles = _bad_profiles(tmp_path)
    db = tmp_path / "ws.db"
    assert main(["import", "--db", str(db), "--profiles", str(profiles)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[:3] == [
        f"tidings import: bad line: {profiles}, line 2: not valid JSON "
        "(Expecting property name enclosed in double quotes at column 2)",
        f"tidings import: bad line: {profiles}, line 3: invalid profile "
        "(nickname: Extra inputs are not permitted)",
        f"tidings import: bad line: {profiles}, line 5: text at properties.city holds a lone "
        "surrogate (not valid Unicode)",
    ]
    assert lines[3].startswith("tidings import: 3 bad lines; nothing imported")
    assert len(lines) == 4
    assert _profile_count(db) == 0


def test_import_skip_bad_imports_the_good_lines_with_counts(tmp_path, capsys):
    profiles = _bad_profiles(tmp_path)
    db = tmp_path / "ws.db"
    assert main(["import", "--db", str(db), "--profiles", str(profiles), "--skip-bad"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "profiles": 2,
        "events": 0,
        "campaign_ids": [],
        "skipped_lines": 3,
    }
    assert [line.split(", line ")[1][0] for line in err.splitlines()] == ["2", "3", "5"]
    assert _profile_count(db) == 2


def test_a_dsn_without_the_schema_says_to_migrate(postgres_cluster, tmp_path, capsys):
    dsn = postgres_cluster.dsn("tidings") + "&options=-c%20tidings.schema%3Dnever_migrated"
    body = tmp_path / "b.json"
    body.write_text("{}")
    code = main(["dispatch", "--db", dsn, "--trigger", str(body), "--out", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err
    assert "is at version 0" in err
    assert "tidings migrate" in err


def test_an_unreachable_dsn_is_one_line_exit_2(tmp_path, capsys):
    dsn = f"postgresql://nobody@/none?host={tmp_path}"
    assert main(["migrate", "--db", dsn]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tidings: error: --db postgresql://nobody@/none")
    assert len(err.strip().splitlines()) == 1
    assert main(["stats", "--db", dsn]) == 2
    assert "cannot connect to PostgreSQL" in capsys.readouterr().err


def test_migrate_an_sqlite_file_records_its_version(tmp_path, capsys):
    db = tmp_path / "new.db"
    assert main(["migrate", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "db": str(db),
        "from_version": 0,
        "to_version": 2,
    }
    assert main(["migrate", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["from_version"] == 2
