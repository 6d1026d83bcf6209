"""Read-only queries behind ``system df``: what the build cache holds."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.metadata.db import Database


@dataclass(frozen=True, slots=True)
class CacheRow:
    key: str
    chain_id: str | None
    created: str
    added: float


def build_cache_rows(db: Database) -> list[CacheRow]:
    """Cache entries, oldest first; running builds' lease rows are not entries."""
    with db.transaction() as conn:
        rows = conn.execute(
            "SELECT key, chain_id, created, added FROM build_cache WHERE key NOT LIKE 'lease:%' ORDER BY added"
        ).fetchall()
    return [CacheRow(*r) for r in rows]
