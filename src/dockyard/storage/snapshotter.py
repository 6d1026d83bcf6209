"""Snapshotters: the storage drivers' active (writable) layers, as containerd's snapshotters own them.

An active snapshot is named by its key, the absolute path of the directory
that holds it (the caller picks the place: a container's directory, a
build step's scratch), so everything a container owns stays under one
directory and a crash sweep of that place also takes its active layer.
Its parent is a committed layer stack (``Committed``: a chain ID and the
driver directories under it).

    prepare(key, parent) -> mounts   a writable layer over ``parent``
    view(key, parent)    -> mounts   ``parent`` read-only
    mounts(key, parent)  -> mounts   the mounts of a prepared snapshot again
    changes / diff / commit          what the active layer changed: a list, a layer tar, a stored layer
    usage(key, parent)   -> Usage    size and inodes of the changes
    remove(key)                      idempotent
    graph_driver(...)                Docker's ``GraphDriver`` of inspect

Mounts are data (``storage.mount.Mount``); the caller performs them.
``overlay2`` and ``vfs`` implement it (``storage.overlay2_snapshotter``, ``storage.vfs_snapshotter``), each over
its driver's committed layers; a driver's ``snapshotter()`` builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Protocol, TypeVar, Union

from dockyard.oci.digest import Digest
from dockyard.storage.dirs import remove_tree
from dockyard.storage.graph import GraphDriver
from dockyard.storage.mount import Mount

if TYPE_CHECKING:
    from dockyard.image.layerstore import StagedLayers
    from dockyard.storage.changes import Change
    from dockyard.storage.driver import Driver
    from dockyard.storage.layers import LayerStoreImpl

T = TypeVar("T")

# runs ``fn`` with ``mounts`` mounted somewhere private, giving it the mount point (runtime.fsview does it)
RunMounted = Callable[[list[Mount], Callable[[Path], T]], T]


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed layer stack: its top chain ID and the driver directories, bottom first."""

    chain_id: Digest
    cache_ids: tuple[str, ...]


Parent = Union[Committed, Digest, None]  # a chain ID is looked up (on the caller's thread: the database is per thread)


@dataclass(frozen=True, slots=True)
class Usage:
    """What a snapshot adds on disk: bytes and inodes."""

    size: int  # bytes of the regular files and links the layer added or changed
    inodes: int


class Snapshotter(Protocol):
    name: str
    driver: Driver

    def committed(self, chain_id: Digest | None) -> Committed | None: ...

    def prepare(self, key: str, parent: Parent) -> list[Mount]: ...

    def view(self, key: str, parent: Parent) -> list[Mount]: ...

    def mounts(self, key: str, parent: Parent) -> list[Mount]: ...

    def upper(self, key: str) -> Path: ...

    def changes(self, key: str, parent: Parent, run_mounted: RunMounted[list[Change]]) -> list[Change]: ...

    def write_changes(self, key: str, changes: list[Change], out: BinaryIO) -> None: ...

    def diff(self, key: str, parent: Parent, out: BinaryIO, clamp_mtime: float | None = None) -> bool: ...

    def commit(self, key: str, parent: Parent, clamp_mtime: float | None = None) -> StagedLayers: ...

    def remove(self, key: str) -> None: ...

    def usage(self, key: str, parent: Parent) -> Usage: ...

    def graph_driver(self, parent: Parent, key: str | None = None, merged: str | None = None) -> GraphDriver: ...


class BaseSnapshotter:
    """What both drivers' snapshotters share: parents, commit through the layer store, removal."""

    name: str

    def __init__(self, driver: Driver, layers: LayerStoreImpl, tmp: Path) -> None:
        self.driver = driver
        self.layers = layers
        self.tmp = tmp

    def committed(self, chain_id: Digest | None) -> Committed | None:
        return Committed(chain_id, tuple(self.layers.cache_ids(chain_id))) if chain_id is not None else None

    def _parent(self, parent: Parent) -> Committed | None:
        return self.committed(parent) if isinstance(parent, Digest) else parent

    def upper(self, key: str) -> Path:
        return Path(key) / "diff"

    def _top(self, parent: Committed | None) -> Path | None:
        return self.driver.diff_path(parent.cache_ids[-1]) if parent and parent.cache_ids else None

    def _empty_view(self, key: str) -> list[Mount]:
        """No parent: an empty read-only root."""
        self.upper(key).mkdir(parents=True, exist_ok=True)
        return [Mount("bind", str(self.upper(key)), ("ro", "rbind"))]

    def view(self, key: str, parent: Parent) -> list[Mount]:
        resolved = self._parent(parent)
        if resolved is None or not resolved.cache_ids:
            return self._empty_view(key)
        return self.driver.mounts(list(resolved.cache_ids), None)

    def write_changes(self, key: str, changes: list[Change], out: BinaryIO) -> None:
        raise NotImplementedError

    def _changes_for_diff(self, key: str, parent: Committed | None) -> Path:
        """A directory of the changes with overlay whiteouts (the upper itself where it is one)."""
        raise NotImplementedError

    def diff(self, key: str, parent: Parent, out: BinaryIO, clamp_mtime: float | None = None) -> bool:
        """The active layer's changes as a layer tar into ``out``; False (nothing written) when it changed nothing."""
        from dockyard.archive.export import write_diff_tar

        changes = self._changes_for_diff(key, self._parent(parent))
        if not any(os.scandir(changes)):
            return False
        write_diff_tar(changes, out, clamp_mtime=clamp_mtime)
        return True

    def commit(self, key: str, parent: Parent, clamp_mtime: float | None = None) -> StagedLayers:
        """Hand the active layer's diff to the layer store (staged: the caller's transaction makes it visible)."""
        import tempfile

        from dockyard.image.layerstore import LayerJob

        resolved = self._parent(parent)
        fd, spool = tempfile.mkstemp(dir=self.tmp, prefix="commit-", suffix=".tar")
        try:
            with os.fdopen(fd, "wb") as out:
                if not self.diff(key, resolved, out, clamp_mtime):
                    out.write(bytes(1024))  # the empty tar Go writes: a layer that changed nothing
            return self.layers.stage(resolved.chain_id if resolved else None, [LayerJob(lambda: open(spool, "rb"))])
        finally:
            os.unlink(spool)

    def remove(self, key: str) -> None:
        """Idempotent; the key's directory goes with it."""
        remove_tree(Path(key))
