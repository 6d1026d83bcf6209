"""Which network namespace the network commands (``ip``, ``iptables``, CNI plugins) act on.

As root they act on the host's. Rootless, the bridges of user-defined networks live in the user's rootless
network namespace (``rootless_netns``), which this process cannot enter and leave again (the host's
namespace belongs to the initial user namespace): the commands run there through ``nsenter`` instead,
for the extent of an ``inside`` block.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Iterator

_NETNS: ContextVar[str | None] = ContextVar("dockyard_network_namespace", default=None)


def command(argv: list[str]) -> list[str]:
    """``argv`` as it runs in the current block's namespace."""
    path = _NETNS.get()
    return ["nsenter", f"--net={path}", "--", *argv] if path else argv


def current() -> str | None:
    """The namespace file network commands act in (None: the host's)."""
    return _NETNS.get()


@contextmanager
def inside(path: Path | None) -> Iterator[None]:
    """Network commands of the block act in ``path`` (None: where they would anyway)."""
    if path is None:
        yield
        return
    token = _NETNS.set(str(path))
    try:
        yield
    finally:
        _NETNS.reset(token)


CLONE_NEWNET = 0x40000000


def enter_thread(path: Path) -> None:
    """Move the calling thread (only) into the namespace at ``path``, for good: threads it starts and
    sockets it opens are there too. Python 3.11 has no ``os.setns``."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)
