"""Mounts as data (``Mount``) and the one place that performs them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import StorageError

TYPE_CHECKING = False  # ctypes and subprocess load when a mount is made, not when a record names one
if TYPE_CHECKING:
    import ctypes

PAGE = 4096  # the kernel copies at most a page of mount data

_libc: ctypes.CDLL | None = None


@dataclass(frozen=True, slots=True)
class Mount:
    """One overlay (or bind) mount: its type, source and options."""

    type: str
    source: str
    options: tuple[str, ...] = ()
    cwd: str | None = None  # overlay resolves relative lowerdirs from here (keeps options within a page)


def _errno() -> int:
    import ctypes

    return ctypes.get_errno()


def _syscalls() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        import ctypes  # here: inspect and ls read mounts' records without loading ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _absolute_overlay(m: Mount) -> bytes | None:
    """Overlay options with the relative lowerdirs made absolute, if that still fits a page."""
    if m.cwd is None:
        return ",".join(m.options).encode()
    fixed = []
    for opt in m.options:
        key, _, value = opt.partition("=")
        if key in ("lowerdir", "upperdir", "workdir"):
            value = ":".join(v if v.startswith("/") else os.path.join(m.cwd, v) for v in value.split(":"))
        fixed.append(f"{key}={value}" if value else key)
    data = ",".join(fixed).encode()
    return data if len(data) < PAGE else None


def mount_all(mounts: list[Mount], target: Path) -> None:
    """Overlay straight through mount(2) (no process start on every container start); bind mounts and
    overlays whose absolute options would not fit a page through mount(8), from the driver's directory."""
    for m in mounts:
        data = _absolute_overlay(m) if m.type == "overlay" else None
        if data is not None:
            if _syscalls().mount(m.source.encode(), str(target).encode(), b"overlay", 0, data) != 0:
                err = _errno()
                raise StorageError(f"mount {m.type} on {target}: {os.strerror(err)}")
            continue
        argv = ["mount", "-t", m.type, "-o", ",".join(m.options), m.source, str(target)]
        if m.type == "fuse-overlayfs":  # its own program, which serves the mount until it is unmounted
            argv = ["fuse-overlayfs", "-o", ",".join(m.options), str(target)]
        elif m.type == "bind":
            argv = ["mount", "-o", ",".join(("bind", *m.options)), m.source, str(target)]
        import subprocess  # mount(8) for binds and long overlays only

        result = subprocess.run(argv, cwd=m.cwd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StorageError(f"mount {m.type} on {target}: {result.stderr.strip()}")


def unmount(target: Path) -> None:
    if _syscalls().umount2(str(target).encode(), 0) != 0:
        err = _errno()
        raise StorageError(f"unmount {target}: {os.strerror(err)}")


def overlay_supported(scratch: Path, *, userxattr: bool = False, fuse: bool = False) -> bool:
    """Try a real two-lower overlay mount: the kernel and the backing filesystem both must agree
    (``userxattr``: as a user namespace mounts it, keeping its state in ``user.overlay.*``;
    ``fuse``: through fuse-overlayfs)."""
    dirs = [scratch / n for n in ("l1", "l2", "m")]
    options = ("userxattr",) if userxattr and not fuse else ()
    kind = "fuse-overlayfs" if fuse else "overlay"
    try:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        mount_all([Mount(kind, kind, (*options, f"lowerdir={dirs[1]}:{dirs[0]}"))], dirs[2])
    except (StorageError, OSError):
        return False
    else:
        unmount(dirs[2])
        return True
    finally:
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass
