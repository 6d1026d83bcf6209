"""Layer tars out of layer directories.

``export_layer`` replays tar-split metadata: the original headers and
padding, file content read back from the layer directory, so the output is
byte-identical to the tar that was applied and its diff ID holds.

``write_diff_tar`` makes a fresh tar of a directory (a container's writable
layer, a build step) with overlay whiteouts turned back into OCI ``.wh.``
entries; entries are sorted and, when ``clamp_mtime`` is given, no mtime is
later than it, so the same tree gives the same bytes.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Callable

from dockyard.archive.apply import OVERLAY_XATTR_PREFIXES, WHITEOUT_OPAQUE, WHITEOUT_PREFIX, is_opaque, upper_marker
from dockyard.archive.tarsplit import FileRef, read_records
from dockyard.errors import InvalidContentError

CHUNK = 1 << 20


def export_layer(root: Path, tarsplit_path: Path, write: Callable[[bytes], object]) -> int:
    """Rebuild the layer tar; return its size. Raises InvalidContentError when a file changed size."""
    total = 0
    base = os.fsencode(root)
    for record in read_records(tarsplit_path):
        if isinstance(record, FileRef):
            total += _copy_file(base + b"/" + record.path, record.size, write)
        else:
            write(record)
            total += len(record)
    return total


def _copy_file(path: bytes, size: int, write: Callable[[bytes], object]) -> int:
    with open(path, "rb", buffering=0) as f:
        left = size
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise InvalidContentError(f"layer file {os.fsdecode(path)} is shorter than recorded: the layer is corrupt")
            write(chunk)
            left -= len(chunk)
    return size


def write_diff_tar(root: Path, out: BinaryIO, *, clamp_mtime: float | None = None,
                   exclude: frozenset[str] = frozenset()) -> None:
    """A PAX tar of ``root`` with overlay whiteouts as OCI whiteouts; ``exclude`` names (relative to
    ``root``) are left out with everything below them."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        hardlinks: dict[tuple[int, int], str] = {}
        _add_tree(tar, os.fspath(root), "", hardlinks, clamp_mtime, exclude)


def _add_tree(tar: tarfile.TarFile, root: str, rel: str, links: dict[tuple[int, int], str], clamp: float | None,
              exclude: frozenset[str]) -> None:
    directory = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        member_name = f"{rel}/{name}" if rel else name
        if member_name in exclude:
            continue
        st = os.lstat(path)
        marker = upper_marker(name)
        if marker == "":
            continue  # fuse-overlayfs's opaque marks: the directory's xattr already said it
        if marker or (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
            name = marker or name
            whiteout = tarfile.TarInfo(f"{rel}/{WHITEOUT_PREFIX.decode()}{name}" if rel else f"{WHITEOUT_PREFIX.decode()}{name}")
            whiteout.mtime = _mtime(st.st_mtime, clamp)
            tar.addfile(whiteout)
            continue
        info = _info(path, member_name, st, links, clamp)
        if info.isreg():
            with open(path, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
        if stat.S_ISDIR(st.st_mode):
            if is_opaque(path):
                opaque = tarfile.TarInfo(f"{member_name}/{WHITEOUT_OPAQUE.decode()}")
                opaque.mtime = info.mtime
                tar.addfile(opaque)
            _add_tree(tar, root, member_name, links, clamp, exclude)


def _info(path: str, name: str, st: os.stat_result, links: dict[tuple[int, int], str], clamp: float | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = _mtime(st.st_mtime, clamp)
    key = (st.st_dev, st.st_ino)
    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1 and key in links:
        info.type, info.linkname = tarfile.LNKTYPE, links[key]
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
        links.setdefault(key, name)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    xattrs = _xattrs(path)
    if xattrs:
        info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    return info


def _mtime(value: float, clamp: float | None) -> int:
    return int(min(value, clamp) if clamp is not None else value)


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for key in sorted(names):
        if key.startswith(OVERLAY_XATTR_PREFIXES):
            continue  # overlay's own bookkeeping never leaves the host
        out[key] = os.getxattr(path, key, follow_symlinks=False).decode("utf-8", "surrogateescape")
    return out
