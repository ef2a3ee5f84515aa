"""Parquet files written by other tools: read (validated), and a bad row named by file and row."""

import json
from datetime import UTC, datetime

import pytest

from tidings.errors import EventError, ProfileError
from tidings.models.filters import AudienceQuery

pa = pytest.importorskip("pyarrow", reason="the dask extra is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="the dask extra is not installed")

from tidings.storage.parquet import ParquetStore, partition_name, partition_of  # noqa: E402 - after the skip checks

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _write_profiles(root, part, rows):
    folder = root / "profiles" / part
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "from-warehouse.parquet")


def _row(identity, **extra):
    row = {
        "identity": identity,
        "name": None,
        "email": None,
        "push_tokens": [],
        "timezone": None,
        "properties": json.dumps({"tier": "gold"}),
    }
    row.update(extra)
    return row


def test_a_warehouse_file_is_read_validated_and_normalized(tmp_path):
    _write_profiles(tmp_path, "p0", [_row("b", email="Ann@Example.COM"), _row("a")])
    store = ParquetStore(tmp_path)
    assert store.partition_names() == ["p0"]
    profiles = list(store.iter_audience(AudienceQuery(), now=NOW))
    assert [p.identity for p in profiles] == ["a", "b"]  # identity order
    assert profiles[1].email == "Ann@example.com"  # validated: the domain normalized
    assert profiles[0].properties == {"tier": "gold"}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (_row("x", email="not an address"), "email"),
        (_row("x", timezone="Mars/Olympus"), "timezone"),
        (_row("x", properties="[1, 2]"), "properties"),
        (_row("x", properties="{not json"), "properties"),
    ],
)
def test_a_bad_row_names_the_file_and_row(tmp_path, row, field):
    _write_profiles(tmp_path, "p0", [_row("fine"), row])
    with pytest.raises(ProfileError, match=r"from-warehouse\.parquet: row 2: ") as caught:
        list(ParquetStore(tmp_path).iter_audience(AudienceQuery(), now=NOW))
    assert caught.value.field == field
    assert caught.value.index == 1


def test_a_bad_event_row_names_the_file_and_row(tmp_path):
    _write_profiles(tmp_path, "p0", [_row("x")])
    folder = tmp_path / "events" / "p0"
    folder.mkdir(parents=True)
    rows = [{"identity": "x", "name": "", "timestamp": NOW, "properties": "{}"}]
    pq.write_table(pa.Table.from_pylist(rows), folder / "e.parquet")
    with pytest.raises(EventError, match=r"e\.parquet: row 1: "):
        ParquetStore(tmp_path).events_for("x")


def test_partitions_are_stable_and_spread():
    counts = [0] * 8
    for i in range(8_000):
        counts[partition_of(f"user-{i}", 8)] += 1
    assert min(counts) > 800  # about 1,000 each
    assert partition_of("user-1", 8) == partition_of("user-1", 8)
    assert partition_name(3) == "part-00003"


def _written_store(root):
    """A store tidings wrote: 300 users over 3 partitions, some rewritten, some with events."""
    from datetime import timedelta

    from tidings.models.users import UserEvent, UserProfile

    store = ParquetStore(root, partitions=3)
    store.upsert_profiles(
        UserProfile(
            identity=f"u{i:03d}",
            name=None if i % 4 else f"N{i}",
            push_tokens=(f"t{i}",) if i % 3 else (),
            timezone="Europe/Paris" if i % 2 else None,
            properties={"n": i, "big": 2**70, "f": 0.5, "tags": ["a"] if i % 5 else []},
        )
        for i in range(300)
    )
    store.upsert_profiles(
        UserProfile(identity=f"u{i:03d}", properties={"n": -i}) for i in range(0, 300, 7)
    )
    store.append_events(
        UserEvent(identity=f"u{i:03d}", name="Watched", timestamp=NOW - timedelta(hours=i))
        for i in range(0, 300, 2)
    )
    return store


QUERIES = {
    "everyone": AudienceQuery(),
    "profile filter": AudienceQuery(
        filters=({"kind": "property", "property": "n", "op": "gte", "value": 10},)
    ),
    "engaged": AudienceQuery(segment={"kind": "engaged", "engaged_days": 3}),
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
@pytest.mark.parametrize("one_partition", [True, False])
def test_audience_rows_make_the_people_profiles_make(tmp_path, query, one_partition):
    from tidings.dispatch.eligibility import Person

    store = _written_store(tmp_path)
    if one_partition:
        store = store.partition(partition_name(1))
    rows = [row for batch in store.iter_audience_rows(query, now=NOW) for row in batch]
    profiles = list(store.iter_audience(query, now=NOW))
    assert [row[0] for row in rows] == [p.identity for p in profiles]
    assert 5 < len(rows) <= 300
    for row, profile in zip(rows, profiles, strict=True):
        assert Person.from_row(row) == Person.of(profile)
    if query == AudienceQuery() and one_partition:
        assert all(isinstance(row[5], str) for row in rows)  # straight from the columns
        assert Person.from_row(rows[0]).profile["big"] == 2**70


def test_audience_rows_of_a_warehouse_file_are_validated(tmp_path):
    _write_profiles(tmp_path, "p0", [_row("b", email="Ann@Example.COM"), _row("a")])
    rows = [
        r for b in ParquetStore(tmp_path).iter_audience_rows(AudienceQuery(), now=NOW) for r in b
    ]
    assert [(r[0], r[2]) for r in rows] == [("a", None), ("b", "Ann@example.com")]
    _write_profiles(tmp_path, "p0", [_row("x", timezone="Mars/Olympus")])
    with pytest.raises(ProfileError, match=r"from-warehouse\.parquet: row 1: "):
        list(ParquetStore(tmp_path).iter_audience_rows(AudienceQuery(), now=NOW))
