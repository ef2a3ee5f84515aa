"""The registry: definitions, sequences, saved responses and the activity log."""

import pytest

import tidings
from tidings.storage import MemoryRegistry, Registry, SQLiteRegistry


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def registry(request, tmp_path):
    if request.param == "postgres":
        from tidings.storage.postgres_registry import PostgresRegistry

        reg = PostgresRegistry(request.getfixturevalue("postgres_dsn"))
    else:
        reg = MemoryRegistry() if request.param == "memory" else SQLiteRegistry(tmp_path / "r.db")
    yield reg
    reg.close()


def test_both_registries_satisfy_the_protocol(registry):
    assert isinstance(registry, Registry)


def test_definitions_sequences_responses_and_activity(registry):
    registry.save_definition("campaign", "1", {"name": "x"})
    registry.save_definition("campaign", "1", {"name": "y"})
    assert registry.definitions("campaign") == {"1": {"name": "y"}}
    assert registry.definitions("bulletin") == {}
    assert [registry.next_sequence("campaign") for _ in range(3)] == [1, 2, 3]
    assert registry.next_sequence("other") == 1
    registry.save_response("k", {"status": "success"})
    registry.save_response("k", {"status": "other"})  # first one wins
    assert registry.saved_response("k") == {"status": "success"}
    assert registry.saved_response("nope") is None
    registry.log_activity({"n": 1})
    registry.log_activity({"n": 2})
    assert registry.activity() == [{"n": 2}, {"n": 1}]


def test_a_saved_definition_is_a_copy(registry):
    body = {"name": "x", "tags": ["a"]}
    registry.save_definition("campaign", "1", body)
    body["tags"].append("b")
    assert registry.definitions("campaign") == {"1": {"name": "x", "tags": ["a"]}}


def test_sqlite_registry_survives_reopening(tmp_path):
    path = tmp_path / "r.db"
    first = SQLiteRegistry(path)
    first.save_definition("bulletin", "b", {"id": "b"})
    assert first.next_sequence("campaign") == 1
    first.close()
    again = SQLiteRegistry(path)
    assert again.definitions("bulletin") == {"b": {"id": "b"}}
    assert again.next_sequence("campaign") == 2
    again.close()


def test_workspace_keeps_definitions_in_the_registry_not_the_ledger(tmp_path):
    path = tmp_path / "ws.db"
    with tidings.Workspace.sqlite(path) as ws:
        assert isinstance(ws.registry, SQLiteRegistry)
        campaign_id = ws.publish_campaign(
            {"name": "c", "message": {"channel": "push", "title": "t", "body": "b"}}
        )
        assert set(ws.registry.definitions("campaign")) == {campaign_id}
        assert not hasattr(ws.ledger, "definitions")
    # an SQLite ledger given alone brings its registry in the same file
    ws = tidings.Workspace(tidings.SQLiteStore(path), tidings.SQLiteLedger(path))
    assert set(ws.registry.definitions("campaign")) == {campaign_id}
    ws.close()
    assert isinstance(tidings.Workspace().registry, MemoryRegistry)
