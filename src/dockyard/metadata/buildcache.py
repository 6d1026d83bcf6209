"""The ``build_cache`` table (schema in ``db``): step key -> the layer a build step produced, and build leases.

Each row holds one reference on its layer (``chain_id``); the caller
acquires and releases those references in the same transaction as the row.
Lease rows are keyed ``lease:<pid>:<token>:<chain ID>``. Every function
here runs inside the caller's ``Database.transaction()``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

LEASE = "lease:"


@dataclass(frozen=True, slots=True)
class BuildCacheRow:
    key: str
    chain_id: str | None  # None: the step changed nothing
    diff_id: str | None
    created: str  # RFC 3339


def get(conn: sqlite3.Connection, key: str) -> BuildCacheRow | None:
    row = conn.execute("SELECT key, chain_id, diff_id, created FROM build_cache WHERE key=?", (key,)).fetchone()
    return BuildCacheRow(*row) if row is not None else None


def exists(conn: sqlite3.Connection, key: str) -> bool:
    return conn.execute("SELECT 1 FROM build_cache WHERE key=?", (key,)).fetchone() is not None


def insert(conn: sqlite3.Connection, row: BuildCacheRow) -> None:
    conn.execute("INSERT INTO build_cache VALUES (?,?,?,?,?)", (row.key, row.chain_id, row.diff_id, row.created, time.time()))


def delete(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM build_cache WHERE key=?", (key,))


def leases(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    """(key, chain ID) of every lease row."""
    return conn.execute("SELECT key, chain_id FROM build_cache WHERE key LIKE 'lease:%'").fetchall()


def take_entries(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    """Delete every entry but the leases; (key, chain ID) of each, oldest first."""
    rows = conn.execute("SELECT key, chain_id FROM build_cache WHERE key NOT LIKE 'lease:%' ORDER BY added").fetchall()
    conn.execute("DELETE FROM build_cache WHERE key NOT LIKE 'lease:%'")
    return rows
