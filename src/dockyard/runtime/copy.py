"""``cp`` between a container and the host, both ways, with Docker's path rules.

A copy is a tar stream from the source (entries named as they must land)
applied at the destination by the layer applier, which never writes through
a symlink. Paths inside the container are resolved with every symlink kept
inside its root, so a link to ``/etc`` means the container's ``/etc``, never
the host's. The container side is the merged root seen through
``fsview.run_private``, with the container's volumes bound at their mount
points (best effort: a volume is seen when its mount point is a directory).

Docker's rules (``docker cp --help``): a file lands in an existing directory
under its own name, else at the destination path; a directory is copied into
an existing directory (its content only when the source ends in ``/.``), or
becomes the destination when that does not exist; a directory never
overwrites a file. Without ``-a`` files are owned by root in the container
and by the caller on the host; ``-L`` follows a symlink source.
"""

from __future__ import annotations

import os
import stat
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from dockyard.archive.apply import Whiteouts, apply_layer
from dockyard.errors import InvalidArgumentError, NotFoundError
from dockyard.runtime import container_fs, fsview, rootfs
from dockyard.storage.changes import add_entry

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container, ContainerStore


class ContainerPathNotFoundError(NotFoundError):
    """Docker's "No such container:path: NAME:PATH"."""


class CopyPathError(InvalidArgumentError):
    """A host-side path problem, worded as Docker's client words it."""


@dataclass(frozen=True, slots=True)
class CopyOptions:
    archive: bool = False  # -a: keep uid/gid
    follow_link: bool = False  # -L


@dataclass(frozen=True, slots=True)
class PathStat:
    """Docker's container path stat (``X-Docker-Container-Path-Stat``): ``mode`` in Go's FileMode bits."""

    name: str
    size: int
    mode: int
    mtime: float  # seconds since the epoch
    link_target: str  # the container path a symlink resolves to, else ""


# Go's os.FileMode type bits for the stat's file types (Docker's clients read them)
_GO_TYPE_BITS = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, (1 << 26)), (stat.S_ISFIFO, 1 << 25),
                 (stat.S_ISSOCK, 1 << 24), (stat.S_ISCHR, (1 << 26) | (1 << 21)))


def go_file_mode(mode: int) -> int:
    bits = mode & 0o777
    bits |= (1 << 23) * bool(mode & stat.S_ISUID) | (1 << 22) * bool(mode & stat.S_ISGID) | (1 << 20) * bool(mode & stat.S_ISVTX)
    return bits | next((go for test, go in _GO_TYPE_BITS if test(mode)), 0)


@dataclass(frozen=True, slots=True)
class Source:
    path: str  # resolved host path of the entry to copy
    is_dir: bool
    contents_only: bool  # the source ended in "/.": copy what is inside
    name: str  # its base name


def _split(path: str) -> tuple[str, str]:
    stripped = path.rstrip("/") or "/"
    parent, _, base = stripped.rpartition("/")
    return parent or "/", base


def _source(resolved: Path, original: str) -> Source:
    st = os.lstat(resolved)
    is_dir = stat.S_ISDIR(st.st_mode)
    contents_only = original.endswith("/.") or original in (".", "/.")
    if original.endswith("/") and not is_dir and original != "/":
        raise CopyPathError("not a directory")
    return Source(os.fspath(resolved), is_dir, contents_only and is_dir, _split(original.removesuffix("/."))[1] or "/")


def _resolve_in(root: Path, path: str, follow: bool) -> Path:
    """A container path under ``root``: parents resolved inside the root, the last part only with ``follow``."""
    path = "/" + path.lstrip("/")
    if follow or path.rstrip("/").endswith(("/.", "/..")) or path.strip("/") in ("", ".", ".."):
        return rootfs.secure_join(root, path)
    parent, base = _split(path)
    return rootfs.secure_join(root, parent) / base


# Docker's init layer (daemon/initlayer): under every container's own layers, so ``cp`` shows these names even
# where the image has none: empty files (mode 0755, mount points of the files dockerd binds) and /etc/mtab
_INIT_LAYER: dict[str, dict[str, str | None]] = {
    "/": {".dockerenv": None},
    "/etc": {"hostname": None, "hosts": None, "mtab": "/proc/mounts", "resolv.conf": None},
}


def init_entries(root: Path) -> dict[str, dict[str, str | None]]:
    """The init layer's names under the host paths of their directories in the container ``root``."""
    return {os.fspath(rootfs.secure_join(root, parent)): names for parent, names in _INIT_LAYER.items()}


def _init_entry(name: str, link: str | None, like: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = int(like.st_mtime)
    if link is None:
        info.mode = 0o755
    else:
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
    return info


def write_tree(out: BinaryIO, source: Source, arcname: str, owner: tuple[int, int] | None,
               extras: dict[str, dict[str, str | None]] | None = None) -> None:
    """``source`` as a tar: under ``arcname`` (its content at the top when ``arcname`` is empty); ``extras``
    adds, under a directory's host path, names it lacks (None: an empty file, else a symlink's target)."""
    extras = extras or {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:

        def add(path: str, name: str) -> None:
            add_entry(tar, path, name, owner=owner)
            if os.path.isdir(path) and not os.path.islink(path):
                add_children(path, name)

        def add_children(path: str, prefix: str) -> None:
            present = os.listdir(path)
            missing = {k: v for k, v in extras.get(path, {}).items() if k not in present}
            for child in sorted([*present, *missing]):
                name = f"{prefix}/{child}" if prefix else child
                if child in missing:
                    info = _init_entry(name, missing[child], os.lstat(path))
                    if owner:
                        info.uid, info.gid = owner
                    tar.addfile(info)
                else:
                    add(os.path.join(path, child), name)

        if arcname:
            add(source.path, arcname)
        else:
            add_children(source.path, "")


def _apply(dest_dir: Path, produce: Callable[[BinaryIO], None]) -> None:
    """Stream what ``produce`` writes into the applier at ``dest_dir`` (a thread feeds a pipe)."""
    r, w = os.pipe()
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            with os.fdopen(w, "wb") as out:
                produce(out)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            failure.append(exc)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    with os.fdopen(r, "rb") as stream:
        try:
            apply_layer(stream, dest_dir, Whiteouts.DELETE, Path(os.devnull))
        finally:
            while stream.read(1 << 16):  # let the writer finish even when applying failed
                pass
            thread.join()
            # the reading side's error (a truncated tar) comes from the writing side's: report that one
            if failure and not isinstance(failure[0], BrokenPipeError):
                raise failure[0]


def _placement(source: Source, dest: str, exists: bool, is_dir: bool, parent_ok: bool,
               missing_parent: Callable[[], Exception]) -> tuple[str, str]:
    """Where the copy lands: (directory to apply in, arcname); ``dest`` is the destination as typed."""
    if exists and is_dir:
        return dest, "" if source.contents_only else source.name
    if exists:
        if source.is_dir:
            raise CopyPathError("cannot copy directory")
        parent, base = _split(dest)
        return parent, base
    if dest.endswith("/"):
        raise CopyPathError("no such directory")
    if not parent_ok:
        raise missing_parent()
    parent, base = _split(dest)
    return parent, base


# container -> host -------------------------------------------------------------


def copy_from(store: ContainerStore, container: Container, src: str, dest: str | None, out_fd: int,
              opts: CopyOptions) -> None:
    """``cp CTR:SRC DEST``; with ``dest`` None a tar goes to ``out_fd`` (``-``)."""
    view = container_fs.container_view(store, container, volumes=True)
    owner = None if opts.archive else (os.getuid(), os.getgid())
    label = f"{container.name}:{src}"

    def work() -> None:
        root = fsview.enter(view, rootfs.secure_join)
        resolved = _resolve_in(root, src, opts.follow_link)
        if not os.path.lexists(resolved):
            raise ContainerPathNotFoundError(f"No such container:path: {label}")
        source = _source(resolved, src)
        if dest is None:
            with os.fdopen(os.dup(out_fd), "wb") as out:
                write_tree(out, source, source.name if not source.contents_only else ".", None, init_entries(root))
            return
        target = os.path.abspath(dest)
        parent = os.path.dirname(target) or "/"
        place_dir, arcname = _placement(
            source, target + "/" * dest.endswith("/"), os.path.exists(target), os.path.isdir(target),
            os.path.isdir(parent), lambda: CopyPathError(f'invalid output path: directory "{parent}" does not exist'),
        )
        _apply(Path(place_dir), lambda out: write_tree(out, source, arcname, owner, init_entries(root)))

    fsview.run_private(work)


def stat_path(store: ContainerStore, container: Container, path: str) -> PathStat:
    """The container path ``path`` (its last part not followed), as ``HEAD /containers/{id}/archive`` reports it;
    ContainerPathNotFoundError when it is not there."""
    view = container_fs.container_view(store, container, volumes=True)

    def work() -> PathStat:
        root = fsview.enter(view, rootfs.secure_join)
        resolved = _resolve_in(root, path, False)
        try:
            st = os.lstat(resolved)
        except OSError:
            raise ContainerPathNotFoundError(f"Could not find the file {path} in container {container.name}") from None
        target = ""
        if stat.S_ISLNK(st.st_mode):
            rel = os.path.relpath(rootfs.secure_join(root, path), root)
            target = "/" if rel == "." else "/" + rel
        return PathStat(_split(path)[1] or "/", st.st_size, go_file_mode(st.st_mode), st.st_mtime, target)

    return fsview.run_private(work)


# host -> container -------------------------------------------------------------


def copy_to(store: ContainerStore, container: Container, src: str | None, dest: str, in_fd: int,
            opts: CopyOptions) -> None:
    """``cp SRC CTR:DEST``; with ``src`` None a tar is read from ``in_fd`` (``-``) into the directory DEST."""
    view = container_fs.container_view(store, container, volumes=True)
    owner = None if opts.archive else (0, 0)
    label = f"{container.name}:{dest}"
    source = None
    if src is not None:
        path = os.path.realpath(src) if opts.follow_link else os.path.abspath(src)
        if not os.path.lexists(path):
            raise CopyPathError(f"lstat {path}: no such file or directory")
        source = _source(Path(path), src)

    def work() -> None:
        root = fsview.enter(view, rootfs.secure_join)
        target = rootfs.secure_join(root, dest)  # a symlink at the destination is followed, inside the root
        parent = rootfs.secure_join(root, _split(dest)[0])
        if source is None:
            if not target.is_dir():
                raise ContainerPathNotFoundError(f"No such container:path: {label}")
            with os.fdopen(os.dup(in_fd), "rb") as stream:
                apply_layer(stream, target, Whiteouts.DELETE, Path(os.devnull))
            return
        where, arcname = _placement(source, dest, os.path.lexists(target), target.is_dir(), parent.is_dir(),
                                    lambda: ContainerPathNotFoundError(f"No such container:path: {container.name}:{_split(dest)[0]}"))
        place = target if where == dest else parent
        _apply(place, lambda out: write_tree(out, source, arcname, owner))

    fsview.run_private(work)
