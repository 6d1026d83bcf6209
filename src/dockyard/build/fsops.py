"""File operations inside a step's mounted root filesystem (COPY, ADD, WORKDIR).

Every path inside the root is resolved with its symlinks confined to the
root (``confined``), so an image's absolute symlink never points a write at
the host; the last element is replaced, never followed.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.archive.paths import confined
from dockyard.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class Owner:
    uid: int = 0
    gid: int = 0


def _table(root: Path, name: str) -> list[list[str]]:
    try:
        text = confined(root, f"/etc/{name}").read_text(errors="replace")
    except OSError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#") and line.count(":") >= 2]


def parse_chown(root: Path, spec: str) -> Owner | None:
    """``--chown=user[:group]`` by names (from the image's /etc/passwd, /etc/group) or numbers."""
    if not spec:
        return None
    user, _, group = spec.partition(":")
    uid = gid = 0
    if user.isdigit():
        uid = int(user)
        gid = uid if not group else 0
    else:
        entry = next((e for e in _table(root, "passwd") if e[0] == user), None)
        if entry is None:
            raise InvalidArgumentError(f"unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}")
        uid, gid = int(entry[2]), int(entry[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            entry = next((e for e in _table(root, "group") if e[0] == group), None)
            if entry is None:
                raise InvalidArgumentError(f"unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: no such group: {group}")
            gid = int(entry[2])
    return Owner(uid, gid)


def parse_chmod(spec: str) -> int | None:
    if not spec:
        return None
    try:
        value = int(spec, 8)
    except ValueError:
        raise InvalidArgumentError(f"invalid chmod parameter: {spec!r}") from None
    if value > 0o7777:
        raise InvalidArgumentError(f"invalid chmod parameter: {spec!r}")
    return value


def make_dirs(root: Path, path: str, owner: Owner | None = None, known: dict[str, Path] | None = None) -> Path:
    """``mkdir -p`` inside ``root``; new directories are 0755 and owned by ``owner`` (root by default).

    ``known`` remembers resolved directories across the calls of one copy (its entries come
    parents first, so most lookups are one dictionary hit instead of a walk of the path)."""
    clean = "/" + "/".join(p for p in path.split("/") if p not in ("", "."))
    if known is not None and clean in known:
        return known[clean]
    current = ""
    for part in [p for p in clean.split("/") if p]:
        current = f"{current}/{part}"
        if known is not None and current in known:
            continue
        target = confined(root, current)
        if not target.exists():
            if target.is_symlink():
                target.unlink()
            target.mkdir(mode=0o755)
            os.chmod(target, 0o755)
            if owner:
                os.lchown(target, owner.uid, owner.gid)
        elif not target.is_dir():
            raise InvalidArgumentError(f"cannot create directory {current}: not a directory")
        if known is not None:
            known[current] = target
    resolved = confined(root, clean) if known is None else known.get(clean, root)
    return resolved


def _clear(target: Path, keep_dir: bool) -> None:
    """Make room for a new entry: whatever is there goes, except a directory that ``keep_dir`` keeps."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(target)
    elif not keep_dir:
        shutil.rmtree(target)


def _finish(target: Path, st: os.stat_result, owner: Owner | None, mode: int | None) -> None:
    uid, gid = (owner.uid, owner.gid) if owner else (0, 0)
    os.lchown(target, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, mode if mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_mtime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_entry(source: Path, root: Path, dest: str, owner: Owner | None, mode: int | None,
               known: dict[str, Path] | None = None) -> None:
    """One file, symlink or directory (not its contents) from the host to ``dest`` inside ``root``."""
    st = os.lstat(source)
    parent = make_dirs(root, posixpath.dirname(dest) or "/", known=known)
    target = parent / posixpath.basename(dest)
    if stat.S_ISDIR(st.st_mode):
        _clear(target, keep_dir=True)
        if not target.is_dir():
            target.mkdir()
        if known is not None:
            known[posixpath.normpath("/" + dest)] = target
    elif stat.S_ISLNK(st.st_mode):
        _clear(target, keep_dir=False)
        os.symlink(os.readlink(source), target)
    elif stat.S_ISREG(st.st_mode):
        _clear(target, keep_dir=False)
        with open(source, "rb") as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    else:
        return  # sockets, devices and fifos are not copied from a context
    _finish(target, st, owner, mode)


def write_file(root: Path, dest: str, data: bytes | Path, owner: Owner | None, mode: int, mtime: float) -> None:
    """A new file at ``dest`` from bytes (a heredoc) or a file's content (a download), streamed."""
    parent = make_dirs(root, posixpath.dirname(dest) or "/")
    target = parent / posixpath.basename(dest)
    _clear(target, keep_dir=False)
    if isinstance(data, Path):
        with open(data, "rb") as src, open(target, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    else:
        target.write_bytes(data)
    uid, gid = (owner.uid, owner.gid) if owner else (0, 0)
    os.lchown(target, uid, gid)
    os.chmod(target, mode)
    os.utime(target, (mtime, mtime))


def is_archive(path: Path) -> bool:
    """What ADD auto-extracts: a tar, possibly gzip/bzip2/xz compressed."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError):
        return False


def extract_archive(stream: BinaryIO | Path, root: Path, dest: str, owner: Owner | None) -> None:
    """Unpack a (compressed) tar under ``dest``: names are cleaned into it, links confined to ``root``."""
    base = dest.rstrip("/") or "/"
    make_dirs(root, base)
    with tarfile.open(stream, "r:*") if isinstance(stream, Path) else tarfile.open(fileobj=stream, mode="r|*") as tar:
        dirs: list[tuple[Path, tarfile.TarInfo]] = []
        for member in tar:
            name = posixpath.normpath("/" + member.name).lstrip("/")
            if not name or name == ".":
                continue
            inside = f"{base}/{name}"
            parent = make_dirs(root, posixpath.dirname(inside))
            target = parent / posixpath.basename(inside)
            uid, gid = (owner.uid, owner.gid) if owner else (member.uid, member.gid)
            if member.isdir():
                _clear(target, keep_dir=True)
                target.mkdir(exist_ok=True)
                dirs.append((target, member))
            elif member.isreg():
                _clear(target, keep_dir=False)
                data = tar.extractfile(member)
                with open(target, "xb") as out:
                    shutil.copyfileobj(data, out, 1 << 20)  # type: ignore[misc]
            elif member.issym():
                _clear(target, keep_dir=False)
                os.symlink(member.linkname, target)
            elif member.islnk():
                _clear(target, keep_dir=False)
                link = confined(root, f"{base}/{posixpath.normpath('/' + member.linkname).lstrip('/')}", follow_last=False)
                os.link(link, target)
                continue
            elif member.ischr() or member.isblk() or member.isfifo():
                _clear(target, keep_dir=False)
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
                os.mknod(target, kind | member.mode, os.makedev(member.devmajor, member.devminor))
            else:
                continue
            os.lchown(target, uid, gid)
            if not member.issym():
                os.chmod(target, member.mode & 0o7777)
                os.utime(target, (member.mtime, member.mtime))
        for target, member in reversed(dirs):
            os.chmod(target, member.mode & 0o7777)
            os.lchown(target, *((owner.uid, owner.gid) if owner else (member.uid, member.gid)))
            os.utime(target, (member.mtime, member.mtime))
