"""A container's writable layer over its image's layers: the one place the container runtime calls the
storage driver (create the layer, union mounts), so the storage seam is swapped here alone."""

from __future__ import annotations

from dockyard.runtime import rootfs
from dockyard.runtime.rootfs import Paths
from dockyard.storage.driver import Driver, Mount


def create(driver: Driver, layers: list[str], paths: Paths) -> None:
    """The writable layer under ``paths.layer``; ``layers``: the image's (storage cache IDs), lowest first."""
    rootfs.create_layer(paths, driver.name, driver.diff_path(layers[-1]) if layers else None)


def union_mounts(driver: Driver, layers: list[str], paths: Paths) -> list[Mount]:
    """The union of ``layers`` and the writable layer (a bind for vfs or no layers)."""
    mounts = rootfs.rootfs_mounts(driver.mounts(layers, str(paths.layer)) if layers else [], paths, driver.name)
    return mounts or rootfs.rootfs_mounts([], paths, "vfs")
