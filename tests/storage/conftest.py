"""Fixtures for store tests: every test taking ``store`` runs on each implementation."""

import pytest

from tidings.storage import MemoryStore, SQLiteStore


@pytest.fixture(params=["memory", "sqlite-memory", "sqlite-file"])
def store(request, tmp_path):
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "sqlite-memory":
        made = SQLiteStore(":memory:")
    else:
        made = SQLiteStore(tmp_path / "store.db")
    yield made
    made.close()
