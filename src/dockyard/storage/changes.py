"""The differ: what an active layer changed, as ``docker diff`` lists it and as the layer tar ``commit`` stores.

overlay2: the writable layer *is* the change set: an entry in the upper
directory was added (absent from the image) or changed (present), a char
device 0/0 is a deletion, an opaque directory hides what the image had below
it. vfs keeps a full copy, so the change set is a comparison of that copy
with the image's top layer (Docker's naive differ).

Docker keeps the mount points of ``/etc/hosts``, ``/proc`` and the like in an
init layer below the container's, so they never show in ``diff`` or a
committed image; runc creates them in the writable layer here, so they are
left out explicitly (``INIT_FILES``, and ``INIT_DIRS`` that hold nothing
else).
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.apply import WHITEOUT_PREFIX, is_opaque, upper_marker
from dockyard.archive.export import write_diff_tar

INIT_FILES = frozenset({"etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv", "dev/console", "etc/mtab"})
INIT_DIRS = ("dev/pts", "dev/shm", "dev/mqueue", "sys/fs/cgroup", "sys/fs", "dev", "proc", "sys", "etc")

ADDED, CHANGED, DELETED = "A", "C", "D"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # A, C or D, as ``docker diff`` prints them
    path: str  # relative to the root, no leading slash

    def line(self) -> str:
        return f"{self.kind} /{self.path}"


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _isdir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def overlay_changes(upper: Path, lower: Path | None) -> list[Change]:
    """The upper directory's entries, classified against ``lower`` (the image's merged layers, or None: empty)."""
    out: list[Change] = []
    up, low = os.fspath(upper), os.fspath(lower) if lower else None

    def walk(rel: str) -> None:
        for name in _listdir(os.path.join(up, rel) if rel else up):
            child = f"{rel}/{name}" if rel else name
            path = os.path.join(up, child)
            st = os.lstat(path)
            marker = upper_marker(name)
            if marker == "":
                continue  # fuse-overlayfs's opaque marks (the directory's xattr says it too)
            if marker:
                child = f"{rel}/{marker}" if rel else marker
            in_lower = low is not None and os.path.lexists(os.path.join(low, child))
            if marker or _is_whiteout(st):
                if in_lower:
                    out.append(Change(DELETED, child))
                continue
            out.append(Change(CHANGED if in_lower else ADDED, child))
            if stat.S_ISDIR(st.st_mode):
                if in_lower and is_opaque(path) and low is not None:
                    hidden = set(_listdir(os.path.join(low, child))) - set(_listdir(path))
                    out.extend(Change(DELETED, f"{child}/{n}") for n in sorted(hidden))
                walk(child)

    walk("")
    return without_init_artifacts(sorted(out, key=_path_key), upper)


def _same(a: os.stat_result, b: os.stat_result, a_path: str, b_path: str) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) != (b.st_mode, b.st_uid, b.st_gid, b.st_rdev):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True  # a directory changes only by its own attributes; its entries are reported themselves
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(a_path) == os.readlink(b_path)
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


def copy_changes(layer: Path, image: Path | None) -> list[Change]:
    """A full copy (vfs) compared with the image's full top layer."""
    out: list[Change] = []
    new_root, old_root = os.fspath(layer), os.fspath(image) if image else None

    def added(rel: str) -> None:
        for name in _listdir(os.path.join(new_root, rel)):
            child = f"{rel}/{name}"
            out.append(Change(ADDED, child))
            if _isdir(os.path.join(new_root, child)):
                added(child)

    def walk(rel: str) -> bool:
        """Compare one directory; True when an entry was added or deleted in it."""
        new_dir = os.path.join(new_root, rel) if rel else new_root
        old_dir = (os.path.join(old_root, rel) if rel else old_root) if old_root else None
        new_names = set(_listdir(new_dir))
        old_names = set(_listdir(old_dir)) if old_dir else set()
        touched = False
        for name in sorted(new_names | old_names):
            child = f"{rel}/{name}" if rel else name
            if name not in new_names:
                out.append(Change(DELETED, child))
                touched = True
                continue
            new_path = os.path.join(new_dir, name)
            new_st = os.lstat(new_path)
            if name not in old_names or old_dir is None:
                out.append(Change(ADDED, child))
                touched = True
                if stat.S_ISDIR(new_st.st_mode):
                    added(child)
                continue
            old_path = os.path.join(old_dir, name)
            old_st = os.lstat(old_path)
            same = _same(new_st, old_st, new_path, old_path)
            here = len(out)
            if not same:
                out.append(Change(CHANGED, child))
            if stat.S_ISDIR(new_st.st_mode) and stat.S_ISDIR(old_st.st_mode) and walk(child) and same:
                out.insert(here, Change(CHANGED, child))  # Docker reports the parent of an addition or deletion
        return touched

    walk("")
    return without_init_artifacts(sorted(out, key=_path_key), layer)


def _path_key(change: Change) -> list[str]:
    return change.path.split("/")


def without_init_artifacts(changes: list[Change], layer: Path) -> list[Change]:
    """Drop runc's mount points (Docker's init layer holds them) and directories that then hold no change."""
    kept = [c for c in changes if c.path not in INIT_FILES]
    for directory in INIT_DIRS:
        prefix = directory + "/"
        if any(c.path.startswith(prefix) for c in kept):
            continue
        entry = os.path.join(layer, directory)
        if _isdir(entry) and not is_opaque(entry):
            kept = [c for c in kept if c.path != directory]
    return kept


def dropped_paths(upper: Path, changes: list[Change]) -> frozenset[str]:
    """Entries of ``upper`` that ``changes`` left out as init artifacts (for the committed layer)."""
    reported = {c.path for c in changes}
    out = {p for p in INIT_FILES if os.path.lexists(os.path.join(upper, p))}
    out |= {d for d in INIT_DIRS if _isdir(os.path.join(upper, d)) and d not in reported}
    return frozenset(out)


def write_overlay_layer(upper: Path, changes: list[Change], out: BinaryIO) -> None:
    """The upper directory as a layer tar (OCI whiteouts), without the init artifacts."""
    write_diff_tar(upper, out, exclude=dropped_paths(upper, changes))


def write_copy_layer(layer: Path, changes: list[Change], out: BinaryIO) -> None:
    """The changed entries of a full copy as a layer tar, deletions as ``.wh.`` entries."""
    root = os.fspath(layer)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for change in changes:
            if change.kind == DELETED:
                parent, _, name = change.path.rpartition("/")
                whiteout = tarfile.TarInfo((parent + "/" if parent else "") + WHITEOUT_PREFIX.decode() + name)
                tar.addfile(whiteout)
                continue
            add_entry(tar, os.path.join(root, change.path), change.path)


def add_entry(tar: tarfile.TarFile, path: str, name: str, *, owner: tuple[int, int] | None = None) -> None:
    """One file system entry (not its children) as a tar member; ``owner`` overrides uid/gid."""
    info = tar.gettarinfo(path, name)
    info.uname = info.gname = ""
    if owner is not None:
        info.uid, info.gid = owner
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def export_tree(root: Path, out: BinaryIO) -> None:
    """The whole merged file system as one tar (``docker export``)."""
    write_diff_tar(root, out)


def size_rw(changes_root: Path, changes: list[Change]) -> int:
    """Docker's SizeRw: bytes of the regular files and links the container added or changed."""
    total = 0
    seen: set[int] = set()
    for change in changes:
        if change.kind == DELETED:
            continue
        try:
            st = os.lstat(os.path.join(changes_root, change.path))
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total
