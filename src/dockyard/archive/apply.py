"""Apply a layer tar to a directory, safely, keeping what re-exporting needs.

Member names are cleaned and taken relative to the root (as Docker does with
absolute names); a name that climbs out with ``..``, a parent directory that
is a symlink, a symlink whose target climbs out, or a hardlink to a path
outside the root fails the whole layer. Nothing is ever followed through a
symlink, so no write can land outside ``dest``.

OCI whiteouts become overlay whiteouts (``OVERLAY``: char device 0/0 and
``trusted.overlay.opaque=y``; ``OVERLAY_USERXATTR``: ``user.overlay.opaque=y``, for overlay
mounted with ``userxattr`` in a user namespace, where ``trusted.*`` is refused) or are applied as
deletions (``DELETE``, for a full copy of the parent as the vfs driver keeps). Overlay's own
xattrs in a tar are never written: they are the host's bookkeeping, not image content.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from dockyard.archive import tarstream
from dockyard.archive.tarsplit import TarSplitBuilder
from dockyard.errors import InvalidArchiveError, StorageError, UnmappedOwnerError, UnsafePathError
from dockyard.oci.digest import Digest, Digester

WHITEOUT_PREFIX = b".wh."
WHITEOUT_META_PREFIX = b".wh..wh."
WHITEOUT_OPAQUE = b".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
USER_OPAQUE_XATTR = "user.overlay.opaque"
FUSE_OPAQUE_XATTR = "user.fuseoverlayfs.opaque"  # what fuse-overlayfs writes where trusted.* is refused
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.")

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


class Whiteouts(Enum):
    OVERLAY = "overlay"
    OVERLAY_USERXATTR = "overlay-userxattr"
    DELETE = "delete"

    @property
    def on_disk(self) -> bool:
        """Whiteouts kept as overlay's char devices and opaque xattrs (not applied as deletions)."""
        return self is not Whiteouts.DELETE


def is_opaque(path: str | bytes) -> bool:
    """An opaque directory of either overlay flavour (an image's own overlay xattrs are never written)."""
    for key in (OPAQUE_XATTR, USER_OPAQUE_XATTR, FUSE_OPAQUE_XATTR):
        try:
            if os.getxattr(path, key, follow_symlinks=False) == b"y":
                return True
        except OSError:
            pass
    return False


def upper_marker(name: str) -> str | None:
    """What a ``.wh.`` name in an upper directory stands for: fuse-overlayfs, where it cannot make a device
    or set a trusted xattr, marks an opaque directory with ``.wh..wh..opq`` and ``.wh..opq`` entries (the
    directory's xattr says it too: "") and a deleted NAME with a ``.wh.NAME`` file ("NAME"); None: a real entry."""
    if not name.startswith(".wh."):
        return None
    if name in (".wh..wh..opq", ".wh..opq"):
        return ""
    return name[len(".wh.") :]


def image_xattrs(xattrs: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in xattrs.items() if not k.startswith(OVERLAY_XATTR_PREFIXES)}


@dataclass(frozen=True, slots=True)
class AppliedLayer:
    diff_id: Digest
    tar_size: int  # bytes of the uncompressed tar
    size: int  # Docker's layer size: st_size of non-directories, hardlinks once


def _clean(name: bytes) -> bytes:
    """Go's filepath.Clean; an absolute name is then taken relative to the root, as Docker does."""
    cleaned = posixpath.normpath(name) if name else b"."
    if cleaned.startswith(b"/"):
        return cleaned.lstrip(b"/") or b"."
    return cleaned


def _escapes(cleaned: bytes) -> bool:
    return cleaned == b".." or cleaned.startswith(b"../")


class _Applier:
    def __init__(self, dest: Path, whiteouts: Whiteouts, split: TarSplitBuilder) -> None:
        self.root = os.fsencode(dest)
        self.whiteouts = whiteouts
        self.split = split
        self.known_dirs: set[bytes] = {b"."}
        # last header wins, and an entry goes when its directory is removed later in the tar
        self.dir_times: dict[bytes, int] = {}
        self.file_records: dict[bytes, int] = {}
        self.unpacked: set[bytes] = set()
        self.content_bytes = 0  # the layer's own file content: its size where parents are copied in

    # path safety --------------------------------------------------------------

    def _name(self, member: tarstream.Member) -> bytes:
        rel = _clean(member.name)
        if _escapes(rel):
            raise UnsafePathError(f"invalid layer: {os.fsdecode(member.name)!r} is outside of the layer root")
        return rel

    def _abs(self, rel: bytes) -> bytes:
        return self.root if rel == b"." else self.root + b"/" + rel

    def _ensure_parent(self, rel: bytes) -> None:
        """Every ancestor of ``rel`` must be a real directory inside the root; create missing ones."""
        parent = posixpath.dirname(rel) or b"."
        if parent in self.known_dirs:
            return
        current = b""
        for part in parent.split(b"/"):
            current = current + b"/" + part if current else part
            if current in self.known_dirs:
                continue
            path = self._abs(current)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
            else:
                if stat.S_ISLNK(st.st_mode):
                    raise UnsafePathError(
                        f"invalid layer: {os.fsdecode(rel)!r} is written through the symlink {os.fsdecode(current)!r}"
                    )
                if not stat.S_ISDIR(st.st_mode):
                    self._remove(current)
                    os.mkdir(path, 0o755)
            self.known_dirs.add(current)

    def _remove(self, rel: bytes) -> None:
        """Remove what is at ``rel``, keeping any recorded file content for re-export."""
        path = self._abs(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            prefix = rel + b"/"
            for name in [n for n in self.file_records if n.startswith(prefix)]:
                self._inline(name)
            self.known_dirs = {d for d in self.known_dirs if d != rel and not d.startswith(prefix)}
            self.dir_times = {d: t for d, t in self.dir_times.items() if d != rel and not d.startswith(prefix)}
            shutil.rmtree(path)
        else:
            if rel in self.file_records:
                self._inline(rel)
            os.unlink(path)

    def _inline(self, rel: bytes) -> None:
        with open(self._abs(rel), "rb") as f:
            self.split.inline(self.file_records.pop(rel), f.read())

    # members -------------------------------------------------------------------

    def apply(self, stream: tarstream.TarStream) -> None:
        while (member := stream.next()) is not None:
            rel = self._name(member)
            base = posixpath.basename(rel)
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(rel, base, member)
                stream.skip_content_as_raw()
                continue
            if rel != b".":
                self._ensure_parent(rel)
            if member.is_regular:
                self._regular(rel, member, stream)
            else:
                self._other(rel, member)
                stream.skip_content_as_raw()
            self.unpacked.add(rel)
        for rel, mtime_ns in self.dir_times.items():
            os.utime(self._abs(rel), ns=(mtime_ns, mtime_ns), follow_symlinks=False)

    def _regular(self, rel: bytes, member: tarstream.Member, stream: tarstream.TarStream) -> None:
        path = self._abs(rel)
        try:
            fd = os.open(path, _CREATE, 0o600)
        except FileExistsError:
            self._remove(rel)
            fd = os.open(path, _CREATE, 0o600)
        self.content_bytes += member.size
        # recorded before the content: its padding is the next raw record
        self.file_records[rel] = self.split.file(rel, member.size)
        try:
            stream.copy_content(lambda chunk: _write_all(fd, chunk))
            self._attributes(fd, member)
            os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
        finally:
            os.close(fd)

    @staticmethod
    def _attributes(fd: int, member: tarstream.Member) -> None:
        _chown(fd, member)
        os.fchmod(fd, stat.S_IMODE(member.mode))  # after chown, which clears setuid/setgid
        for key, value in image_xattrs(member.xattrs).items():
            os.setxattr(fd, key, value)

    def _other(self, rel: bytes, member: tarstream.Member) -> None:
        path = self._abs(rel)
        kind = member.type
        if kind == tarstream.DIRECTORY:
            self._directory(rel, path, member)
            return
        self._remove(rel)
        if kind == tarstream.SYMLINK:
            target = posixpath.join(posixpath.dirname(rel), member.linkname) if not member.linkname.startswith(b"/") else member.linkname
            if _escapes(_clean(target)):
                raise UnsafePathError(
                    f"invalid layer: symlink {os.fsdecode(rel)!r} -> {os.fsdecode(member.linkname)!r} points outside of the layer root"
                )
            os.symlink(member.linkname, path)
        elif kind == tarstream.HARDLINK:
            target_rel = _clean(member.linkname)
            if _escapes(target_rel) or target_rel == b".":
                raise UnsafePathError(
                    f"invalid layer: hardlink {os.fsdecode(rel)!r} -> {os.fsdecode(member.linkname)!r} points outside of the layer root"
                )
            self._ensure_parent(target_rel)
            try:
                os.link(self._abs(target_rel), path, follow_symlinks=False)
            except FileNotFoundError as exc:
                raise InvalidArchiveError(
                    f"invalid layer: hardlink {os.fsdecode(rel)!r} to missing {os.fsdecode(member.linkname)!r}"
                ) from exc
            return  # attributes belong to the inode, already set
        elif kind in (tarstream.CHARDEV, tarstream.BLOCKDEV):
            mode = stat.S_IFCHR if kind == tarstream.CHARDEV else stat.S_IFBLK
            try:
                os.mknod(path, mode | 0o600, os.makedev(member.devmajor, member.devminor))
            except PermissionError:
                if not _in_user_namespace():
                    raise
                return  # a user namespace cannot make devices: skipped, as moby's archive does (runc binds them)
        elif kind == tarstream.FIFO:
            os.mkfifo(path, 0o600)
        self._attributes_path(path, member, symlink=kind == tarstream.SYMLINK)
        os.utime(path, ns=(member.mtime_ns, member.mtime_ns), follow_symlinks=False)

    @staticmethod
    def _attributes_path(path: bytes, member: tarstream.Member, *, symlink: bool = False) -> None:
        _chown(path, member)
        if not symlink:  # a symlink's own mode cannot be set on Linux
            os.chmod(path, stat.S_IMODE(member.mode))
        for key, value in image_xattrs(member.xattrs).items():
            try:
                os.setxattr(path, key, value, follow_symlinks=False)
            except OSError as exc:
                # the kernel refuses user.* xattrs on symlinks; Docker ignores that too
                if not (symlink and exc.errno in (errno.ENOTSUP, errno.EPERM)):
                    raise

    def _directory(self, rel: bytes, path: bytes, member: tarstream.Member) -> None:
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                self._remove(rel)
                os.mkdir(path, 0o700)
        except FileNotFoundError:
            os.mkdir(path, 0o700)
        self.known_dirs.add(rel)
        self._attributes_path(path, member)
        self.dir_times.pop(rel, None)
        self.dir_times[rel] = member.mtime_ns

    def _whiteout(self, rel: bytes, base: bytes, member: tarstream.Member) -> None:
        parent = posixpath.dirname(rel) or b"."
        if parent != b".":
            self._ensure_parent(rel)
        if base == WHITEOUT_OPAQUE:
            if self.whiteouts.on_disk:
                key = USER_OPAQUE_XATTR if self.whiteouts is Whiteouts.OVERLAY_USERXATTR else OPAQUE_XATTR
                os.setxattr(self._abs(parent), key, b"y")
            else:
                self._clear_lower(parent)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping: skipped, as Docker does
        name = base[len(WHITEOUT_PREFIX) :]
        if name in (b"", b".", b".."):
            raise UnsafePathError(f"invalid layer: whiteout {os.fsdecode(member.name)!r} names no entry inside the layer root")
        target = (parent + b"/" if parent != b"." else b"") + name
        self._remove(target)
        self.unpacked.discard(target)
        if self.whiteouts.on_disk:
            path = self._abs(target)
            os.mknod(path, stat.S_IFCHR | 0o600, 0)
            _chown(path, member)

    def _clear_lower(self, parent: bytes) -> None:
        """An opaque directory hides everything below it that this layer did not write."""
        prefix = b"" if parent == b"." else parent + b"/"
        for name in os.listdir(self._abs(parent)):
            rel = prefix + name
            if rel not in self.unpacked:
                self._remove(rel)
            elif rel in self.known_dirs and os.path.isdir(self._abs(rel)) and not os.path.islink(self._abs(rel)):
                self._clear_lower(rel)  # written by this layer, but its lower children are still hidden


def _chown(target: int | bytes, member: tarstream.Member) -> None:
    """The member's owner; EINVAL means the user namespace maps no such id (a user without a
    subordinate range), which gets its own message."""
    try:
        os.chown(target, member.uid, member.gid, follow_symlinks=isinstance(target, int))
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        kind, value, file = ("uid", member.uid, "subuid") if member.uid else ("gid", member.gid, "subgid")
        user = os.environ.get("USER") or os.environ.get("LOGNAME") or "this user"
        raise UnmappedOwnerError(
            f"cannot apply layer: {os.fsdecode(_clean(member.name))}: file owned by {kind} {value} needs a subordinate "
            f"ID range in /etc/{file} for {user}"
        ) from exc


def apply_layer(stream: BinaryIO, dest: Path, whiteouts: Whiteouts, tarsplit_path: Path) -> AppliedLayer:
    """Extract the uncompressed tar ``stream`` into ``dest`` (which must exist).

    Writes the tar-split metadata to ``tarsplit_path``. Raises
    InvalidArchiveError (UnsafePathError for escapes) or StorageError; on
    error ``dest`` is left partly written and the caller discards it.
    """
    split = TarSplitBuilder()
    digester = Digester()
    applier = _Applier(dest, whiteouts, split)
    tar = tarstream.TarStream(stream, digester, split.raw)
    try:
        applier.apply(tar)
        split.write(tarsplit_path)
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, (str, bytes)) else b""
        raise StorageError(f"apply layer: {exc.strerror or exc}: {os.fsdecode(where)}") from exc
    # overlay2 measures its diff directory (Docker's directory.Size); a vfs layer holds its
    # parents too, so its size is its own content, as Docker's naive differ reports it
    size = directory_size(dest) if whiteouts.on_disk else applier.content_bytes
    return AppliedLayer(digester.digest(), tar.total, size)


def directory_size(root: Path) -> int:
    """Docker's layer size (pkg/directory.Size): st_size of non-directories, each inode once."""
    total = 0
    seen: set[int] = set()
    stack = [os.fsencode(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                st = entry.stat(follow_symlinks=False)
                if st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    total += st.st_size
    return total


def _in_user_namespace() -> bool:
    """Inside a user namespace other than the initial one (rootless), whose kernel refuses mknod."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False
