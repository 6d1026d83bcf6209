"""Where the file system puts a store's new layers: away from the inodes a removal just freed.

ext4 (Orlov allocator) places a new directory in its parent's block group unless the parent
is the file system's root or carries the TOPDIR flag (``chattr +T``). Layer directories all
share one parent, so a layer extracted right after another was removed lands in the group
the removal just emptied, and on ext4 without a journal each new inode there first skips
every recently freed one: creating 20,000 files took 5.4 s instead of 0.4 s. With TOPDIR on
the layers' parent each new layer directory is spread to a group with room, as top-level
directories are (0.6 s in the same test). Other file systems ignore or refuse the flag.
"""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_TOPDIR_FL = 0x00020000


def spread_children(path: Path) -> None:
    """Mark ``path`` so the file system spreads its subdirectories (best effort: never fails)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        flags = struct.unpack("l", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("l", flags | _FS_TOPDIR_FL))
    except OSError:
        pass  # tmpfs, overlay, xfs...: no such flag, and nothing to gain
    finally:
        os.close(fd)
