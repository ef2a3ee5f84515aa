"""The seeded demo data generator and the ``tidings demo`` job (small sizes)."""

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

import tidings
from tidings.cli import EXIT_OK, EXIT_USAGE, main
from tidings.demo_data import (
    DEMO_NOW,
    DemoConfig,
    generate_user,
    identity_of,
    iter_users,
    load_definitions,
    populate,
    populate_sqlite,
    run_demo,
)
from tidings.storage.memory import MemoryStore

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "templates" / "demo" / "demo.json"


def dump(config: DemoConfig, start: int = 0, stop: int | None = None) -> list:
    return [
        (profile.model_dump(mode="json"), [e.model_dump(mode="json") for e in events])
        for profile, events in iter_users(config, start, stop)
    ]


def test_same_seed_same_data_other_seed_other_data():
    config = DemoConfig(users=50, seed=11)
    assert dump(config) == dump(DemoConfig(users=50, seed=11))
    assert dump(config) != dump(DemoConfig(users=50, seed=12))


def test_a_user_does_not_depend_on_the_users_before_it():
    config = DemoConfig(users=1000)
    profile, events = generate_user(config, 777)
    assert dump(config, 777, 778) == [
        (profile.model_dump(mode="json"), [e.model_dump(mode="json") for e in events])
    ]
    assert profile.identity == identity_of(777) == "user-000777"


def test_generated_data_is_valid_and_realistic():
    config = DemoConfig(users=400)
    names: dict[str, int] = {}
    total = 0
    for profile, events in iter_users(config):
        # model_construct skipped validation: validating again must pass.
        tidings.UserProfile.model_validate(profile.model_dump())
        assert profile.timezone
        assert profile.properties["customerType"] in ("Gold", "Silver", "Bronze")
        timestamps = [e.timestamp for e in events]
        assert timestamps == sorted(timestamps)
        for event in events:
            tidings.UserEvent.model_validate(event.model_dump())
            assert DEMO_NOW - timedelta(days=config.history_days) <= event.timestamp <= DEMO_NOW
            names[event.name] = names.get(event.name, 0) + 1
        total += len(events)
    assert total / config.users == pytest.approx(config.events_per_user, rel=0.15)
    assert set(names) == {
        "App Launched",
        "Movie Watched",
        "Product Viewed",
        "Added To Cart",
        "Order Placed",
    }


def test_populate_any_store():
    store = MemoryStore()
    users, events = populate(store, DemoConfig(users=120), chunk=50)
    assert users == store.count_profiles() == 120
    assert events == sum(len(e) for _, e in iter_users(DemoConfig(users=120)))
    assert store.events_for("user-000042") == generate_user(DemoConfig(users=120), 42)[1]


def test_populate_sqlite_in_two_processes_writes_the_same_data(tmp_path):
    config = DemoConfig(users=240, events_per_user=6)
    lines: list[str] = []
    one = populate_sqlite(tmp_path / "one.db", config, workers=1, chunk=40)
    two = populate_sqlite(tmp_path / "two.db", config, workers=2, chunk=40, progress=lines.append)
    assert one == two == (240, sum(len(e) for _, e in iter_users(config)))
    assert lines[-1].startswith("  users       240 / 240")

    def content(path):
        with sqlite3.connect(path) as conn:
            profiles = conn.execute("SELECT * FROM profiles ORDER BY identity").fetchall()
            events = conn.execute(
                "SELECT identity, name, ts, properties FROM events ORDER BY identity, ts, name"
            ).fetchall()
        return profiles, events

    assert content(tmp_path / "one.db") == content(tmp_path / "two.db")


def test_definitions_resolve_the_example_messages():
    spec = load_definitions(DEFINITIONS)
    order = next(c for c in spec["campaigns"] if c["id"] == "order-summary")
    example = json.loads((REPO / "templates" / "order-summary.email.json").read_text("utf-8"))
    assert order["message"] == example
    assert all("sample_data" in t for t in spec["triggers"])


def test_missing_definitions_file_is_a_definition_error(tmp_path):
    with pytest.raises(tidings.DefinitionError, match="cannot read"):
        load_definitions(tmp_path / "nope.json")


def test_run_demo_builds_then_reuses_then_rebuilds(tmp_path):
    lines: list[str] = []
    config = DemoConfig(users=300)
    first = run_demo(tmp_path, DEFINITIONS, config, progress=lines.append, workers=1)
    assert not first.reused
    assert first.users == 300
    assert any(line.startswith("[1/5] generating 300 users") for line in lines)
    deliveries = [json.loads(line) for line in first.deliveries.read_text("utf-8").splitlines()]
    assert len(deliveries) == first.delivered > 0
    assert {d["type"] for d in deliveries} == {"delivery"}
    assert sum(s.sent for s in first.stats.sources) == first.delivered
    assert first.report.read_text("utf-8").startswith("<!DOCTYPE html>")
    summary = first.summary()
    assert "built a workspace of 300 users" in summary
    assert f"report      {first.report}" in summary

    lines.clear()
    again = run_demo(tmp_path, DEFINITIONS, config, progress=lines.append, workers=1)
    assert again.reused
    assert lines[0].startswith("reusing")
    assert (again.users, again.events, again.delivered) == (300, first.events, first.delivered)
    assert again.stats.to_dict() == first.stats.to_dict()

    other = run_demo(tmp_path, DEFINITIONS, DemoConfig(users=300, seed=8), workers=1)
    assert not other.reused  # another seed: rebuilt
    fresh = run_demo(tmp_path, DEFINITIONS, DemoConfig(users=300, seed=8), fresh=True, workers=1)
    assert not fresh.reused
    assert fresh.stats.to_dict() == other.stats.to_dict()  # reproducible end to end


def test_demo_command_with_a_small_workspace(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out_dir = tmp_path / "demo"
    args = ["demo", "--users", "300", "--workers", "1", "--out", str(out_dir)]
    assert main(args) == EXIT_OK
    out, err = capsys.readouterr()
    assert "[3/5] raising business events and External Trigger calls" in err
    assert "tidings demo: built a workspace of 300 users" in out
    assert "New in your genre (push) [new-in-genre]" in out
    for name in ("workspace.db", "deliveries.jsonl", "report.html", "preview/index.html"):
        assert (out_dir / name).is_file(), name
    assert 'href="preview/index.html"' in (out_dir / "report.html").read_text("utf-8")
    assert main(args) == EXIT_OK
    assert "tidings demo: reused a workspace" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--users", "0"], "--users must be 1 or more"),
        (["demo", "--templates", "."], "demo definitions not found"),
    ],
)
def test_demo_command_usage_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path if "--templates" in argv else REPO)
    assert main([*argv, "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert message in capsys.readouterr().err
