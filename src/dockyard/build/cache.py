"""The build cache: step key → the layer the step produced, in the metadata database.

A key is the digest of data (``step_key``): the parent's key, the instruction
after substitution, the build args it sees and the checksums of the files it
copies. A row and the reference it holds on its layer are written in the
same transaction as the layer itself, so a crash leaves both or neither.

Leases: another build may replace a cache row (``--no-cache`` stores anew)
and so release a layer this build still stands on. A running build therefore
holds each layer it uses through a lease row of its own (key
``lease:<pid>:<token>:<chain ID>``, one reference each), dropped when the
build ends; leases of builds that died are dropped by the next build.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dockyard.image.layerstore import LayerStore, StagedLayers
from dockyard.metadata import buildcache as table
from dockyard.metadata.buildcache import LEASE, BuildCacheRow
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BuildCache:
    def __init__(self, db: Database, layers: LayerStore, mounts: Path | None = None) -> None:
        self.db = db
        self.layers = layers
        self.mounts = mounts  # RUN --mount=type=cache directories
        self.lease = f"{LEASE}{os.getpid()}:{secrets.token_hex(8)}:"

    # entries -------------------------------------------------------------------------

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` with its layer leased to this build, or None."""
        with self.db.transaction() as conn:
            row = table.get(conn, key)
            if row is None:
                return None
            chain = Digest.parse(row.chain_id) if row.chain_id else None
            if chain is not None:
                if self.layers.get(chain) is None:
                    return None
                self._hold(str(chain), row.diff_id, row.created)
        return CacheEntry(row.key, chain, Digest.parse(row.diff_id) if row.diff_id else None, row.created)

    def hold(self, chain: Digest) -> bool:
        """Lease a layer found elsewhere (--cache-from); False when it is gone."""
        with self.db.transaction():
            if self.layers.get(chain) is None:
                return False
            self._hold(str(chain), None, "")
        return True

    def _hold(self, chain: str, diff_id: str | None, created: str) -> None:
        """Call inside a transaction (this one nests in it)."""
        key = self.lease + chain
        with self.db.transaction() as conn:
            if not table.exists(conn, key):
                table.insert(conn, BuildCacheRow(key, chain, diff_id, created))
                self.db.acquire_layer(chain)

    def put(self, key: str, staged: StagedLayers | None, created: str) -> CacheEntry:
        """Commit the step's layer (if any), remember it under ``key`` (replacing an older entry) and lease it."""
        top = staged.layers[-1] if staged and staged.layers else None
        chain = str(top.chain_id) if top else None
        released: list[str] = []
        try:
            with self.db.transaction() as conn:
                if staged is not None:
                    self.layers.commit(staged)
                if chain:  # first: when the older entry has the same layer, it must not reach zero
                    self.db.acquire_layer(chain)
                    self._hold(chain, str(top.diff_id) if top else None, created)
                old = table.get(conn, key)
                if old is not None:
                    table.delete(conn, key)
                    if old.chain_id:
                        released = [row.cache_id for row in self.db.release_layer(old.chain_id)]
                table.insert(conn, BuildCacheRow(key, chain, str(top.diff_id) if top else None, created))
        except BaseException:
            if staged is not None:
                self.layers.discard(staged)
            raise
        self.layers.cleanup(released)  # an older entry's layer that nothing else holds
        return CacheEntry(key, top.chain_id if top else None, top.diff_id if top else None, created)

    # leases and pruning -----------------------------------------------------------------

    def end_lease(self) -> None:
        """Drop this build's leases (idempotent)."""
        self._drop(lambda key: key.startswith(self.lease))

    def sweep_leases(self) -> None:
        """Drop the leases of builds whose process is gone."""
        self._drop(lambda key: key.startswith(LEASE) and not _alive(int(key.split(":")[1])))

    def _drop(self, doomed: Callable[[str], bool]) -> list[LayerRow]:
        released: list[LayerRow] = []
        with self.db.transaction() as conn:
            for key, chain in table.leases(conn):
                if doomed(key):
                    table.delete(conn, key)
                    if chain:
                        released += self.db.release_layer(chain)
        self.layers.cleanup([row.cache_id for row in released])
        return released

    def prune(self) -> tuple[list[str], int]:
        """Drop every entry and cache mount (``builder prune -a``), not running builds' leases;
        the entries' IDs and the bytes of layers freed."""
        released: list[LayerRow] = []
        with self.db.transaction() as conn:
            rows = table.take_entries(conn)
            for _, chain in rows:
                if chain:
                    released += self.db.release_layer(chain)
        self.layers.cleanup([row.cache_id for row in released])
        released += self._drop(lambda key: not _alive(int(key.split(":")[1])))
        if self.mounts is not None and self.mounts.is_dir():
            for entry in self.mounts.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
        return [key.removeprefix("sha256:")[:25] for key, _ in rows], sum(row.size for row in released)
