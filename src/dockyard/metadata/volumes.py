"""Which containers use which volumes: read from the ``containers`` table (each record's ``Volumes``).

The volumes themselves are directories with a ``volume.json`` (see
``runtime.volumes``); the database only knows them through the containers
that mount them. Plain reads: no write lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.metadata.db import Database


@dataclass(frozen=True, slots=True)
class VolumeUse:
    """One container mounting one named volume."""

    container_id: str
    volume: str


def volume_uses(db: Database, name: str | None = None) -> list[VolumeUse]:
    """The mounts of volume ``name`` (every named volume's when None), oldest container first."""
    # LIKE narrows the rows to parse; the JSON decides
    rows = db._conn.execute("SELECT id, config FROM containers WHERE config LIKE ? ORDER BY rowid",
                            (f"%{name or ''}%",)).fetchall()
    return [VolumeUse(cid, v["name"]) for cid, config in rows for v in json.loads(config).get("Volumes", [])
            if v.get("name") and (name is None or v["name"] == name)]


def volume_users(db: Database, name: str) -> list[str]:
    """IDs of the containers that mount volume ``name``."""
    return list(dict.fromkeys(use.container_id for use in volume_uses(db, name)))
