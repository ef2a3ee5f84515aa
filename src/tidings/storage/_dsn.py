"""Telling a PostgreSQL DSN from an SQLite path (without importing psycopg)."""

from __future__ import annotations

__all__ = ["is_postgres_dsn"]


def is_postgres_dsn(text: str) -> bool:
    """Whether ``text`` names a PostgreSQL database (a ``postgresql://`` or ``postgres://`` URI)."""
    return text.startswith(("postgresql://", "postgres://"))
