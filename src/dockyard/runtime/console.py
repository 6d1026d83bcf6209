"""Pseudo-terminals from runc: the console socket that receives a pty master, and its window size.

With ``process.terminal`` set, runc opens the pty inside the container and sends
the master over ``--console-socket`` (SCM_RIGHTS). The socket is bound in a
directory and named to runc relative to it (runc runs with that directory as
its working directory), so a deep store root never exceeds the 108 bytes a
unix socket address allows.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

from dockyard.errors import DockyardError

SOCKET_NAME = "console.sock"
WINSIZE = struct.Struct("HHHH")


class ConsoleError(DockyardError):
    """runc did not hand over a terminal."""


def set_size(fd: int, rows: int, cols: int) -> None:
    """TIOCSWINSZ: the kernel sends SIGWINCH to the terminal's foreground process group."""
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, WINSIZE.pack(rows, cols, 0, 0))
    except OSError:
        pass  # the terminal is gone; nothing to resize


def get_size(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = WINSIZE.unpack(fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(WINSIZE.size)))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


class ConsoleSocket:
    """Bound at ``<directory>/console.sock`` until closed; pass ``argv_name`` to runc with cwd=directory."""

    argv_name = SOCKET_NAME

    def __init__(self, directory: Path) -> None:
        self.path = directory / SOCKET_NAME
        self.path.unlink(missing_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        dir_fd = os.open(directory, os.O_PATH | os.O_DIRECTORY)
        try:
            self._sock.bind(f"/proc/self/fd/{dir_fd}/{SOCKET_NAME}")
        finally:
            os.close(dir_fd)
        os.chmod(self.path, 0o600)
        self._sock.listen(1)
        self._sock.settimeout(0.05)

    def receive(self, runc: subprocess.Popen[bytes], timeout: float = 60.0) -> int | None:
        """The master fd runc sends, or None once runc exited without sending one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                if runc.poll() is not None:
                    return None
                continue
            with conn:
                conn.settimeout(max(1.0, deadline - time.monotonic()))
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
            if fds:
                os.set_inheritable(fds[0], False)
                return fds[0]
        raise ConsoleError("timed out waiting for the container's terminal")

    def close(self) -> None:
        self._sock.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ConsoleSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
