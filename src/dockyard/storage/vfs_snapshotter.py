"""The vfs snapshotter: an active layer is a full copy of its parent's top layer (``<key>/diff``),
bind-mounted; its changes are a comparison of that copy with the parent (Docker's naive differ), made
into an overlay-style change set under ``<key>/changes`` when a layer tar is wanted.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.storage.dirs import copy_tree
from dockyard.storage.mount import Mount
from dockyard.storage.graph import GraphDriver, graph_driver
from dockyard.storage.snapshotter import BaseSnapshotter, Committed, Parent, RunMounted, Usage

if TYPE_CHECKING:
    from dockyard.storage.changes import Change
    from dockyard.storage.vfs import Vfs


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
        return graph_driver(self.name, self.driver.home, (), key, merged)  # full copies: no parent to name
