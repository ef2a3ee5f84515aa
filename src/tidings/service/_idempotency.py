"""Answered requests by ``Idempotency-Key``: a retry gets the first answer, nothing is sent twice.

One SQLite file per account. A key is bound to the endpoint and to a digest of the
request body, so the same key with another body is recognised (the service answers
409) instead of silently replaying an answer to a different request.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["IDEMPOTENCY_HEADER", "Answer", "IdempotencyStore", "body_digest"]

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
"""The request header naming a call, so that a retry gets the first answer."""


def body_digest(body: object) -> str:
    """A digest of a parsed JSON body that ignores key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    """A saved answer: the body digest it was given for, its HTTP status and JSON body."""

    digest: str
    status: int
    body: dict[str, Any]


class IdempotencyStore:
    """Saved answers of one account, keyed by (endpoint, ``Idempotency-Key``)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS answers ("
            " endpoint TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL,"
            " status INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (endpoint, key))"
        )

    def get(self, endpoint: str, key: str) -> Answer | None:
        """The answer saved under ``key`` for ``endpoint``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT digest, status, body FROM answers WHERE endpoint = ? AND key = ?",
                (endpoint, key),
            ).fetchone()
        if row is None:
            return None
        return Answer(digest=row[0], status=int(row[1]), body=json.loads(row[2]))

    def put(self, endpoint: str, key: str, answer: Answer) -> None:
        """Save the answer given under ``key`` (the first one stays if saved twice)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO answers (endpoint, key, digest, status, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (endpoint, key, answer.digest, answer.status, json.dumps(answer.body)),
            )

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()
