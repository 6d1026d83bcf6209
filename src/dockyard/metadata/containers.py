"""The ``containers`` table: one row per container, its record as typed data.

    containers  id TEXT PK, name TEXT UNIQUE, image_id TEXT (images.id), created TEXT (RFC 3339),
                config TEXT: the record's JSON, a map with
                  Image       the image as the user named it
                  Process     args, env, cwd, user of the container's process
                  Config      Docker's container Config (Hostname, Env, Cmd, Labels, ExposedPorts, ...)
                  HostConfig  Docker's HostConfig (NetworkMode, Binds, limits, RestartPolicy, Runtime, ...)
                  Volumes     mounts: {type, source, destination, readonly, name?, anonymous?, mode?, ...}
                  Networking  what was asked of the primary network (container_record.NetworkRequest)
                  Seccomp, NoNewPrivileges

The record's typed form is ``container_record.ContainerRecord``. Reads are plain statements (no write lock: WAL keeps them consistent); writes run in
``Database.transaction()``. The run state is not here: the container's monitor keeps it in ``state.json``.
"""

from __future__ import annotations

import json
import sqlite3
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings

from dockyard.errors import ConflictError, InvalidArgumentError
from dockyard.metadata.db import Database

if TYPE_CHECKING:
    from dockyard.metadata.container_record import ContainerRecord

_COLUMNS = "SELECT id, name, image_id, created, config FROM containers"


def _record(row: tuple[str, str, str, str, str]) -> ContainerRecord:
    from dockyard.metadata.container_record import ContainerRecord  # the record classes: not for the sweep's ids()

    return ContainerRecord.parse(row[0], row[1], row[2], row[3], json.loads(row[4]))


class Freed:
    """What deleting a container's row freed, for the caller to remove once it committed.
    (A plain class: ``ps`` imports this module, and a dataclass costs a millisecond to define.)"""

    __slots__ = ("cache_ids", "content")

    def __init__(self, cache_ids: list[str], content: list[str]) -> None:
        self.cache_ids = cache_ids  # layer directories
        self.content = content  # content-store digests (the config and blobs of an image ``rmi -f`` hid)


class ContainerRecords:
    """Lookups and writes of container rows."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def lookup(self, name: str) -> ContainerRecord | None:
        """Docker's order: full ID, exact name, then a unique ID prefix (InvalidArgumentError when several)."""
        conn = self.db.reader
        rows = list(conn.execute(f"{_COLUMNS} WHERE id=? OR name=?", (name, name)))
        if not rows and name:
            rows = list(conn.execute(f"{_COLUMNS} WHERE id >= ? AND id < ?", (name, name + "g")))
            if len(rows) > 1:
                raise InvalidArgumentError(f"multiple IDs found with provided prefix: {name}")
        if not rows:
            return None
        rows.sort(key=lambda r: r[0] != name)
        return _record(rows[0])

    def all(self) -> list[ContainerRecord]:
        return [_record(r) for r in self.db.reader.execute(_COLUMNS)]

    def ids(self) -> set[str]:
        return {row[0] for row in self.db.reader.execute("SELECT id FROM containers")}

    def links(self) -> list[tuple[str, list[str]]]:
        """(parent name, its ``HostConfig.Links`` as stored: ``CHILD_ID:ALIAS``) of each container that has links,
        read in SQL: a listing asks this of every container and parsing every record costs ~0.1 ms each."""
        rows = self.db.reader.execute(
            "SELECT name, json_extract(config, '$.HostConfig.Links') FROM containers "
            "WHERE json_array_length(config, '$.HostConfig.Links') > 0")
        return [(name, json.loads(links)) for name, links in rows]

    # writes ------------------------------------------------------------------------

    def insert(self, record: ContainerRecord, top_layer: str | None, image_ref: str) -> None:
        """The row, and a reference on the image's top layer. sqlite3.IntegrityError when the name is taken;
        NotFoundError when the image went away since it was resolved."""
        from dockyard.errors import NotFoundError

        with self.db.transaction() as conn:
            if self.db.image(record.image_id) is None:
                raise NotFoundError(f"No such image: {image_ref}")
            conn.execute("INSERT INTO containers VALUES (?,?,?,?,?)",
                         (record.id, record.name, record.image_id, record.created, json.dumps(record.document())))
            if top_layer:
                self.db.acquire_layer(top_layer)

    def delete(self, cid: str, image_id: str) -> Freed:
        """Remove the row and its reference on the image's top layer; what that freed."""
        with self.db.transaction() as conn:
            gone = conn.execute("DELETE FROM containers WHERE id=?", (cid,)).rowcount == 0
            image = self.db.image(image_id)
            if gone or not image:
                return Freed([], [])
            freed = self.db.release_layer(image.top_layer) if image.top_layer else []
            content: list[str] = []
            if self.db.is_removed(image_id) and not self.db.containers_using(image_id):
                gone_layers = self.db.delete_image(image_id)  # the last user of an image rmi -f removed
                content = self.db.unnamed_content(image_id, gone_layers)
                freed += gone_layers
            return Freed([row.cache_id for row in freed], content)

    def rename(self, cid: str, new_name: str) -> None:
        """ConflictError (Docker's words) when another container has the name."""
        try:
            with self.db.transaction() as conn:
                conn.execute("UPDATE containers SET name=? WHERE id=?", (new_name, cid))
        except sqlite3.IntegrityError:
            other = self.lookup(new_name)
            raise ConflictError(
                f'Error when allocating new name: Conflict. The container name "/{new_name}" is already in use by '
                f'container "{other.id if other else ""}". You have to remove (or rename) that container to be able '
                "to reuse that name."
            ) from None

    def replace(self, record: ContainerRecord) -> None:
        """Store a changed record (``update``); its name stays as it is in the row."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE containers SET config=? WHERE id=?", (json.dumps(record.document()), record.id))
