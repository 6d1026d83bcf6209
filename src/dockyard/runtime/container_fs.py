"""A container's file system as the commands see it: its changes, its size, its export.

The container's writable layer is an active snapshot (its key: the layer
directory) over the image's layers; the snapshotter computes its changes,
size and layer tar, without this module knowing the driver. Mounting for a
look at the image runs through ``fsview.run_private``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, TypeVar

from dockyard.oci.digest import Digest
from dockyard.runtime import fsview, rootfs
from dockyard.storage.changes import Change, export_tree
from dockyard.storage.mount import Mount

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container, ContainerStore
    from dockyard.storage.snapshotter import Committed, Snapshotter

T = TypeVar("T")


def _snapshotter(store: ContainerStore) -> Snapshotter:
    return store.snapshotter


def _key(store: ContainerStore, container: Container) -> str:
    """The container's active snapshot: its writable layer directory."""
    return str(store.paths(container.id).layer)


def _parent(store: ContainerStore, container: Container) -> Committed | None:
    row = store.db.image(container.image_id)
    return _snapshotter(store).committed(Digest.parse(row.top_layer)) if row and row.top_layer else None


def _run_mounted(store: ContainerStore, container: Container) -> Callable[[list[Mount], Callable[[Path], T]], T]:
    """Mount in a private mount namespace (a child), over the container's mount point, and run there."""
    target = store.paths(container.id).rootfs

    def run(mounts: list[Mount], fn: Callable[[Path], T]) -> T:
        view = fsview.View(target, tuple(mounts))
        return fsview.run_private(lambda: fn(fsview.enter(view, rootfs.secure_join)))

    return run


def container_view(store: ContainerStore, container: Container, *, volumes: bool = False) -> fsview.View:
    """The merged root: the monitor's mount while running, else the union mounted in the child."""
    paths = store.paths(container.id)
    entries = [v for v in container.record.get("Volumes", []) if v.get("type") != "tmpfs"] if volumes else []
    binds = tuple((v["source"], v["destination"], bool(v["readonly"])) for v in entries)
    if rootfs.is_mounted(paths.rootfs):  # running or paused: the monitor mounted it
        return fsview.View(paths.rootfs, (), binds)
    return fsview.View(paths.rootfs, tuple(store.rootfs_mounts(container)), binds)


def changes(store: ContainerStore, container: Container) -> list[Change]:
    """``docker diff``: what the container added, changed and deleted, parents first."""
    return _snapshotter(store).changes(_key(store, container), _parent(store, container), _run_mounted(store, container))


def size_rw(store: ContainerStore, container: Container) -> int:
    """Docker's SizeRw: what the writable layer added or changed."""
    return _snapshotter(store).usage(_key(store, container), _parent(store, container)).size


def export(store: ContainerStore, container: Container, out_fd: int) -> None:
    """``docker export``: the merged file system (no volumes) as a tar written to ``out_fd``."""
    view = container_view(store, container)

    def work() -> None:
        root = fsview.enter(view, rootfs.secure_join)
        with os.fdopen(os.dup(out_fd), "wb") as out:
            export_tree(root, out)

    fsview.run_private(work)


def write_layer(store: ContainerStore, container: Container, found: list[Change], out: BinaryIO) -> None:
    """The container's changes as a layer tar (``commit``)."""
    _snapshotter(store).write_changes(_key(store, container), found, out)
