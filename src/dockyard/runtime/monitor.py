"""The per-container monitor (as conmon is for Podman).

One process per running container, started detached from the CLI (its own
session, no inherited stdio), so it outlives ``run -d`` and a killed CLI. It
is the container's subreaper: ``runc create`` leaves the container's init as
its child. It holds the container's stdio (pipes, or a terminal's master),
writes the output to the json-file log, serves attach clients (``attach``
module), records the exit code and times in ``state.json``, then tears the
container down (runc delete, unmount) and applies ``--rm``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
from typing import Any, Callable

from dockyard.runtime import attach
from dockyard.runtime.attach import AttachServer
from dockyard.runtime.console import ConsoleSocket
from dockyard.runtime.logs import LogWriter
from dockyard.runtime.rootfs import Paths
from dockyard.runtime.runc import Runc, exit_code_for_start_error, last_error

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


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


def _start_failed(cid: str, paths: Paths, runc: Runc, fds: list[int | None]) -> StartFailed:
    for fd in fds:
        if fd is not None:
            os.close(fd)
    runc.delete(cid)
    message = last_error(paths.runc_log) or "runc create failed"
    return StartFailed(message, exit_code_for_start_error(message))


def _create_with_pipes(cid: str, paths: Paths, runc: Runc, open_stdin: bool) -> tuple[dict[int, str], int | None]:
    """runc create with pipes for stdout/stderr (and stdin when it stays open): the fds the monitor keeps."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if open_stdin else (os.open(os.devnull, os.O_RDONLY), None)
    create = subprocess.run(
        runc.create_argv(cid, paths.dir, paths.pid_file, paths.runc_log),
        stdin=in_r, stdout=out_w, stderr=err_w, cwd=paths.dir,
    )
    for fd in (out_w, err_w, in_r):
        os.close(fd)
    if create.returncode != 0:  # runc's own complaint went to the pipes too; its log file has it
        raise _start_failed(cid, paths, runc, [out_r, err_r, in_w])
    return {out_r: "stdout", err_r: "stderr"}, in_w


def _create_with_console(cid: str, paths: Paths, runc: Runc, server: AttachServer) -> tuple[dict[int, str], int | None]:
    """runc create with a terminal: runc sends the pty master to our console socket."""
    with ConsoleSocket(paths.dir) as sock:
        create = subprocess.Popen(
            runc.create_argv(cid, paths.dir, paths.pid_file, paths.runc_log, console_socket=sock.argv_name),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=paths.dir,
        )
        try:
            master = sock.receive(create)
        finally:
            create.wait()
    if create.returncode != 0 or master is None:
        raise _start_failed(cid, paths, runc, [master])
    server.set_console(master)
    return {master: "stdout"}, master if server.open_stdin else None


def run_container(cid: str, paths: Paths, runc: Runc, server: AttachServer, on_started: Callable[[int], None],
                  on_exited: Callable[[], None] = lambda: None) -> int:
    """runc create + start with the container's stdio on ``server``; returns the exit code (raises StartFailed).

    The caller ends the run on the server (``end_run``) once it recorded the exit.
    """
    paths.runc_log.unlink(missing_ok=True)
    create = _create_with_console if server.tty else _create_with_pipes
    outputs, stdin_fd = create(cid, paths, runc, server if server.tty else server.open_stdin)  # type: ignore[arg-type]
    pid = int(paths.pid_file.read_text())
    try:
        runc.start(cid)
    except Exception as exc:
        runc.delete(cid)
        for fd in {*outputs, stdin_fd} - {None}:
            os.close(fd)  # type: ignore[arg-type]
        raise StartFailed(str(exc), exit_code_for_start_error(str(exc))) from exc
    on_started(pid)
    server.serve(outputs, stdin_fd, pid)
    code = wait_for(pid)
    on_exited()  # the cgroups (OOM counts) are still there until delete
    runc.delete(cid)
    return code


def attach_server(paths: Paths, config: dict[str, Any], attach_fd: int | None,
                  log_config: dict[str, Any] | None = None) -> AttachServer:
    """The container's attach socket, with the client ``run``/``start -a`` handed over (if any) already on it.
    Output goes to the log HostConfig's ``log_config`` asks for (json-file, rotated; or none)."""
    log = LogWriter.for_config(paths.log, log_config or {})
    server = AttachServer(paths.dir / attach.SOCKET_NAME, log, tty=bool(config.get("Tty")),
                          open_stdin=bool(config.get("OpenStdin")), stdin_once=bool(config.get("StdinOnce")))
    if attach_fd is not None:
        sock = socket.socket(fileno=attach_fd)
        sock.set_inheritable(False)
        try:
            server.add_client(sock, attach.read_hello(sock))
        except attach.ProtocolError:
            sock.close()  # the CLI is gone already; the container runs anyway
    return server


def detach_signals() -> None:
    """A terminal's signals are the CLI's business, not the monitor's."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)


def report_start_error(message: str) -> None:
    """To the CLI that started us, if it still listens (its stderr pipe)."""
    try:
        os.write(2, (message + "\n").encode())
    except OSError:
        pass
