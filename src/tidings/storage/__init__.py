"""Where state lives: profiles and events (store), decisions (ledger), definitions (registry).

Each concern is a ``typing.Protocol`` with an in-memory and an SQLite implementation;
the three SQLite ones may share one file (:meth:`tidings.Workspace.sqlite` does).
"""

from .base import Store as Store
from .ledger import ClaimRequest as ClaimRequest
from .ledger import ClaimResult as ClaimResult
from .ledger import Ledger as Ledger
from .ledger import MemoryLedger as MemoryLedger
from .memory import MemoryStore as MemoryStore
from .registry import MemoryRegistry as MemoryRegistry
from .registry import Registry as Registry
from .registry import SQLiteRegistry as SQLiteRegistry
from .sqlite import SQLiteStore as SQLiteStore
from .sqlite_ledger import SQLiteLedger as SQLiteLedger

__all__ = [
    "ClaimRequest",
    "ClaimResult",
    "Ledger",
    "MemoryLedger",
    "MemoryRegistry",
    "MemoryStore",
    "Registry",
    "SQLiteLedger",
    "SQLiteRegistry",
    "SQLiteStore",
    "Store",
]
