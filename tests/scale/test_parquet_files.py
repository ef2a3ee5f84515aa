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
