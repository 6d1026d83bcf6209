"""A container's filesystem seen from the host, for diff, export and cp, running or not.

The work runs in a forked child with a private mount namespace: a stopped
container's union (or the image's layers) is mounted there only, so nothing
shows in the host's mount table, a concurrent ``start`` is not disturbed, and
the kernel drops the mounts when the child exits, even after a kill -9. A
running container's root is already mounted by its monitor: the child sees
that mount as it was copied into the namespace.

The child must not touch the metadata database (its connection belongs to
the parent): the parent resolves every path and mount first.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from dockyard.errors import DockyardError, StorageError
from dockyard.storage.driver import Mount
from dockyard.storage.mount import mount_all

T = TypeVar("T")

_CLONE_NEWNS = 0x00020000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_MS_BIND = 0x1000
_MS_RDONLY = 0x1
_MS_REMOUNT = 0x20
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class View:
    """How to see a container's root: ``root`` after ``mounts`` (none: already mounted) in the child."""

    root: Path
    mounts: tuple[Mount, ...] = ()
    binds: tuple[tuple[str, str, bool], ...] = ()  # volumes: (host source, container path, readonly)


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _private_namespace() -> None:
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise StorageError(f"unshare mount namespace: {os.strerror(err)}")
    # nothing mounted here may propagate back to the host
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        err = ctypes.get_errno()
        raise StorageError(f"make mounts private: {os.strerror(err)}")


def bind(source: str, target: Path, readonly: bool) -> None:
    libc = _libc()
    if libc.mount(os.fsencode(source), os.fsencode(target), None, _MS_BIND | _MS_REC, None) != 0:
        raise StorageError(f"bind {source} on {target}: {os.strerror(ctypes.get_errno())}")
    if readonly:
        libc.mount(None, os.fsencode(target), None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None)


def enter(view: View, resolve: Callable[[Path, str], Path]) -> Path:
    """In the child: perform the view's mounts and volume binds; return the root."""
    if view.mounts:
        mount_all(list(view.mounts), view.root)
    for source, destination, readonly in view.binds:
        target = resolve(view.root, destination)  # inside the root: symlinks resolved there
        if not os.path.lexists(target):
            os.makedirs(target)  # the mount point, as a start would make it
        if os.path.isdir(target) and not os.path.islink(target) and os.path.isdir(source):
            bind(source, target, readonly)
    return view.root


def _pack(exc: BaseException) -> tuple[str, Any]:
    if isinstance(exc, DockyardError):
        return "dockyard", (type(exc), str(exc))
    try:
        pickle.dumps(exc)
        return "raise", exc
    except Exception:
        return "dockyard", (StorageError, str(exc))


def _unpack(kind: str, value: Any) -> Any:
    if kind == "ok":
        return value
    if kind == "dockyard":
        cls, message = value
        err = Exception.__new__(cls)
        Exception.__init__(err, message)  # the message as it was, whatever the class's own __init__ takes
        raise err
    raise value


def run_private(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a child with its own mount namespace; return its (picklable) result or raise its error."""
    r, w = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(r)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the CLI killed: we go too, and our mounts with us
        if os.getppid() != parent:
            os._exit(1)
        try:
            _private_namespace()
            out: tuple[str, Any] = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            out = _pack(exc)
        try:
            data = pickle.dumps(out)
        except Exception as exc:  # noqa: BLE001
            data = pickle.dumps(("dockyard", (StorageError, str(exc))))
        try:
            with os.fdopen(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise StorageError(f"filesystem helper process died ({os.waitstatus_to_exitcode(status)})")
    kind, value = pickle.loads(data)
    return _unpack(kind, value)
