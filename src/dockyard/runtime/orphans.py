"""What a crash can leave of a container no database row names: runtime state, processes, cgroups, mounts, files.

The engine calls ``sweep`` when it opens the root alone (no monitor holds it,
so nothing is mid-flight). Only IDs found under this root (its container
directories and its runc/crun state roots) are touched: the cgroup parent is
shared by every dockyard root on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dockyard.errors import StorageError
from dockyard.runtime import resources
from dockyard.runtime.rootfs import Paths, remove_dir
from dockyard.runtime.runc import Runc
from dockyard.storage.mount import unmount

RUNTIME_ROOTS = ("runc", "crun")


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def mounts_below(path: Path) -> list[str]:
    """Mount points at or below ``path``, deepest first."""
    prefix = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def sweep(root: Path, known: set[str]) -> list[str]:
    """Remove every trace of containers under ``root`` that are not in ``known``; the IDs removed."""
    home = root / "containers"
    found = {n for n in _listdir(home) if not n.startswith(".")}
    runtimes = {name: set(_listdir(root / name)) for name in RUNTIME_ROOTS}
    orphans = (found | set().union(*runtimes.values())) - known
    for cid in sorted(orphans):
        for name, ids in runtimes.items():
            if cid in ids and shutil.which(name):
                Runc(root / name, binary=name).delete(cid)
        resources.remove_cgroups(cid)
        _unmount_below(home / cid)
        remove_dir(Paths(home, cid))
    for name in _listdir(home):  # a removal that crashed half way
        if name.startswith(".removing-"):
            _unmount_below(home / name)
            shutil.rmtree(home / name, ignore_errors=True)
    return sorted(orphans)


def _unmount_below(path: Path) -> None:
    for point in mounts_below(path):
        try:
            unmount(Path(point))
        except StorageError:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)  # busy: detach it now, gone when freed
