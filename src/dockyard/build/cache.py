"""The build cache: step key → the layer the step produced, in the metadata database.

A key is the digest of data (``step_key``): the parent's key, the instruction
after substitution, the build args it sees and the checksums of the files it
copies. A row and the reference it holds on its layer are written in the
same transaction as the layer itself, so a crash leaves both or neither.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.image.layerstore import LayerStore, StagedLayers
from dockyard.metadata.db import Database, LayerRow
from dockyard.oci.digest import Digest


def step_key(parent: str, *parts: Any) -> str:
    data = json.dumps([parent, *parts], sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: str
    chain_id: Digest | None  # the stack after the step; None when it changed nothing
    diff_id: Digest | None
    created: str


class BuildCache:
    def __init__(self, db: Database, layers: LayerStore, mounts: Path | None = None) -> None:
        self.db = db
        self.layers = layers
        self.mounts = mounts  # RUN --mount=type=cache directories

    def prune(self) -> tuple[list[str], int]:
        """Drop every entry and cache mount (``builder prune -a``); the entries' IDs and the bytes of layers freed."""
        released: list[LayerRow] = []
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT key, chain_id FROM build_cache ORDER BY added").fetchall()
            conn.execute("DELETE FROM build_cache")
            for _, chain in rows:
                if chain:
                    released += self.db.release_layer(chain)
        self.layers.cleanup([row.cache_id for row in released])
        if self.mounts is not None and self.mounts.is_dir():
            for entry in self.mounts.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
        return [key.removeprefix("sha256:")[:25] for key, _ in rows], sum(row.size for row in released)

    def get(self, key: str) -> CacheEntry | None:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT key, chain_id, diff_id, created FROM build_cache WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        chain = Digest.parse(row[1]) if row[1] else None
        if chain is not None and self.layers.get(chain) is None:
            return None
        return CacheEntry(row[0], chain, Digest.parse(row[2]) if row[2] else None, row[3])

    def put(self, key: str, staged: StagedLayers | None, created: str) -> CacheEntry:
        """Commit the step's layer (if any) and remember it under ``key``; replaces an older entry."""
        top = staged.layers[-1] if staged and staged.layers else None
        chain = str(top.chain_id) if top else None
        released: list[str] = []
        try:
            with self.db.transaction() as conn:
                if staged is not None:
                    self.layers.commit(staged)
                old = conn.execute("SELECT chain_id FROM build_cache WHERE key=?", (key,)).fetchone()
                if old is not None:
                    conn.execute("DELETE FROM build_cache WHERE key=?", (key,))
                    if old[0]:
                        released = [row.cache_id for row in self.db.release_layer(old[0])]
                conn.execute(
                    "INSERT INTO build_cache VALUES (?,?,?,?,?)",
                    (key, chain, str(top.diff_id) if top else None, created, time.time()),
                )
                if chain:
                    self.db.acquire_layer(chain)
        except BaseException:
            if staged is not None:
                self.layers.discard(staged)
            raise
        self.layers.cleanup(released)  # an older entry's layer that nothing else holds
        return CacheEntry(key, top.chain_id if top else None, top.diff_id if top else None, created)
