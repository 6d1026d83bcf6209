"""Where a new layer directory lands on disk: away from inodes the file system freed moments ago.

ext4 without a journal avoids reusing an inode freed "recently" (60 s, 360 s while its
inode-table block is dirty) while that block is cached: each allocation scans its block
group from the first inode and checks every free one until one is not recent, so a group
where a removed image's files were just freed costs a check of each of them for every new
file (load right after ``rmi``: ~0.4 ms of system time per file instead of ~10 µs). Files go to their
directory's group and subdirectories start their search from it, so a layer's tree lives
where its directory lands.

The layer home carries ext4's TOPDIR flag: a directory made in it is placed as a top-level
one, in a group with few directories and above-average free inodes and blocks, the search
starting at a hash of its name. A new layer directory is made under a temporary name; the
CPU time of creating one file in it shows what an allocation in its group costs, and a slow
group is tried again under another name, a few times at most; the cheapest try is renamed
to the layer's name and the others removed (a crash leaves ``.new-*`` directories, which
the sweep removes as it does any directory no layer names).
"""

from __future__ import annotations

import errno
import os
import secrets
import struct
import time
from pathlib import Path

TOPDIR_FL = 0x00020000  # FS_TOPDIR_FL: Orlov's top-level placement for the directories made in it
TRIES = 8
SLOW_NS = 30_000  # an empty file costs ~5-18 µs of CPU to create; each recently freed inode before a usable one, ~20 ns
NEW_PREFIX = ".new-"

_spread: dict[Path, bool] = {}  # per process: whether a home carries TOPDIR


def _ioc(direction: int, nr: int) -> int:
    """FS_IOC_GETFLAGS / FS_IOC_SETFLAGS: _IOR/_IOW('f', nr, long)."""
    return (direction << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | nr


FS_IOC_GETFLAGS = _ioc(2, 1)
FS_IOC_SETFLAGS = _ioc(1, 2)


def mark_top_dir(path: Path) -> bool:
    """Give ``path`` the TOPDIR flag; False where the file system has no such flag (tmpfs, xfs, ...)."""
    import array
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags)
        if not flags[0] & TOPDIR_FL:
            flags[0] |= TOPDIR_FL
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, flags)
            fcntl.ioctl(fd, FS_IOC_GETFLAGS, flags)  # a file system may take the call and drop the flag
        return bool(flags[0] & TOPDIR_FL)
    except OSError:
        return False
    finally:
        os.close(fd)


def creation_cost_ns(directory: Path) -> int:
    """CPU time (user+system, this thread) of creating an empty file in ``directory``; the file is removed."""
    probe = directory / ".probe"
    start = time.thread_time_ns()
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    cost = time.thread_time_ns() - start
    os.close(fd)
    os.unlink(probe)
    return cost


def make_layer_dir(home: Path, name: str) -> Path:
    """``home/name``, a new empty directory placed where creating files is cheap (see the module doc)."""
    target = home / name
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    if home not in _spread:
        _spread[home] = mark_top_dir(home)
    if not _spread[home]:  # every try would land in the same group
        target.mkdir()
        return target
    tries: list[tuple[int, Path]] = []
    try:
        for _ in range(TRIES):
            path = home / f"{NEW_PREFIX}{secrets.token_hex(8)}"
            path.mkdir()
            tries.append((creation_cost_ns(path), path))
            if tries[-1][0] < SLOW_NS:
                break
        tries.sort()
        os.rename(tries[0][1], target)
        del tries[0]
    finally:
        for _, path in tries:
            os.rmdir(path)
    return target
