"""A step's scratch root filesystem: an active layer the snapshotter prepares over the parent layers.

After the step, the snapshotter's diff of that layer is the step's change
set, which becomes a layer tar (overlay2: the upper directory itself; vfs: a
full copy compared with its parent). A read-only ``view`` serves where a step
only reads another stage (``COPY --from``).

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

from dockyard.errors import StorageError
from dockyard.storage.mount import Mount, mount_all, unmount
from dockyard.storage.snapshotter import Committed, Snapshotter

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
    """Lifecycle: ``open`` (prepare and mount) → work in ``rootfs`` → ``close`` (unmount) → ``diff`` → ``remove``."""

    def __init__(self, snapshotter: Snapshotter, parent: Committed | None, tmp: Path, *, writable: bool = True) -> None:
        self.snapshotter = snapshotter
        self.parent = parent
        self.writable = writable
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=tmp))
        self.key = str(self.dir / "layer")  # the active snapshot
        self.upper = snapshotter.upper(self.key)
        self.rootfs = self.dir / "rootfs"
        self._mounted = False

    def open(self) -> Workspace:
        self.rootfs.mkdir()
        try:
            if self.writable:
                mounts = self.snapshotter.prepare(self.key, self.parent)
            else:
                mounts = self.snapshotter.view(self.key, self.parent)
            mount_all(_with_full_copy_up(mounts), self.rootfs)
        except BaseException:
            self.remove()
            raise
        self._mounted = True
        return self

    def close(self) -> None:
        """Idempotent."""
        if self._mounted:
            unmount(self.rootfs)
            self._mounted = False

    def diff(self, out: BinaryIO, clamp_mtime: float | None) -> bool:
        """The step's changes as a layer tar; False (nothing written) when it changed nothing."""
        return self.snapshotter.diff(self.key, self.parent, out, clamp_mtime)

    def remove(self) -> None:
        self.close()
        doomed = self.dir.with_name(".removing-" + self.dir.name)
        try:
            os.rename(self.dir, doomed)
        except OSError:
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        _remove_later(doomed)  # the active layer goes with the workspace directory, off the build's path


def _with_full_copy_up(mounts: list[Mount]) -> list[Mount]:
    extra = _full_copy_up()
    return [Mount(m.type, m.source, m.options + extra, m.cwd) if m.type == "overlay" and extra else m for m in mounts]


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
