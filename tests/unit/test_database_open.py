"""Opening a migrated database takes no write lock: a reader starts while another process writes."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from dockyard.metadata.db import MIGRATIONS, Database


def test_open_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "dockyard.db"
    Database(path).close()  # created and migrated
    writer = sqlite3.connect(path, isolation_level=None, timeout=60)
    writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        started = time.monotonic()
        reader = Database(path)
        assert reader.images() == []
        reader.close()
        assert time.monotonic() - started < 5  # SQLite's busy timeout is 60 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_new_database_is_migrated(tmp_path: Path) -> None:
    db = Database(tmp_path / "fresh.db")
    try:
        with db.transaction() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        db.close()
