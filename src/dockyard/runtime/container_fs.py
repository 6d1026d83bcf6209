"""A container's file system as the commands see it: its changes, its size, its export.

The store resolves layers and mounts (it holds the database); the work on the
files runs through ``fsview.run_private``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.archive.apply import directory_size
from dockyard.oci.digest import Digest
from dockyard.runtime import changes_fs, fsview, rootfs
from dockyard.runtime.changes_fs import Change

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container, ContainerStore


def upper_dir(store: ContainerStore, container: Container) -> Path:
    return store.paths(container.id).layer / "diff"


def image_layers(store: ContainerStore, container: Container) -> list[str]:
    """The image's layer directories (cache IDs), bottom first."""
    row = store.db.image(container.image_id)
    return store.cache_ids(Digest.parse(row.top_layer)) if row and row.top_layer else []


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
    layers = image_layers(store, container)
    upper = upper_dir(store, container)
    if store.driver.name == "vfs":
        image_top = store.driver.diff_path(layers[-1]) if layers else None
        return changes_fs.copy_changes(upper, image_top)
    if not layers:
        return changes_fs.overlay_changes(upper, None)
    # the image's own union, mounted read-only over the container's mount point in the child
    lower = fsview.View(store.paths(container.id).rootfs, tuple(store.driver.mounts(layers, None)))
    return fsview.run_private(lambda: changes_fs.overlay_changes(upper, fsview.enter(lower, rootfs.secure_join)))


def size_rw(store: ContainerStore, container: Container) -> int:
    """Docker's SizeRw: the writable layer's size (overlay2), the changed files' (vfs)."""
    upper = upper_dir(store, container)
    if store.driver.name == "vfs":
        return changes_fs.size_rw(upper, changes(store, container))
    try:
        return directory_size(upper)
    except OSError:
        return 0


def export(store: ContainerStore, container: Container, out_fd: int) -> None:
    """``docker export``: the merged file system (no volumes) as a tar written to ``out_fd``."""
    view = container_view(store, container)

    def work() -> None:
        root = fsview.enter(view, rootfs.secure_join)
        with os.fdopen(os.dup(out_fd), "wb") as out:
            changes_fs.export_tree(root, out)

    fsview.run_private(work)


def write_layer(store: ContainerStore, container: Container, found: list[Change], out: BinaryIO) -> None:
    """The container's changes as a layer tar (``commit``)."""
    upper = upper_dir(store, container)
    if store.driver.name == "vfs":
        changes_fs.write_copy_layer(upper, found, out)
    else:
        changes_fs.write_overlay_layer(upper, found, out)
