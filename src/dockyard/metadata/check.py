"""The database side of ``system check``: SQLite's own checks and the layer reference counts.

A layer's refcount is what holds it (metadata/db.py): the images whose top
layer it is, the layers directly above it, the containers of those images
(each holds its image's top layer) and the build cache rows that name it.
"""

from __future__ import annotations

from dockyard.metadata.db import Database

_EXPECTED = """
    SELECT l.chain_id, l.refcount,
        (SELECT COUNT(*) FROM images i WHERE i.top_layer = l.chain_id)
      + (SELECT COUNT(*) FROM layers c WHERE c.parent = l.chain_id)
      + (SELECT COUNT(*) FROM containers k JOIN images i ON i.id = k.image_id WHERE i.top_layer = l.chain_id)
      + (SELECT COUNT(*) FROM build_cache b WHERE b.chain_id = l.chain_id)
    FROM layers l
"""


def integrity_problems(db: Database) -> list[str]:
    """What SQLite's ``integrity_check`` and ``foreign_key_check`` find; empty when sound."""
    with db.transaction() as conn:
        found = [row[0] for row in conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        found += [f"table {t} row {rowid} names a missing {parent} row" for t, rowid, parent, _ in
                  conn.execute("PRAGMA foreign_key_check")]
    return found


def refcount_mismatches(db: Database) -> list[tuple[str, int, int]]:
    """(chain ID, stored refcount, recomputed refcount) of every layer whose two differ."""
    with db.transaction() as conn:
        return [(chain, stored, expected) for chain, stored, expected in conn.execute(_EXPECTED) if stored != expected]


def set_refcount(db: Database, chain_id: str, refcount: int) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE layers SET refcount=? WHERE chain_id=?", (refcount, chain_id))


def container_ids(db: Database) -> set[str]:
    with db.transaction() as conn:
        return {row[0] for row in conn.execute("SELECT id FROM containers")}
