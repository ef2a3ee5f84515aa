"""An import is all or nothing: a store error on any row leaves the store as it was.

The failure is a real database error raised by the database itself (an SQLite or
PostgreSQL trigger refusing one row) after a batch of 5,000 rows has been
written, so batching cannot hide a partial import.
"""

import json

import pytest

from tidings.storage import MemoryStore, SQLiteStore
from tidings.storage.base import Transactional
from tidings.storage.jsonl import import_jsonl
from tidings.storage.memory import BATCH_SIZE

ROWS = BATCH_SIZE + 10
FAIL_AT = BATCH_SIZE + 5  # in the second batch: one batch is written before it
TS = "2024-05-30T10:00:00+00:00"


class InjectedError(Exception):
    """The failure the memory store's fault injection raises."""


def _identity(row: int) -> str:
    return f"u{row:06d}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def failing_store(request, tmp_path):
    """A store with one existing profile and event, whose next write of row FAIL_AT fails."""
    bad = _identity(FAIL_AT)
    if request.param == "memory":
        store = MemoryStore()
    elif request.param == "sqlite":
        store = SQLiteStore(tmp_path / "s.db")
    else:
        from tidings.storage.postgres import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_dsn"))
    store.upsert_profiles([_profile("keep")])
    store.append_events([_event("keep")])
    if request.param == "memory":
        _inject_memory_failure(request, store, bad)
    elif request.param == "sqlite":
        conn = store._connection()
        for table in ("profiles", "events"):
            conn.execute(
                f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                f"WHEN NEW.identity = '{bad}' BEGIN SELECT RAISE(ABORT, 'injected'); END"
            )
    else:
        with store._connections.connection() as conn:
            conn.execute(
                "CREATE FUNCTION fail_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.identity = '{bad}' THEN RAISE EXCEPTION 'injected'; END IF; "
                "RETURN NEW; END $$"
            )
            for table in ("profiles", "events"):
                conn.execute(
                    f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION fail_row()"
                )
    yield store
    store.close()


def _inject_memory_failure(request, store, bad):
    monkeypatch = request.getfixturevalue("monkeypatch")
    add_event = store._add_event

    def failing_add_event(event):
        if event.identity == bad:
            raise InjectedError("injected")
        add_event(event)

    monkeypatch.setattr(store, "_add_event", failing_add_event)
    upsert = MemoryStore.upsert_profiles

    def failing_upsert(self, profiles):
        def checked():
            for profile in profiles:
                if profile.identity == bad:
                    raise InjectedError("injected")
                yield profile

        return upsert(self, checked())

    monkeypatch.setattr(MemoryStore, "upsert_profiles", failing_upsert)


def _profile(identity):
    from tidings.models.users import UserProfile

    return UserProfile(identity=identity, name="Kept", properties={"plan": "gold"})


def _event(identity):
    from tidings.models.users import UserEvent

    return UserEvent.model_validate(
        {"identity": identity, "name": "Kept", "timestamp": TS, "properties": {"sku": "A"}}
    )


def _snapshot(store):
    profiles = {
        identity: store.get_profile(identity)
        for identity in ["keep", *(_identity(row) for row in (0, BATCH_SIZE, FAIL_AT - 1))]
    }
    events = {
        identity: store.events_for(identity)
        for identity in ["keep", _identity(0), _identity(FAIL_AT - 1)]
    }
    return store.count_profiles(), profiles, events


def _file(tmp_path, kind):
    path = tmp_path / f"{kind}.jsonl"
    with path.open("w") as out:
        for row in range(ROWS):
            if kind == "profiles":
                line = {"identity": _identity(row), "name": f"N{row}"}
            else:
                line = {
                    "identity": _identity(row),
                    "name": "Bought",
                    "timestamp": TS,
                    "properties": {"sku": f"S{row}"},
                }
            out.write(json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize("kind", ["profiles", "events"])
@pytest.mark.parametrize("skip_bad", [False, True])
def test_a_store_error_mid_import_leaves_the_store_unchanged(
    failing_store, tmp_path, kind, skip_bad
):
    path = _file(tmp_path, kind)
    before = _snapshot(failing_store)
    with pytest.raises(Exception, match="injected"):
        import_jsonl(failing_store, path, kind, skip_bad=skip_bad)
    assert _snapshot(failing_store) == before
    assert failing_store.count_profiles() == 1
    # The store still works, and a good import afterwards writes every row.
    failing_store.upsert_profiles([_profile("after")])
    assert failing_store.get_profile("after") is not None


def test_profiles_and_events_in_one_transaction_are_undone_together(failing_store, tmp_path):
    profiles = _file(tmp_path, "profiles")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"identity": "x1", "name": "Bought", "timestamp": TS}) + "\n")
    before = _snapshot(failing_store)
    assert isinstance(failing_store, Transactional)

    def import_all():
        with failing_store.transaction():
            failing_store.upsert_profiles([_profile("first")])
            assert import_jsonl(failing_store, events, "events").imported == 1
            import_jsonl(failing_store, profiles, "profiles")  # fails on row FAIL_AT

    with pytest.raises(Exception, match="injected"):
        import_all()
    assert _snapshot(failing_store) == before
    assert failing_store.get_profile("first") is None
    assert failing_store.events_for("x1") == []


def test_a_good_import_commits_every_batch(store, tmp_path):
    result = import_jsonl(store, _file(tmp_path, "profiles"), "profiles")
    assert result.imported == ROWS
    assert store.count_profiles() == ROWS
    assert store.get_profile(_identity(ROWS - 1)) is not None


def test_writes_inside_a_transaction_commit_together(store):
    assert isinstance(store, Transactional)
    with store.transaction():
        store.upsert_profiles([_profile("a")])
        store.append_events([_event("a")])
        with store.transaction():  # nested: part of the outer one
            store.upsert_profiles([_profile("b")])
    assert store.count_profiles() == 2
    assert [e.name for e in store.events_for("a")] == ["Kept"]
