"""A step's scratch root filesystem: the parent layers mounted under a fresh upper directory.

After the step, the upper directory is the step's change set: overlay
whiteouts and all, which ``archive.export.write_diff_tar`` turns into a layer
tar. Only the overlay driver keeps such a change set apart; vfs builds need
overlay to be mountable (as BuildKit's overlay snapshotter does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.export import write_diff_tar
from dockyard.errors import StorageError
from dockyard.storage.driver import Driver, Mount
from dockyard.storage.mount import mount_all, unmount


class Workspace:
    """Lifecycle: ``open`` (mount) → work in ``rootfs`` → ``close`` (unmount) → ``diff`` → ``remove``."""

    def __init__(self, driver: Driver, layers: list[str], tmp: Path) -> None:
        self.driver = driver
        self.layers = layers
        self.dir = Path(tempfile.mkdtemp(prefix="build-", dir=tmp))
        self.upper = self.dir / "diff"
        self.rootfs = self.dir / "rootfs"
        self._mounted = False

    def open(self) -> Workspace:
        (self.dir / "work").mkdir()
        self.upper.mkdir()
        self.rootfs.mkdir()
        try:
            mount_all(self._mounts(), self.rootfs)
        except BaseException:
            self.remove()
            raise
        self._mounted = True
        return self

    def _mounts(self) -> list[Mount]:
        if not self.layers:
            # scratch: the upper directory is the whole root
            return [Mount("bind", str(self.upper), ("rbind",))]
        if self.driver.name != "overlay2":
            raise StorageError("building images needs the overlay2 storage driver")
        return self.driver.mounts(self.layers, str(self.dir))

    def close(self) -> None:
        """Idempotent."""
        if self._mounted:
            unmount(self.rootfs)
            self._mounted = False

    def empty(self) -> bool:
        return not any(os.scandir(self.upper))

    def diff(self, out: BinaryIO, clamp_mtime: float | None) -> None:
        write_diff_tar(self.upper, out, clamp_mtime=clamp_mtime)

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Workspace:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
