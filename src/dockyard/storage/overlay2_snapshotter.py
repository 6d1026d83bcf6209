"""The overlay2 snapshotter: active layers as overlay upper directories over the driver's committed layers
(``storage.overlay2``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from dockyard.storage.mount import Mount
from dockyard.storage.graph import GraphDriver, graph_driver
from dockyard.storage.snapshotter import BaseSnapshotter, Committed, Parent, RunMounted, Usage

if TYPE_CHECKING:
    from dockyard.storage.changes import Change
    from dockyard.storage.overlay2 import Overlay2


class Overlay2Snapshotter(BaseSnapshotter):
    """Active layers as overlay upper directories (``<key>/diff``, ``<key>/work``) over the parent's layers."""

    driver: Overlay2

    @property  # type: ignore[override]
    def name(self) -> str:
        """overlay2, or fuse-overlayfs when that mounts the same layout."""
        return self.driver.name

    def prepare(self, key: str, parent: Parent) -> list[Mount]:
        root = Path(key)
        (root / "diff").mkdir(parents=True)
        (root / "work").mkdir()
        return self.mounts(key, parent)

    def mounts(self, key: str, parent: Parent) -> list[Mount]:
        resolved = self._parent(parent)
        if resolved is None or not resolved.cache_ids:
            return [Mount("bind", str(self.upper(key)), ("rbind",))]  # no parent: the upper is the whole root
        return self.driver.mounts(list(resolved.cache_ids), key)

    def changes(self, key: str, parent: Parent, run_mounted: RunMounted[list[Change]]) -> list[Change]:
        from dockyard.storage.changes import overlay_changes

        resolved = self._parent(parent)
        upper = self.upper(key)
        if resolved is None or not resolved.cache_ids:
            return overlay_changes(upper, None)
        lower = self.driver.mounts(list(resolved.cache_ids), None)
        return run_mounted(lower, lambda root: overlay_changes(upper, root))

    def write_changes(self, key: str, changes: list[Change], out: BinaryIO) -> None:
        from dockyard.storage.changes import write_overlay_layer

        write_overlay_layer(self.upper(key), changes, out)

    def _changes_for_diff(self, key: str, parent: Committed | None) -> Path:
        return self.upper(key)  # the upper directory is the change set

    def usage(self, key: str, parent: Parent) -> Usage:
        size = inodes = 0
        seen: set[int] = set()
        for dirpath, dirnames, filenames in os.walk(self.upper(key)):
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                inodes += 1
                if not os.path.isdir(os.path.join(dirpath, name)) and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    size += st.st_size
        return Usage(size, inodes)

    def graph_driver(self, parent: Parent, key: str | None = None, merged: str | None = None) -> GraphDriver:
        resolved = self._parent(parent)
        return graph_driver(self.name, self.driver.home, resolved.cache_ids if resolved else (), key, merged)
