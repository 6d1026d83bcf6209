"""The layer-directory interface the layer store uses, and the two drivers that implement it.

A driver owns one directory per committed layer, named by a random cache ID and
placed by ``storage.placement`` away from inodes a removal just freed (ext4
without a journal is slow to allocate next to them). The active (writable)
layers are the snapshotters' (``storage.snapshotter``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dockyard.storage.dirs import new_cache_id
from dockyard.storage.mount import Mount
from dockyard.storage.overlay2 import FuseOverlay, Overlay2
from dockyard.storage.snapshotter import Snapshotter
from dockyard.storage.vfs import Vfs

if TYPE_CHECKING:
    from dockyard.archive.apply import Whiteouts
    from dockyard.storage.layers import LayerStoreImpl

__all__ = ["DRIVERS", "Driver", "Mount", "Overlay2", "Vfs", "new_cache_id", "snapshotter_for"]


class Driver(Protocol):
    """Lifecycle: ``create`` a layer dir, apply a tar into ``diff_path``,
    then the layer store records it; ``remove`` is idempotent; ``sweep``
    removes what no row names and never fails on one leftover."""

    name: str
    home: Path

    @property
    def whiteouts(self) -> Whiteouts: ...

    def create(self, cache_id: str, parents: list[str]) -> Path: ...

    def diff_path(self, cache_id: str) -> Path: ...

    def snapshotter(self, layers: LayerStoreImpl, tmp: Path) -> Snapshotter: ...

    def remove(self, cache_id: str) -> None: ...

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]: ...

    def sweep(self, known: set[str]) -> None: ...

    def leftovers(self, known: set[str]) -> list[Path]: ...

    def layer_problems(self, cache_id: str) -> list[str]: ...

    def repair_layer(self, cache_id: str) -> bool: ...


DRIVERS: dict[str, type[Overlay2] | type[Vfs]] = {"overlay2": Overlay2, "fuse-overlayfs": FuseOverlay, "vfs": Vfs}


def snapshotter_for(driver: Driver, layers: LayerStoreImpl, tmp: Path) -> Snapshotter:
    """The snapshotter of ``driver``'s kind, over the layer store that owns its committed layers."""
    return driver.snapshotter(layers, tmp)
