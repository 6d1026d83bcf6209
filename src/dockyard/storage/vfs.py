"""vfs: every layer a full copy of its parent; works on any file system, no overlay needed.

An active layer is a full copy of its parent's top layer (``<key>/diff``),
bind-mounted; its changes are a comparison of that copy with the parent
(Docker's naive differ), made into an overlay-style change set under
``<key>/changes`` when a layer tar is wanted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.errors import StorageError
from dockyard.storage.dirs import remove_tree, sweep_each
from dockyard.storage.mount import Mount
from dockyard.storage.snapshotter import BaseSnapshotter, Committed, GraphDriver, Parent, RunMounted, Usage

if TYPE_CHECKING:
    from dockyard.archive.apply import Whiteouts
    from dockyard.storage.changes import Change
    from dockyard.storage.layers import LayerStoreImpl


def copy_tree(source: Path, target: Path) -> None:
    """GNU cp keeps owners, modes, xattrs, hardlinks and devices, and reflinks where it can.

    cp dies with us: after a kill -9 it would go on writing into a layer directory the next
    command's sweep is removing."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    result = subprocess.run(["cp", "-a", "--reflink=auto", str(source), str(target)], capture_output=True, text=True,
                            preexec_fn=lambda: libc.prctl(1, signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    if result.returncode != 0:
        raise StorageError(f"vfs: copy parent layer: {result.stderr.strip()}")


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
        """This driver's snapshotter, over the layer store that owns its committed layers."""
        return VfsSnapshotter(self, layers, tmp)

    def create(self, cache_id: str, parents: list[str]) -> Path:
        diff = self.diff_path(cache_id)
        diff.parent.mkdir(parents=True)
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


class VfsSnapshotter(BaseSnapshotter):
    """Active layers as full copies (``<key>/diff``), bind-mounted."""

    name = "vfs"
    driver: Vfs

    def prepare(self, key: str, parent: Parent) -> list[Mount]:
        Path(key).mkdir(parents=True, exist_ok=True)
        top = self._top(self._parent(parent))
        if top is None:
            self.upper(key).mkdir()
        else:
            copy_tree(top, self.upper(key))
        return self.mounts(key, parent)

    def mounts(self, key: str, parent: Parent) -> list[Mount]:
        return [Mount("bind", str(self.upper(key)), ("rbind",))]

    def changes(self, key: str, parent: Parent, run_mounted: RunMounted[list[Change]]) -> list[Change]:
        from dockyard.storage.changes import copy_changes

        return copy_changes(self.upper(key), self._top(self._parent(parent)))  # plain directories: nothing to mount

    def write_changes(self, key: str, changes: list[Change], out: BinaryIO) -> None:
        from dockyard.storage.changes import write_copy_layer

        write_copy_layer(self.upper(key), changes, out)

    def _changes_for_diff(self, key: str, parent: Committed | None) -> Path:
        from dockyard.storage.treediff import diff_trees

        out = Path(key) / "changes"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        top = self._top(parent)
        if top is None:
            # no parent: the copy is all new
            os.rmdir(out)
            return self.upper(key)
        diff_trees(top, self.upper(key), out)
        return out

    def usage(self, key: str, parent: Parent) -> Usage:
        from dockyard.storage.changes import DELETED, copy_changes, size_rw

        found = copy_changes(self.upper(key), self._top(self._parent(parent)))
        return Usage(size_rw(self.upper(key), found), sum(1 for c in found if c.kind != DELETED))

    def graph_driver(self, parent: Parent, key: str | None = None, merged: str | None = None) -> GraphDriver:
        if key is None:
            return GraphDriver(self.name)
        return GraphDriver(self.name, None, str(self.upper(key)), str(Path(key) / "work"), merged)
