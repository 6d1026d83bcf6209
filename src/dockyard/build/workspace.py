"""A step's scratch root filesystem: the parent layers mounted under a fresh upper directory.

After the step, the upper directory is the step's change set: overlay
whiteouts and all, which ``archive.export.write_diff_tar`` turns into a layer
tar. With the vfs driver the top layer's full copy is the single lower
directory; where overlay cannot be mounted at all, the step works on a copy
of it and ``treediff`` makes the upper directory afterwards.

A build killed mid-step leaves its workspace mounted under ``tmp/``:
``sweep_mounts`` unmounts such leftovers before the engine clears ``tmp/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.export import write_diff_tar
from dockyard.build.treediff import diff_trees
from dockyard.errors import StorageError
from dockyard.storage.driver import Driver, Mount
from dockyard.storage.mount import mount_all, unmount

PREFIX = "build-"

# deleting a step's upper directory is slow for many files: a worker does it while the next step runs
_reaper: ThreadPoolExecutor | None = None
_pending: list[Future[None]] = []
_lock = threading.Lock()


def _remove_later(path: Path) -> None:
    global _reaper
    with _lock:
        if _reaper is None:
            _reaper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="build-reaper")
        _pending.append(_reaper.submit(shutil.rmtree, path, True))


def drain() -> None:
    """Wait for deferred removals (the builder calls this before it returns)."""
    with _lock:
        pending = list(_pending)
        _pending.clear()
    for future in pending:
        future.result()


class Workspace:
    """Lifecycle: ``open`` (mount) → work in ``rootfs`` → ``close`` (unmount) → ``diff`` → ``remove``."""

    def __init__(self, driver: Driver, layers: list[str], tmp: Path, *, copy: bool = False) -> None:
        self.driver = driver
        self.layers = layers
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=tmp))
        self.upper = self.dir / "diff"
        self.rootfs = self.dir / "rootfs"
        self._mounted = False
        self._copy_of: Path | None = None  # copy mode: the tree the rootfs is a copy of
        self._force_copy = copy

    def open(self) -> Workspace:
        (self.dir / "work").mkdir()
        self.upper.mkdir()
        self.rootfs.mkdir()
        try:
            if self._force_copy and self.layers:
                self._open_copy()
            else:
                self._mount()
        except BaseException:
            self.remove()
            raise
        return self

    def _mount(self) -> None:
        try:
            mount_all(self._mounts(), self.rootfs)
        except StorageError:
            if self.driver.name == "overlay2" or not self.layers:
                raise
            self._open_copy()  # vfs where overlay cannot be mounted: work on a full copy
            return
        self._mounted = True

    def _open_copy(self) -> None:
        source = self.driver.diff_path(self.layers[-1])
        result = subprocess.run(["cp", "-a", "--reflink=auto", f"{source}/.", str(self.rootfs)], capture_output=True, text=True)
        if result.returncode != 0:
            raise StorageError(f"copy layer for a build step: {result.stderr.strip()}")
        self._copy_of = source

    def _mounts(self) -> list[Mount]:
        if not self.layers:
            # scratch: the upper directory is the whole root
            return [Mount("bind", str(self.upper), ("rbind",))]
        if self.driver.name == "overlay2":
            mounts = self.driver.mounts(self.layers, str(self.dir))
        else:
            lower = self.driver.diff_path(self.layers[-1])  # vfs: the top layer is a full copy
            options = (f"lowerdir={lower}", f"upperdir={self.upper}", f"workdir={self.dir / 'work'}")
            mounts = [Mount("overlay", "overlay", options)]
        extra = _full_copy_up()
        return [Mount(m.type, m.source, m.options + extra, m.cwd) if m.type == "overlay" else m for m in mounts]

    def close(self) -> None:
        """Idempotent."""
        if self._mounted:
            unmount(self.rootfs)
            self._mounted = False

    def _changes(self) -> Path:
        """The upper directory; in copy mode made once, after the step, from the copy and its original."""
        if self._copy_of is not None:
            diff_trees(self._copy_of, self.rootfs, self.upper)
            self._copy_of = None
        return self.upper

    def empty(self) -> bool:
        return not any(os.scandir(self._changes()))

    def diff(self, out: BinaryIO, clamp_mtime: float | None) -> None:
        write_diff_tar(self._changes(), out, clamp_mtime=clamp_mtime)

    def remove(self) -> None:
        self.close()
        doomed = self.dir.with_name(".removing-" + self.dir.name)
        try:
            os.rename(self.dir, doomed)
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        _remove_later(doomed)


def _full_copy_up() -> tuple[str, ...]:
    """Where the kernel defaults to them, turn off overlay's metadata-only copy-up and directory
    redirects: the upper directory must hold whole files and directories to become a layer tar."""
    out = []
    for feature in ("redirect_dir", "metacopy"):
        try:
            enabled = Path(f"/sys/module/overlay/parameters/{feature}").read_text().strip() in ("Y", "on")
        except OSError:
            enabled = False
        if enabled:
            out.append(f"{feature}=off")
    return tuple(out)


def sweep_mounts(tmp: Path) -> None:
    """Unmount what killed builds left mounted under ``tmp`` (deepest first)."""
    prefix = os.path.realpath(tmp) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted({p for p in points if p.startswith(prefix)}, key=lambda p: p.count("/"), reverse=True):
        try:
            unmount(Path(point.replace("\\040", " ")))
        except StorageError:
            # busy: detach it now (gone once unused) rather than keep every command from starting
            subprocess.run(["umount", "-l", point], capture_output=True)
