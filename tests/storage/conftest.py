"""Fixtures for store tests: every test taking ``store`` runs on each implementation."""

import pytest

from tidings.storage import MemoryStore, SQLiteStore


@pytest.fixture(params=["memory", "sqlite-memory", "sqlite-file", "postgres", "parquet"])
def store(request, tmp_path):
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite-memory":
        made = SQLiteStore(":memory:")
    elif request.param == "sqlite-file":
        made = SQLiteStore(tmp_path / "store.db")
    elif request.param == "parquet":
        from tidings.storage.parquet import ParquetStore

        made = ParquetStore(tmp_path / "parquet", partitions=3)
    else:
        from tidings.storage.postgres import PostgresStore

        made = PostgresStore(request.getfixturevalue("postgres_dsn"))
    yield made
    made.close()
