"""The per-container monitor (as conmon is for Podman).

One process per running container, started detached from the CLI (its own
session, no inherited stdio), so it outlives ``run -d`` and a killed CLI. It
is the container's subreaper: ``runc create`` leaves the container's init as
its child. It holds the container's stdout and stderr, writes them to the
json-file log, records the exit code and times in ``state.json``, then tears
the container down (runc delete, unmount) and applies ``--rm``.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
from pathlib import Path
from typing import Callable

from dockyard.runtime import logs
from dockyard.runtime.rootfs import Paths
from dockyard.runtime.runc import Runc, exit_code_for_start_error, last_error

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pump(streams: dict[int, str], log_fd: int) -> None:
    """Copy the container's output into the log until every stream reaches EOF."""
    splitters = {fd: logs.LineSplitter() for fd in streams}
    open_fds = set(streams)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        for fd in ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except InterruptedError:
                continue
            pieces = splitters[fd].feed(chunk) if chunk else splitters[fd].flush()
            if not chunk:
                open_fds.discard(fd)
                os.close(fd)
            if pieces:
                os.write(log_fd, b"".join(logs.entry(p, streams[fd]) for p in pieces))


def wait_for(pid: int) -> int:
    """Reap children until ``pid`` exits; its status the way a shell reports it (128+signal)."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if reaped == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


class StartFailed(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run_container(cid: str, paths: Paths, runc: Runc, stdin_fd: int, on_started: Callable[[int], None]) -> int:
    """runc create + start with pipes for stdout/stderr; returns the exit code (raises StartFailed)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    paths.runc_log.unlink(missing_ok=True)
    create = subprocess.run(
        runc.create_argv(cid, paths.dir, paths.pid_file, paths.runc_log),
        stdin=stdin_fd, stdout=out_w, stderr=err_w, cwd=paths.dir,
    )
    os.close(out_w)
    os.close(err_w)
    if create.returncode != 0:
        os.close(out_r)
        os.close(err_r)  # runc's own complaint went here too; the log file has it
        runc.delete(cid)
        message = last_error(paths.runc_log) or "runc create failed"
        raise StartFailed(message, exit_code_for_start_error(message))
    pid = int(paths.pid_file.read_text())
    try:
        runc.start(cid)
    except Exception as exc:
        runc.delete(cid)
        os.close(out_r)
        os.close(err_r)
        raise StartFailed(str(exc), exit_code_for_start_error(str(exc))) from exc
    on_started(pid)
    log_fd = os.open(paths.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        pump({out_r: "stdout", err_r: "stderr"}, log_fd)
    finally:
        os.close(log_fd)
    code = wait_for(pid)
    runc.delete(cid)
    return code


def detach_signals() -> None:
    """A terminal's signals are the CLI's business, not the monitor's."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)


def open_stdin(stdin: Path | None) -> int:
    if stdin is None:
        return os.open(os.devnull, os.O_RDONLY)
    return os.open(stdin, os.O_RDONLY)  # blocks until the attached CLI opens the writing end


def report_start_error(message: str) -> None:
    """To the CLI that started us, if it still listens (its stderr pipe)."""
    try:
        os.write(2, (message + "\n").encode())
    except OSError:
        pass
