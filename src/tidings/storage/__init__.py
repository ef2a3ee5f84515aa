"""Where profiles and events live: the ``Store`` protocol and its two implementations."""

from .base import Store as Store
from .memory import MemoryStore as MemoryStore
from .sqlite import SQLiteStore as SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "Store"]
