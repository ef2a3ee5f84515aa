"""The encoded path (a JsonLinesSink): the record path's bytes, any worker count.

A bulletin dispatched to a :class:`~tidings.JsonLinesSink` sends store rows to the
workers and gets ledger rows and JSON lines back (``run_encoded``), a campaign its
screened recipients (``run_encoded_recipients``); any other sink takes the record
path. Both must write the same file, the same ledger rows and
the same summary.
"""

import shutil

import pytest
from tests.dispatch.test_speed_paths import BULLETIN, NOW, RAISE, SMALL_CHUNK, _make
from tests.dispatch.test_workers import _campaign_body, seed_workspace

import tidings
import tidings.dispatch.run as run_module
from tidings.dispatch.eligibility import Person
from tidings.models.filters import AudienceQuery
from tidings.models.users import UserProfile
from tidings.storage import MemoryStore, SQLiteStore


@pytest.fixture
def small_chunks(monkeypatch):
    """Several chunks per dispatch, and a count of the dispatches on the encoded path."""
    monkeypatch.setattr(run_module, "CHUNK_SIZE", SMALL_CHUNK)
    encoded = run_module.run_encoded
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return encoded(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_encoded", counted)
    return calls


class _RecordSink:
    """A plain callable around a JsonLinesSink: the record path, the same lines."""

    def __init__(self, sink):
        self.sink = sink

    def __call__(self, record):
        self.sink(record)


def _dispatch(kind, tmp_path, name, *, workers, encoded, include_skips, capped):
    ws = _make(kind, tmp_path, workers=workers, name=name)
    if not capped:
        ws.publish_bulletin(dict(BULLETIN, targeting_cap=None))
    out = tmp_path / f"{name}.jsonl"
    with tidings.JsonLinesSink(out, include_skips=include_skips) as sink:
        result = ws.raise_business_event(RAISE, sink=sink if encoded else _RecordSink(sink))
    outcomes = ws.ledger.outcomes("drama")
    ws.close()
    return out.read_bytes(), result.summary.to_dict(), outcomes


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("capped", [True, False])
@pytest.mark.parametrize("include_skips", [True, False])
def test_encoded_path_writes_the_record_paths_bytes(
    kind, tmp_path, small_chunks, include_skips, capped
):
    options = {"include_skips": include_skips, "capped": capped}
    record = _dispatch(kind, tmp_path, "record", workers=1, encoded=False, **options)
    assert small_chunks == []  # the record path
    encoded = _dispatch(kind, tmp_path, "encoded", workers=1, encoded=True, **options)
    assert small_chunks == [1]
    assert encoded == record
    lines, summary, outcomes = encoded
    assert summary["sent"] == (
        60
        if capped
        else summary["qualified"]
        - sum(n for reason, n in summary["skipped"].items() if reason != "filtered_out")
    )
    assert lines.count(b'"type":"delivery"') == summary["sent"]
    assert len(outcomes) == summary["candidates"]
    if include_skips:
        assert b'"type":"skip"' in lines


@pytest.mark.parametrize("capped", [True, False])
def test_encoded_path_is_byte_identical_for_any_worker_count(tmp_path, small_chunks, capped):
    options = {"include_skips": True, "capped": capped, "encoded": True}
    one = _dispatch("sqlite", tmp_path, "one", workers=1, **options)
    two = _dispatch("sqlite", tmp_path, "two", workers=2, **options)
    assert small_chunks == [1, 1]
    assert one == two


def test_sqlite_rows_make_the_people_profiles_make(tmp_path):
    sqlite, memory = _make("sqlite", tmp_path), _make("memory", tmp_path)
    bulletin = sqlite.bulletins["drama"]
    query = AudienceQuery.for_rows(bulletin.match, RAISE["properties"], segment=bulletin.segment)
    store = sqlite.store
    assert isinstance(store, SQLiteStore)
    assert isinstance(memory.store, MemoryStore)
    rows = [row for batch in store.iter_audience_rows(query, now=NOW) for row in batch]
    profiles = list(store.iter_audience(query, now=NOW))
    assert [row[0] for row in rows] == [p.identity for p in profiles]
    assert len(rows) > 100
    for row, profile in zip(rows, profiles, strict=True):
        assert isinstance(row[3], str)
        assert isinstance(row[5], str)
        assert Person.from_row(row) == Person.of(profile)
        decoded = (
            profile.identity,
            profile.name,
            profile.email,
            profile.push_tokens,
            profile.timezone,
            profile.properties,
        )
        assert Person.from_row(decoded) == Person.of(profile)
    sqlite.close()


def test_big_integers_in_properties_survive_the_row_decoding(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    big = {"id": 2**70, "neg": -(2**64), "f": 0.1, "s": "12345678901234567890"}
    profile = UserProfile.model_validate({"identity": "u", "properties": big})
    store.upsert_profiles([profile])
    rows = [row for b in store.iter_audience_rows(AudienceQuery(), now=NOW) for row in b]
    assert Person.from_row(rows[0]).profile == Person.of(profile).profile
    assert Person.from_row(rows[0]).profile["id"] == 2**70
    store.close()


# -- campaigns (External Trigger) on the encoded path ------------------------------------


@pytest.fixture
def small_campaign_chunks(monkeypatch):
    """Several chunks per campaign, and a count of the campaigns on the encoded path."""
    monkeypatch.setattr(run_module, "CHUNK_SIZE", SMALL_CHUNK)
    encoded = run_module.run_encoded_recipients
    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return encoded(*args, **kwargs)

    monkeypatch.setattr(run_module, "run_encoded_recipients", counted)
    return calls


@pytest.fixture(scope="module")
def campaign_db(tmp_path_factory):
    """The campaign workspace of test_workers: filters, control group, caps, earlier emails."""
    return seed_workspace(tmp_path_factory.mktemp("encoded") / "seed.db")


def _trigger(seed_db, tmp_path, name, *, workers, encoded, include_skips):
    path = tmp_path / f"{name}.db"
    shutil.copy(seed_db, path)
    out = tmp_path / f"{name}.jsonl"
    with (
        tidings.Workspace.sqlite(path, clock=lambda: NOW, workers=workers) as ws,
        tidings.JsonLinesSink(out, include_skips=include_skips) as sink,
    ):
        result = ws.trigger_campaign(_campaign_body(), sink=sink if encoded else _RecordSink(sink))
        outcomes = ws.ledger.outcomes("orders")
    return out.read_bytes(), result.response, result.summary.to_dict(), outcomes


@pytest.mark.parametrize("include_skips", [True, False])
def test_campaign_on_the_encoded_path_writes_the_record_paths_bytes(
    campaign_db, tmp_path, small_campaign_chunks, include_skips
):
    seed_db = campaign_db
    record = _trigger(seed_db, tmp_path, "r", workers=1, encoded=False, include_skips=include_skips)
    assert small_campaign_chunks == []  # the record path
    one = _trigger(seed_db, tmp_path, "e1", workers=1, encoded=True, include_skips=include_skips)
    two = _trigger(seed_db, tmp_path, "e2", workers=2, encoded=True, include_skips=include_skips)
    assert small_campaign_chunks == [1, 1]
    assert one == record
    assert two == record
    lines, _, summary, outcomes = one
    assert summary["sent"] == 100  # the targeting cap
    assert lines.count(b'"type":"delivery"') == 100
    assert len(outcomes) == summary["candidates"]
    if include_skips:
        for reason in ("unknown_identity", "filtered_out", "missing_trigger_key", "frequency_cap"):
            assert f'"reason":"{reason}"'.encode() in lines
