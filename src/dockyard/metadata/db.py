"""The metadata database.

Schema (``PRAGMA user_version`` is the number of migrations applied):

    layers      one row per stored layer, keyed by chain ID
      chain_id    TEXT PK     sha256 chain ID (Docker's)
      diff_id     TEXT        sha256 of the uncompressed layer tar
      parent      TEXT NULL   chain ID of the layer below
      cache_id    TEXT UNIQUE the layer's directory name in the storage driver
      size        INTEGER     bytes of file content (Docker's layer size)
      tar_size    INTEGER     bytes of the layer tar (what save/push stream)
      refcount    INTEGER     images whose top layer this is + child layers + containers
      created     REAL        unix time the layer was stored
    images      one row per image, keyed by image ID (digest of its config blob)
      id          TEXT PK
      top_layer   TEXT NULL   chain ID of its top layer, NULL for no layers
      parent      TEXT NULL   local parent image (build, commit)
      created     TEXT        the config's "created", RFC 3339
      size        INTEGER     sum of its layers' sizes
      added       REAL        unix time the image came to this store
    refs        tags and digests naming images
      name        TEXT PK     "docker.io/library/busybox:latest" or "...@sha256:..."
      image_id    TEXT        images.id
      kind        TEXT        'tag' or 'digest'
      added       REAL
    blobs       compressed blob <-> diff ID pairs seen (pull, push, load)
      digest, diff_id, media_type, size
    containers  id, name, image_id, created, config JSON (the record: metadata/containers.py)
    networks    (filled by the runtime) id, name UNIQUE, driver, created, config JSON
                (bridge device, subnet, gateway, internal, labels)
    build_cache (filled by the builder) key PK (sha256 of parent key, instruction, args,
                source checksums; or lease:<pid>:<token>:<chain ID>, a running build's hold),
                chain_id NULL (NULL: the step changed nothing), diff_id, created RFC 3339,
                added; one layer reference per row
    events      (metadata/events.py) id PK, time_nano, type, action, actor, attributes JSON;
                the newest 10,000 kept

Every multi-step change runs in one ``transaction()`` (BEGIN IMMEDIATE), so
a crash leaves the old state or the new one; WAL lets readers run beside
one writer and other processes.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import StorageError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Iterator

MIGRATIONS: tuple[str, ...] = (
    # 1: the image store
    """
    CREATE TABLE layers (
        chain_id TEXT PRIMARY KEY,
        diff_id  TEXT NOT NULL,
        parent   TEXT REFERENCES layers(chain_id),
        cache_id TEXT NOT NULL UNIQUE,
        size     INTEGER NOT NULL,
        tar_size INTEGER NOT NULL,
        refcount INTEGER NOT NULL DEFAULT 0,
        created  REAL NOT NULL
    );
    CREATE TABLE images (
        id        TEXT PRIMARY KEY,
        top_layer TEXT REFERENCES layers(chain_id),
        parent    TEXT,
        created   TEXT NOT NULL,
        size      INTEGER NOT NULL,
        added     REAL NOT NULL
    );
    CREATE TABLE refs (
        name     TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images(id),
        kind     TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        added    REAL NOT NULL
    );
    CREATE INDEX refs_by_image ON refs(image_id);
    CREATE TABLE blobs (
        digest     TEXT PRIMARY KEY,
        diff_id    TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size       INTEGER NOT NULL
    );
    CREATE INDEX blobs_by_diff_id ON blobs(diff_id);
    CREATE TABLE containers (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL UNIQUE,
        image_id TEXT NOT NULL REFERENCES images(id),
        created  TEXT NOT NULL,
        config   TEXT NOT NULL
    );
    CREATE INDEX containers_by_image ON containers(image_id);
    """,
    # 2: networks (runtime/network/store.py); Docker's three predefined ones come with the schema
    """
    CREATE TABLE networks (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        driver  TEXT NOT NULL,
        created TEXT NOT NULL,
        config  TEXT NOT NULL
    );
    INSERT INTO networks SELECT lower(hex(randomblob(32))), column1, column2,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), '{}'
        FROM (VALUES ('bridge', 'bridge'), ('host', 'host'), ('none', 'null'));
    """,
    # 3: the build cache (build/cache.py); each row holds one reference on its layer
    """
    CREATE TABLE build_cache (
        key      TEXT PRIMARY KEY,
        chain_id TEXT REFERENCES layers(chain_id),
        diff_id  TEXT,
        created  TEXT NOT NULL,
        added    REAL NOT NULL
    );
    CREATE INDEX build_cache_by_chain ON build_cache(chain_id);
    """,
    # 4: the event log (metadata/events.py), bounded by its writer
    """
    CREATE TABLE events (
        id         INTEGER PRIMARY KEY,
        time_nano  INTEGER NOT NULL,
        type       TEXT NOT NULL,
        action     TEXT NOT NULL,
        actor      TEXT NOT NULL,
        attributes TEXT NOT NULL
    );
    CREATE INDEX events_by_time ON events(time_nano);
    """,
    # 5: images ``rmi -f`` removed while stopped containers use them: gone from every listing and
    # lookup, the row kept (with its layer reference) until the last such container is removed
    """
    CREATE TABLE removed_images (
        id TEXT PRIMARY KEY REFERENCES images(id)
    );
    """,
)


_SHOWN = "id NOT IN (SELECT id FROM removed_images)"


@dataclass(frozen=True, slots=True)
class LayerRow:
    """A row of ``layers`` (see the schema above)."""

    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int
    tar_size: int
    refcount: int
    created: float


@dataclass(frozen=True, slots=True)
class ImageRow:
    """A row of ``images``."""

    id: str
    top_layer: str | None
    parent: str | None
    created: str
    size: int
    added: float


@dataclass(frozen=True, slots=True)
class RefRow:
    """A row of ``refs``: a tag or digest naming an image."""

    name: str
    image_id: str
    kind: str
    added: float


class Database:
    """One connection per process. Not thread-safe: use from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=60)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StorageError(f"open metadata database {path}: {exc}") from exc

    def _migrate(self) -> None:
        # a plain read first: an up-to-date database (every open but the first) takes no write lock,
        # so a reader never waits behind a long writer to start
        if self._conn.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return
        with self.transaction():
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version={number}")

    def close(self) -> None:
        self._conn.close()

    def reopen(self) -> None:
        """A new connection after ``close``: around a fork, as SQLite connections must not cross one."""
        self.__init__(self.path)  # type: ignore[misc]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT: writers queue here, one at a time."""
        if self._conn.in_transaction:  # nested: part of the outer transaction
            yield self._conn
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def reader(self) -> sqlite3.Connection:
        """For plain reads, outside ``transaction()``: in autocommit each statement sees the last commit, and
        under WAL it never waits for a writer."""
        return self._conn

    # reads -----------------------------------------------------------------

    def layer(self, chain_id: str) -> LayerRow | None:
        row = self._conn.execute("SELECT * FROM layers WHERE chain_id=?", (chain_id,)).fetchone()
        return LayerRow(*row) if row else None

    def layers(self) -> list[LayerRow]:
        return [LayerRow(*r) for r in self._conn.execute("SELECT * FROM layers")]

    def layer_chain(self, chain_id: str) -> list[LayerRow]:
        """A layer and those below it, bottom first (fewer rows than the chain: a row is missing)."""
        rows = self._conn.execute(
            "WITH RECURSIVE chain(id, depth) AS (SELECT ?, 0 UNION ALL "
            "SELECT layers.parent, chain.depth + 1 FROM layers JOIN chain ON layers.chain_id = chain.id "
            "WHERE layers.parent IS NOT NULL) "
            "SELECT layers.* FROM chain JOIN layers ON layers.chain_id = chain.id ORDER BY chain.depth DESC",
            (chain_id,),
        )
        return [LayerRow(*r) for r in rows]

    def cache_ids(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT cache_id FROM layers")}

    def image(self, image_id: str) -> ImageRow | None:
        row = self._conn.execute("SELECT * FROM images WHERE id=?", (image_id,)).fetchone()
        return ImageRow(*row) if row else None

    def images(self) -> list[ImageRow]:
        """The images, without those ``rmi -f`` removed (``image`` still finds them, for their containers)."""
        return [ImageRow(*r) for r in self._conn.execute(f"SELECT * FROM images WHERE {_SHOWN}")]

    def images_with_prefix(self, prefix: str) -> list[ImageRow]:
        rows = self._conn.execute(
            f"SELECT * FROM images WHERE id >= ? AND id < ? AND {_SHOWN}", (prefix, prefix + "\U0010ffff")
        )
        return [ImageRow(*r) for r in rows]

    def is_removed(self, image_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM removed_images WHERE id=?", (image_id,)).fetchone() is not None

    def ref(self, name: str) -> RefRow | None:
        row = self._conn.execute("SELECT * FROM refs WHERE name=?", (name,)).fetchone()
        return RefRow(*row) if row else None

    def refs(self, image_id: str | None = None) -> list[RefRow]:
        if image_id is None:
            rows = self._conn.execute("SELECT * FROM refs ORDER BY name")
        else:
            rows = self._conn.execute("SELECT * FROM refs WHERE image_id=? ORDER BY name", (image_id,))
        return [RefRow(*r) for r in rows]

    def children(self, image_id: str) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT id FROM images WHERE parent=?", (image_id,))]

    def container_ids(self) -> set[str]:
        """Every container's ID: what the start-up sweep compares directories with (the records' module,
        and the json it needs, stay unloaded for commands that never read a container)."""
        return {r[0] for r in self._conn.execute("SELECT id FROM containers")}

    def containers_using(self, image_id: str) -> list[tuple[str, str]]:
        rows = self._conn.execute("SELECT id, name FROM containers WHERE image_id=?", (image_id,))
        return [(r[0], r[1]) for r in rows]

    def blob_for_diff_id(self, diff_id: str) -> list[tuple[str, str, int]]:
        rows = self._conn.execute("SELECT digest, media_type, size FROM blobs WHERE diff_id=?", (diff_id,))
        return [(r[0], r[1], r[2]) for r in rows]

    # writes (call inside transaction()) -----------------------------------

    def insert_layer(self, row: LayerRow) -> None:
        self._conn.execute(
            "INSERT INTO layers VALUES (?,?,?,?,?,?,?,?)",
            (row.chain_id, row.diff_id, row.parent, row.cache_id, row.size, row.tar_size, row.refcount, row.created),
        )
        if row.parent:
            self._conn.execute("UPDATE layers SET refcount=refcount+1 WHERE chain_id=?", (row.parent,))

    def acquire_layer(self, chain_id: str) -> None:
        self._conn.execute("UPDATE layers SET refcount=refcount+1 WHERE chain_id=?", (chain_id,))

    def release_layer(self, chain_id: str) -> list[LayerRow]:
        """Drop one reference; return the layers that reached zero and were deleted."""
        removed: list[LayerRow] = []
        current: str | None = chain_id
        while current:
            self._conn.execute("UPDATE layers SET refcount=refcount-1 WHERE chain_id=?", (current,))
            row = self.layer(current)
            if row is None or row.refcount > 0:
                break
            self._conn.execute("DELETE FROM layers WHERE chain_id=?", (current,))
            removed.append(row)
            current = row.parent
        return removed

    def insert_image(self, row: ImageRow) -> None:
        self._conn.execute(
            "INSERT INTO images VALUES (?,?,?,?,?,?)",
            (row.id, row.top_layer, row.parent, row.created, row.size, row.added),
        )
        if row.top_layer:
            self.acquire_layer(row.top_layer)

    def mark_removed(self, image_id: str) -> None:
        """``rmi -f`` of an image stopped containers use: hidden now, deleted with its last container."""
        self._conn.execute("INSERT OR IGNORE INTO removed_images VALUES (?)", (image_id,))

    def restore_image(self, image_id: str) -> None:
        """The same image stored again (load, pull, commit) is an image again."""
        self._conn.execute("DELETE FROM removed_images WHERE id=?", (image_id,))

    def delete_image(self, image_id: str) -> list[LayerRow]:
        row = self.image(image_id)
        if row is None:
            return []
        self._conn.execute("DELETE FROM removed_images WHERE id=?", (image_id,))
        self._conn.execute("DELETE FROM refs WHERE image_id=?", (image_id,))
        self._conn.execute("DELETE FROM images WHERE id=?", (image_id,))
        # children built on this image lose their local parent, as in Docker
        self._conn.execute("UPDATE images SET parent=NULL WHERE parent=?", (image_id,))
        return self.release_layer(row.top_layer) if row.top_layer else []

    def set_ref(self, name: str, image_id: str, kind: str) -> str | None:
        """Point ``name`` at ``image_id``; return the image it named before, if another."""
        old = self.ref(name)
        self._conn.execute(
            "INSERT OR REPLACE INTO refs VALUES (?,?,?,?)", (name, image_id, kind, time.time())
        )
        return old.image_id if old and old.image_id != image_id else None

    def delete_ref(self, name: str) -> None:
        self._conn.execute("DELETE FROM refs WHERE name=?", (name,))

    def forget_blobs(self, diff_id: str) -> list[str]:
        """Drop the compressed blobs of ``diff_id`` once no stored layer has it; return their digests."""
        if self._conn.execute("SELECT 1 FROM layers WHERE diff_id=? LIMIT 1", (diff_id,)).fetchone():
            return []
        digests = [r[0] for r in self._conn.execute("SELECT digest FROM blobs WHERE diff_id=?", (diff_id,))]
        self._conn.execute("DELETE FROM blobs WHERE diff_id=?", (diff_id,))
        return digests

    def unnamed_content(self, image_id: str, layers: list[LayerRow]) -> list[str]:
        """What a deleted image leaves unnamed in the content store: its config, and the compressed
        blobs of the layers it freed. The caller deletes them once the transaction commits."""
        out = [image_id]
        for layer in layers:
            out += self.forget_blobs(layer.diff_id)
        return out

    def record_blob(self, digest: str, diff_id: str, media_type: str, size: int) -> None:
        self._conn.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?,?)", (digest, diff_id, media_type, size))
