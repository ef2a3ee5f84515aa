"""An activity-log entry and its once-marker are written together or not at all."""

import sqlite3

import pytest

from tidings.storage import MemoryRegistry, SQLiteRegistry


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def registry(request, tmp_path):
    if request.param == "postgres":
        from tidings.storage.postgres_registry import PostgresRegistry

        reg = PostgresRegistry(request.getfixturevalue("postgres_dsn"))
    else:
        reg = MemoryRegistry() if request.param == "memory" else SQLiteRegistry(tmp_path / "r.db")
    yield reg
    reg.close()


def test_an_entry_with_a_marker_is_logged_once(registry):
    assert registry.log_activity({"n": 1}, once="activity:d1:b1") is True
    assert registry.log_activity({"n": 1}, once="activity:d1:b1") is False
    assert registry.log_activity({"n": 2}, once="activity:d1:b2") is True
    assert registry.log_activity({"n": 3}) is True
    assert [e["n"] for e in registry.activity()] == [3, 2, 1]
    assert registry.saved_response("activity:d1:b1") == {"logged": True}


def test_a_failed_entry_leaves_no_marker_behind(tmp_path):
    path = tmp_path / "r.db"
    registry = SQLiteRegistry(path)
    other = sqlite3.connect(path)
    other.execute("ALTER TABLE activity RENAME TO activity_gone")  # the entry's write fails
    other.commit()
    other.close()
    with pytest.raises(sqlite3.OperationalError):
        registry.log_activity({"n": 1}, once="activity:d1:b1")
    assert registry.saved_response("activity:d1:b1") is None  # so a resumed run logs it
    registry.close()
