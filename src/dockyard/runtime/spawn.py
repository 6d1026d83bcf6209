"""Start a container's monitor by forking the process that asks for it.

A fork inherits the imported modules and the open engine, so the monitor
starts in a few milliseconds instead of the ~100 ms a new interpreter takes.
The child becomes a session of its own with /dev/null for stdin and stdout
and a pipe for stderr (its start error), keeps only the file descriptors it
is given (the root's lock among them, which keeps sweeps away while it runs),
and never returns: it leaves with ``os._exit``.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO

RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGWINCH, signal.SIGCHLD)


class ForkedProcess:
    """The parts of ``subprocess.Popen`` callers use: ``pid``, ``stderr``, ``poll``, ``wait``, ``returncode``."""

    def __init__(self, pid: int, stderr: IO[bytes]) -> None:
        self.pid = pid
        self.stderr = stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _close_all_but(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def fds_of(path: Path) -> set[int]:
    """This process's descriptors open on ``path``."""
    target = os.path.realpath(path)  # /proc links are absolute and resolved; the root may be given relative
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                found.add(int(name))
        except OSError:
            continue
    return found


def fork(body: Callable[[], int], keep_fds: set[int], close: Callable[[], None],
         reopen: Callable[[], None]) -> ForkedProcess:
    """Run ``body`` in a detached child. ``close`` runs before the fork (a database connection must not
    cross it), ``reopen`` after it on both sides (in the child once only ``keep_fds`` are open)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    err_r, err_w = os.pipe()
    close()
    pid = os.fork()
    if pid:
        os.close(err_w)
        reopen()
        return ForkedProcess(pid, os.fdopen(err_r, "rb"))
    code = 125
    try:
        os.setsid()
        for sig in RESET_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err_w, 2)
        _close_all_but({0, 1, 2, *keep_fds})
        reopen()
        code = body()
    except BaseException:  # noqa: BLE001 - the child must never return into the caller's code
        try:
            os.write(2, traceback.format_exc().encode())
        except OSError:
            pass
    os._exit(code & 0xFF)


def release_stderr() -> None:
    """Point fd 2 at /dev/null: the parent reading our stderr sees EOF (the start went well)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
