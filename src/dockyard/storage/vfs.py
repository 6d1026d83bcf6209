"""vfs: every layer a full copy of its parent; works on any file system, no overlay needed.

Its snapshotter (``storage.vfs_snapshotter``) makes an active layer a full copy of its parent's top layer.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dockyard.storage.dirs import copy_tree, remove_tree, sweep_each
from dockyard.storage.mount import Mount

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from dockyard.archive.apply import Whiteouts
    from dockyard.storage.layers import LayerStoreImpl
    from dockyard.storage.vfs_snapshotter import VfsSnapshotter


class Vfs:
    """Committed layer directories, each a full copy of its parent with its own changes applied."""

    name = "vfs"

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    @property
    def whiteouts(self) -> Whiteouts:
        from dockyard.archive.apply import Whiteouts

        return Whiteouts.DELETE

    def diff_path(self, cache_id: str) -> Path:
        return self.home / cache_id / "diff"

    def snapshotter(self, layers: LayerStoreImpl, tmp: Path) -> VfsSnapshotter:
        """This driver's snapshotter, over the layer store that owns its committed layers (its module loads
        here: ``rmi`` deletes layer directories without it)."""
        from dockyard.storage.vfs_snapshotter import VfsSnapshotter

        return VfsSnapshotter(self, layers, tmp)

    def create(self, cache_id: str, parents: list[str]) -> Path:
        from dockyard.storage.placement import make_layer_dir

        diff = make_layer_dir(self.home, cache_id) / "diff"
        if parents:
            copy_tree(self.diff_path(parents[-1]), diff)
        else:
            diff.mkdir()
        return diff

    def remove(self, cache_id: str) -> None:
        remove_tree(self.home / cache_id)

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]:
        source = self.diff_path(upper.rsplit("/", 1)[-1]) if upper else self.diff_path(layers[-1])
        return [Mount("bind", str(source), ("rbind",) if upper else ("ro", "rbind"))]

    def layer_problems(self, cache_id: str) -> list[str]:
        return [] if self.diff_path(cache_id).is_dir() else ["layer directory missing"]

    def repair_layer(self, cache_id: str) -> bool:
        return not self.layer_problems(cache_id)  # a lost full copy cannot be made again here

    def leftovers(self, known: set[str]) -> list[Path]:
        return [self.home / n for n in sorted(os.listdir(self.home)) if n not in known]

    def sweep(self, known: set[str]) -> None:
        sweep_each(self.leftovers(known), _remove_path)


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
