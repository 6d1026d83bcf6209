"""``exec``: another process in a running container, through ``runc exec``.

Its ``process.json`` starts from the container's own spec (capabilities, rlimits,
no_new_privileges, seccomp stay the container's), with the container's
environment plus ``-e``, the user resolved against the container's
``/etc/passwd``, and a terminal when asked. runc runs detached: it returns once
the process runs, and the process becomes the child of the caller, which makes
itself a subreaper to collect the exit code. Without a terminal the process's
stdio are pipes the caller pumps (runc's own complaints go to them too, and are
dropped when it fails); with one, runc hands the pty master over a console socket.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dockyard.errors import ConflictError, DockyardError
from dockyard.metadata.db import Database
from dockyard.runtime import resources, rootfs
from dockyard.runtime.console import ConsoleSocket
from dockyard.runtime.monitor import become_subreaper, wait_for
from dockyard.runtime.rootfs import Paths
from dockyard.runtime.runc import Runc, last_error
from dockyard.runtime.spec import ALL_CAPABILITIES, capability_set, merge_env, resolve_user

EXEC_FAILED = 126  # Docker 20.10 answers any exec start failure with 126


class ContainerNotRunningError(ConflictError):
    def __init__(self, cid: str) -> None:
        super().__init__(f"Container {cid} is not running")


class ExecStartError(DockyardError):
    """runc could not start the process (not found, not executable, bad cwd); Docker's exit code 126."""

    code = EXEC_FAILED


@dataclass(frozen=True, slots=True)
class ExecOptions:
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str | None = None
    workdir: str | None = None
    tty: bool = False
    interactive: bool = False
    privileged: bool = False
    detach: bool = False
    console_size: tuple[int, int] | None = None  # (rows, columns) of its terminal from the first byte


@dataclass(slots=True)
class ExecProcess:
    """A started exec: its host pid and either the pty master or our ends of its pipes."""

    pid: int
    master: int | None = None
    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    on_exit: Callable[[int], None] | None = field(default=None, repr=False)  # e.g. its ``exec_die`` event

    def wait(self) -> int:
        """Its exit code as a shell reports it (128+signal); we are its reaper (see ``Exec.start``)."""
        return self._exited(wait_for(self.pid))

    def wait_alone(self) -> int:
        """``wait`` for a caller whose other children are not ours to reap (the API server's monitors and
        execs): only this process is collected."""
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return self._exited(255)
        return self._exited(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))

    def _exited(self, code: int) -> int:
        if self.on_exit is not None:
            self.on_exit(code)
        return code


class ExecEvents:
    """Docker's events of one exec: ``exec_create: CMD ARGS``, ``exec_start: CMD ARGS``, ``exec_die`` (its
    exit code), each with its ``execID``. ``container``: a runtime.containers.Container."""

    def __init__(self, db: Database, container: Any, args: tuple[str, ...] | list[str]) -> None:
        self.db = db
        self.container = container
        self.exec_id = secrets.token_hex(32)
        self.command = f"{args[0]} {' '.join(args[1:])}"  # Docker's: entrypoint, a space, the arguments

    def _log(self, action: str, **extra: str) -> None:
        from dockyard.metadata.events import container_event

        c = self.container
        container_event(self.db, action, c.id, c.name, c.record, execID=self.exec_id, **extra)

    def created(self) -> None:
        self._log(f"exec_create: {self.command}")

    def started(self) -> None:
        self._log(f"exec_start: {self.command}")

    def died(self, code: int) -> None:
        self._log("exec_die", exitCode=str(code))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def exec_process(spec: dict[str, Any], record: dict[str, Any], root: Path, opts: ExecOptions,
                 linked: tuple[str, ...] = ()) -> dict[str, Any]:
    """The ``process`` document for ``runc exec``: the container's, with this exec's args, env, user, cwd
    (``linked``: the links' variables, under the container's own)."""
    config = record["Config"]
    user = opts.user if opts.user is not None else (config.get("User") or "")
    uid, gid, groups, home = resolve_user(user, _read(rootfs.secure_join(root, "/etc/passwd")),
                                          _read(rootfs.secure_join(root, "/etc/group")))
    daemon_env = [f"HOSTNAME={config['Hostname']}"] + (["TERM=xterm"] if opts.tty else [])
    env = list(merge_env([*linked, *record["Process"]["env"], *daemon_env], opts.env))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home}")
    process = {k: v for k, v in spec["process"].items() if k != "consoleSize"}
    if opts.tty and opts.console_size and all(opts.console_size):
        process["consoleSize"] = {"height": opts.console_size[0], "width": opts.console_size[1]}
    process.update(terminal=opts.tty, args=list(opts.args), env=env, cwd=opts.workdir or process.get("cwd", "/"),
                   user={"uid": uid, "gid": gid, "additionalGids": [gid, *groups]})  # Docker lists the primary group too
    if opts.privileged:
        available = tuple(c for i, c in enumerate(ALL_CAPABILITIES) if i in resources.available_capabilities())
        caps = list(capability_set([], [], True, available))
        process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    return process


class Exec:
    """One ``exec`` of a container: ``start`` it, then the caller pumps its stdio and ``wait``s."""

    def __init__(self, runc: Runc, cid: str, paths: Paths, process: dict[str, Any]) -> None:
        self.runc = runc
        self.cid = cid
        self.dir = paths.dir / f"exec-{secrets.token_hex(6)}"
        self.process = process

    def start(self, *, detach: bool) -> ExecProcess:
        """Raises ExecStartError with runc's message when the process could not start."""
        if not detach:
            become_subreaper()  # the process outlives runc; we are the one to reap it
        self.dir.mkdir(mode=0o700)
        try:
            (self.dir / "process.json").write_text(json.dumps(self.process))
            if self.process["terminal"]:
                return self._start_console(detach)
            return self._start_pipes(detach)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _argv(self, console_socket: str | None = None) -> list[str]:
        return self.runc.exec_argv(self.cid, self.dir / "process.json", self.dir / "pid", self.dir / "log",
                                   console_socket=console_socket)

    def _failed(self) -> ExecStartError:
        message = last_error(self.dir / "log") or "exec failed: runc exec failed"
        return ExecStartError(f"OCI runtime exec failed: {message}: unknown")

    def _start_pipes(self, detach: bool) -> ExecProcess:
        if detach:
            ours: list[int] = []
            stdio = [os.open(os.devnull, os.O_RDWR)] * 3
        else:
            (in_r, in_w), (out_r, out_w), (err_r, err_w) = os.pipe(), os.pipe(), os.pipe()
            ours, stdio = [in_w, out_r, err_r], [in_r, out_w, err_w]
        try:
            result = subprocess.run(self._argv(), stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], cwd=self.dir)
        finally:
            for fd in set(stdio):
                os.close(fd)
        if result.returncode != 0:
            for fd in ours:
                os.close(fd)
            raise self._failed()
        pid = int((self.dir / "pid").read_text())
        return ExecProcess(pid, None, *ours) if ours else ExecProcess(pid)

    def _start_console(self, detach: bool) -> ExecProcess:
        with ConsoleSocket(self.dir) as sock:
            runc = subprocess.Popen(self._argv(sock.argv_name), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, cwd=self.dir)
            try:
                master = sock.receive(runc)
            finally:
                runc.wait()
        if runc.returncode != 0 or master is None:
            if master is not None:
                os.close(master)
            raise self._failed()
        return ExecProcess(int((self.dir / "pid").read_text()), master)


def hold_console(master: int) -> None:
    """``exec -dt``: someone must keep the pty master open (and drained) or the process gets SIGHUP.
    A forked child does it, in its own session, until the last slave closes."""
    if os.fork() == 0:
        try:
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            while True:
                try:
                    if not os.read(master, 1 << 16):
                        break
                except OSError:  # EIO: the process and its children are gone
                    break
        finally:
            os._exit(0)
    os.close(master)


def prepare(runc: Runc, container: Any, paths: Paths, opts: ExecOptions, name: str = "",
            linked: tuple[str, ...] = ()) -> Exec:
    """An exec of ``container`` (a runtime.containers.Container, ``name`` as the user gave it);
    raises ContainerNotRunningError, or ConflictError when it is paused."""
    if not container.running:
        raise ContainerNotRunningError(container.id)
    if container.state.get("Status") == "paused":
        raise ConflictError(f"Container {name or container.id} is paused, unpause the container before exec")
    try:
        spec = json.loads(paths.spec.read_text())
    except (OSError, ValueError) as exc:
        raise ContainerNotRunningError(container.id) from exc
    return Exec(runc, container.id, paths, exec_process(spec, container.record, paths.rootfs, opts, linked))
