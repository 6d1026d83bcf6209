"""A container's writable layer over its image's layers: the one place the container runtime calls the
snapshotter (prepare the layer, its union mounts); the layer's key is its directory, ``containers/<id>/layer``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.runtime.rootfs import Paths

if TYPE_CHECKING:
    from dockyard.oci.digest import Digest
    from dockyard.storage.mount import Mount
    from dockyard.storage.snapshotter import Snapshotter


def create(snapshotter: Snapshotter, top: Digest | None, paths: Paths) -> None:
    """The writable layer under ``paths.layer`` over the image whose top layer is ``top``."""
    paths.rootfs.mkdir(parents=True, exist_ok=True)
    snapshotter.prepare(str(paths.layer), top)


def union_mounts(snapshotter: Snapshotter, top: Digest | None, paths: Paths) -> list[Mount]:
    """The union of the image's layers and the writable layer (a bind for vfs or an image of no layers)."""
    return snapshotter.mounts(str(paths.layer), top)
