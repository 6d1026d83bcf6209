"""The event log: what every command did, newest ``MAX_EVENTS`` kept, for ``dockyard events``.

Schema (migration 4 in ``metadata/db.py``):

    events      one row per event, in commit order
      id          INTEGER PK  grows by one per event; a follower polls ``id > last seen``
      time_nano   INTEGER     unix time in nanoseconds (Docker's timeNano)
      type        TEXT        container, image, network, volume, builder
      action      TEXT        create, start, die, tag, pull, ... (Docker's Action)
      actor       TEXT        Actor.ID: a container/image/network ID or a volume name
      attributes  TEXT        Actor.Attributes as a JSON object of strings

Each insert deletes the rows ``MAX_EVENTS`` or more behind it (an index range
on the primary key, usually one row), so the table stays bounded without a
sweep. Written inside the caller's transaction when there is one, so an event
appears with the change it reports, or not at all; alone, an event commits
without an fsync (synchronous=NORMAL under WAL: consistent, and synced by the
next ordinary commit).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Mapping

from dockyard.metadata.db import Database

MAX_EVENTS = 10_000

@dataclass(frozen=True, slots=True)
class Event:
    """Docker's events.Message (scope is always "local")."""

    id: int
    time_nano: int
    type: str
    action: str
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def time(self) -> int:
        return self.time_nano // 1_000_000_000


def record(db: Database, type_: str, action: str, actor_id: str, attributes: dict[str, str]) -> None:
    """Append one event; inside an open transaction it commits with it."""
    row = (time.time_ns(), type_, action, actor_id, json.dumps(attributes, sort_keys=True))
    conn = db._conn  # noqa: SLF001 - this package's own connection: its durability is set between transactions
    try:
        if conn.in_transaction:
            _insert(conn, row)  # commits with the change it reports
            return
        # An event alone is not worth an fsync (~4 ms here, twice on every ``run``): WAL with synchronous=NORMAL
        # keeps the database whole; a power cut may lose the newest events, the next FULL commit syncs them.
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.ProgrammingError:  # a worker thread (``stop`` of several containers): a connection of its own
        conn = _thread_connection(db.path)
        conn.execute("PRAGMA synchronous=NORMAL")
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _insert(conn, row)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.execute("PRAGMA synchronous=FULL")


def _insert(conn: sqlite3.Connection, row: tuple[int, str, str, str, str]) -> None:
    cur = conn.execute("INSERT INTO events (time_nano, type, action, actor, attributes) VALUES (?,?,?,?,?)", row)
    if cur.lastrowid is not None and cur.lastrowid > MAX_EVENTS:
        conn.execute("DELETE FROM events WHERE id <= ?", (cur.lastrowid - MAX_EVENTS,))


def _thread_connection(path: Path) -> sqlite3.Connection:
    import threading

    local = _THREADS.setdefault("local", threading.local())
    conns: dict[tuple[int, Path], sqlite3.Connection] = local.__dict__.setdefault("conns", {})
    key = (os.getpid(), path)  # a forked child never uses its parent's connection
    if key not in conns:
        conns[key] = sqlite3.connect(path, isolation_level=None, timeout=60)
    return conns[key]


_THREADS: dict[str, Any] = {}  # the threading.local, made on first use


def container_event(db: Database, action: str, cid: str, name: str, doc: Mapping[str, Any], **extra: str) -> None:
    """Docker's container event: the container's labels, then ``image`` (as the user named it) and ``name``,
    then what the action adds (``exitCode``, ``signal``, ``oldName``). ``doc``: the container's record."""
    labels = (doc.get("Config") or {}).get("Labels") or {}
    record(db, "container", action, cid, {**labels, "image": str(doc.get("Image", "")), "name": name, **extra})


def volume_events(db: Database, action: str, cid: str, volumes: list[dict[str, Any]]) -> None:
    """Docker's volume ``mount``/``unmount`` events for a container's volumes (``volumes``: its record's list)."""
    for v in volumes:
        if v.get("type", "bind") != "volume":
            continue
        attributes = {"container": cid, "driver": str(v.get("driver", "local"))}
        if action == "mount":
            read_write = "false" if v.get("readonly") else "true"
            attributes |= {"destination": str(v["destination"]), "propagation": "", "read/write": read_write}
        record(db, "volume", action, str(v["name"]), attributes)


class EventReader:
    """Reads the log over a connection of its own, read-only: a follower's polls never queue behind writers."""

    def __init__(self, db: Database) -> None:
        self._path = db.path
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, isolation_level=None, timeout=60)
        return self._conn

    def last_id(self) -> int:
        row = self._connection().execute("SELECT max(id) FROM events").fetchone()
        return int(row[0] or 0)

    def read(self, after_id: int = 0, since_nano: int | None = None, until_nano: int | None = None) -> list[Event]:
        """Events after ``after_id`` with since <= time <= until (Docker's bounds), oldest first."""
        sql = "SELECT id, time_nano, type, action, actor, attributes FROM events WHERE id > ?"
        params: list[int] = [after_id]
        if since_nano is not None:
            sql += " AND time_nano >= ?"
            params.append(since_nano)
        if until_nano is not None:
            sql += " AND time_nano <= ?"
            params.append(until_nano)
        rows = self._connection().execute(sql + " ORDER BY id", params).fetchall()
        return [Event(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
