"""The changes between two full trees, as an overlay upper directory.

The vfs snapshotter's active layer is a full copy of its parent's tree; for
a layer tar this turns "parent vs copy" into what an overlay upper directory
would hold: new and changed entries (hard-linked from the copy, their parent
directories alongside) and a 0/0 character device for each removed name,
which ``write_diff_tar`` writes as an OCI whiteout. Unchanged means same type, mode, owner, size, mtime and
link target, as Docker's naive differ judges it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode) or a.st_mode != b.st_mode:
        return False
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True  # a directory's own changes show through its entries
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and a.st_rdev == b.st_rdev


def _entries(path: Path) -> dict[str, os.stat_result]:
    try:
        names = os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    return {name: os.lstat(path / name) for name in names}


def _parents(new_root: Path, upper: Path, rel: str) -> None:
    """The directories above ``rel`` in ``upper``, with the new tree's metadata."""
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        target = upper / parent
        if not target.exists():
            target.mkdir()
            _copy_meta(new_root / parent, target)


def _copy_meta(source: Path, target: Path) -> None:
    st = os.lstat(source)
    os.lchown(target, st.st_uid, st.st_gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _place(new_root: Path, upper: Path, rel: str) -> None:
    """Put ``rel`` of the new tree into ``upper``."""
    _parents(new_root, upper, rel)
    source, target = new_root / rel, upper / rel
    st = os.lstat(source)
    if stat.S_ISDIR(st.st_mode):
        target.mkdir(exist_ok=True)
        _copy_meta(source, target)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), target)
        _copy_meta(source, target)
    else:
        os.link(source, target)  # same filesystem: the content is not copied


def _whiteout(upper: Path, rel: str, new_root: Path) -> None:
    _parents(new_root, upper, rel)
    os.mknod(upper / rel, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def diff_trees(old_root: Path, new_root: Path, upper: Path, rel: str = "") -> None:
    """Write into ``upper`` what changed from ``old_root`` to ``new_root`` below ``rel``."""
    old = _entries(old_root / rel if rel else old_root)
    new = _entries(new_root / rel if rel else new_root)
    for name in sorted(old.keys() - new.keys()):
        _whiteout(upper, f"{rel}/{name}" if rel else name, new_root)
    for name, st in sorted(new.items()):
        path = f"{rel}/{name}" if rel else name
        before = old.get(name)
        if before is not None and stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(before.st_mode):
            if not _same(before, st):
                _place(new_root, upper, path)
            diff_trees(old_root, new_root, upper, path)
        elif before is None or not _same(before, st):
            _place(new_root, upper, path)  # over an old directory too: a new entry hides it whole
            if stat.S_ISDIR(st.st_mode):
                _copy_all(new_root, upper, path)


def _copy_all(new_root: Path, upper: Path, rel: str) -> None:
    for name in sorted(os.listdir(new_root / rel)):
        path = f"{rel}/{name}"
        _place(new_root, upper, path)
        if (new_root / path).is_dir() and not (new_root / path).is_symlink():
            _copy_all(new_root, upper, path)
