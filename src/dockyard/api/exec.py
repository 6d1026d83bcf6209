"""Exec routes: ``POST /containers/{id}/exec``, ``/exec/{id}/start`` (hijacked, or detached), ``/exec/{id}/resize``
and ``GET /exec/{id}/json``.

dockerd keeps execs in memory between create and start, and so does this process: an ``ExecRecord`` per
exec, kept while the service runs. The engine starts the process (``ContainerService.exec``) in this
process, which then pumps its pipes or terminal to the client and collects its exit code, so even a
detached exec reports ``ExitCode`` once it ends.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import select
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.api.container_create import strings
from dockyard.api.container_io import STDERR, STDOUT, console_size, content_type, detach_keys, detached, mux
from dockyard.api.http import HIJACKED, HTTPError, Request, Response, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import ConflictError, InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from dockyard.runtime.exec import ExecProcess

READ_SIZE = 1 << 16


class ExecNotFoundError(NotFoundError):
    def __init__(self, exec_id: str) -> None:
        super().__init__(f"No such exec instance: {exec_id}")


@dataclass(frozen=True, slots=True)
class ExecRecord:
    """One exec as ``GET /exec/{id}/json`` shows it; replaced (never changed) as it starts and ends."""

    id: str
    container_id: str
    args: tuple[str, ...]
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    console_size: tuple[int, int] | None = None  # rows, columns
    started: bool = False
    running: bool = False
    pid: int = 0
    exit_code: int | None = None
    master: int | None = None  # the terminal's master while it runs (for resize)

    def document(self) -> dict[str, object]:
        return {
            "CanRemove": False, "ContainerID": self.container_id, "DetachKeys": self.detach_keys, "ExitCode": self.exit_code,
            "ID": self.id, "OpenStderr": self.attach_stderr, "OpenStdin": self.attach_stdin, "OpenStdout": self.attach_stdout,
            "ProcessConfig": {"arguments": list(self.args[1:]), "entrypoint": self.args[0], "privileged": self.privileged,
                              "tty": self.tty, "user": self.user},
            "Running": self.running, "Pid": self.pid,
        }


class ExecRegistry:
    """The service's execs by ID, shared by its request threads."""

    def __init__(self) -> None:
        self._records: dict[str, ExecRecord] = {}
        self._lock = threading.Lock()

    def add(self, record: ExecRecord) -> None:
        with self._lock:
            self._records[record.id] = record

    def get(self, exec_id: str) -> ExecRecord:
        with self._lock:
            record = self._records.get(exec_id)
        if record is None:
            raise ExecNotFoundError(exec_id)
        return record

    def update(self, exec_id: str, **changes: object) -> ExecRecord:
        with self._lock:
            record = dataclasses.replace(self._records[exec_id], **changes)  # type: ignore[arg-type]
            self._records[exec_id] = record
            return record

    def claim(self, exec_id: str) -> ExecRecord:
        """Mark an exec started, once: ConflictError for a second start, as dockerd."""
        with self._lock:
            record = self._records.get(exec_id)
            if record is None:
                raise ExecNotFoundError(exec_id)
            if record.started:
                raise ConflictError(f"Exec command {exec_id} has already run" if not record.running
                                    else f"Exec command {exec_id} is already running")
            record = dataclasses.replace(record, started=True, running=True)
            self._records[exec_id] = record
            return record


EXECS = ExecRegistry()


def _fields(body: object) -> dict[str, object]:
    """A JSON object by lower-cased key: Go's decoder matches field names in any case (docker-py sends
    ``detachKeys``)."""
    if not isinstance(body, dict):
        raise InvalidArgumentError("a JSON object is required")
    return {str(k).lower(): v for k, v in body.items()}


def create(request: Request) -> Response:
    """Checks as dockerd does at create: the container runs and is not paused; the command is not empty."""
    body = _fields(request.json())
    args = strings(body.get("cmd"), "Cmd")
    if not args:
        raise InvalidArgumentError("No exec command specified")
    detach_keys(body.get("detachkeys"))  # checked now: a bad spec is a 400 here, not after a start's 101
    container = request.engine.container_service.get(request.params["id"])
    if not container.running:
        raise ConflictError(f"Container {container.id} is not running")
    if container.run.status == "paused":
        raise ConflictError(f"Container {container.id} is paused, unpause the container before exec")
    if container.run.status == "restarting":
        raise ConflictError(f"Container {container.id} is restarting, wait until the container is running")
    record = ExecRecord(
        secrets.token_hex(32), container.id, args, strings(body.get("env"), "Env"), body.get("user") or "",
        body.get("workingdir") or "", bool(body.get("tty")), bool(body.get("privileged")),
        bool(body.get("attachstdin")), bool(body.get("attachstdout")), bool(body.get("attachstderr")),
        body.get("detachkeys") or "", console_size(body.get("consolesize")),
    )
    EXECS.add(record)
    return json_response({"Id": record.id}, 201)


def inspect(request: Request) -> Response:
    return json_response(EXECS.get(request.params["id"]).document())


def resize(request: Request) -> Response:
    from dockyard.engine.attach_protocol import set_size

    record = EXECS.get(request.params["id"])
    rows, cols = request.int_arg("h", 0) or 0, request.int_arg("w", 0) or 0
    if not record.running or record.master is None:
        if record.tty and not record.running:
            raise ConflictError(f"Exec {record.id} is not running")
        return empty(201)
    set_size(record.master, rows, cols)
    return empty(201)


def start(request: Request) -> Response:
    """``Detach``: start and answer at once (the process is still collected here); otherwise hijack and pump."""
    from dockyard.engine.container_options import ExecOptions, ExecStartError

    body = _fields(request.json())
    detach = bool(body.get("detach"))
    framed = not body.get("tty")  # the start's Tty, not the exec's, says whether output is multiplexed (as dockerd)
    record = EXECS.get(request.params["id"])
    container = request.engine.container_service.get(record.container_id)
    record = EXECS.claim(record.id)
    tty = record.tty
    opts = ExecOptions(args=record.args, env=record.env, user=record.user or None, workdir=record.workdir or None,
                       tty=tty, interactive=record.attach_stdin and not detach, privileged=record.privileged,
                       console_size=record.console_size)
    client = None if detach else request.hijack(content_type(request, not framed))
    try:
        process = request.engine.container_service.exec(container, opts)
    except (ExecStartError, ConflictError, InvalidArgumentError) as exc:
        EXECS.update(record.id, running=False, exit_code=126)
        if client is None:
            raise HTTPError(500 if isinstance(exc, ExecStartError) else 409, str(exc)) from None
        message = (str(exc) + "\r\n").encode()
        client.sendall(mux(STDOUT, message) if framed else message)
        return HIJACKED
    EXECS.update(record.id, pid=process.pid, master=process.master)
    if client is None:
        threading.Thread(target=_collect, args=(record.id, process, None, False, framed), daemon=True).start()
        return empty(200)
    _collect(record.id, process, client, record.attach_stdin, framed, detach_keys(record.detach_keys))
    return HIJACKED


def _collect(exec_id: str, process: ExecProcess, client: socket.socket | None, stdin: bool, framed: bool,
             keys: bytes = b"") -> None:
    """Pump the process's output (to the client, or away; in Docker's frames when ``framed``), then record
    its exit code."""
    try:
        if process.master is not None:
            _pump_terminal(process, client, stdin, framed, keys)
        else:
            _pump_pipes(process, client, stdin, framed)
    finally:
        for fd in (process.master, process.stdin, process.stdout, process.stderr):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        code = process.wait_alone()
        EXECS.update(exec_id, running=False, exit_code=code, master=None)


def _send(client: socket.socket | None, data: bytes) -> socket.socket | None:
    """Send to the client; None once it has gone (the output is read on and dropped)."""
    if client is None:
        return None
    try:
        client.sendall(data)
        return client
    except OSError:
        return None


def _pump_pipes(process: ExecProcess, client: socket.socket | None, stdin: bool, framed: bool) -> None:
    """Until the process ends (then what its pipes hold), or both pipes end; the client's bytes go to its stdin
    (the client's end of input closes it). Background children keeping a pipe open do not hold the stream."""
    outputs = {fd: stream for fd, stream in ((process.stdout, STDOUT), (process.stderr, STDERR)) if fd is not None}
    if process.stdin is not None and (not stdin or client is None):
        os.close(process.stdin)
        process.stdin = None
    pidfd = os.pidfd_open(process.pid)
    try:
        ended = False
        while outputs:
            sources: list[int | socket.socket] = [*outputs, *([] if ended else [pidfd])]
            if process.stdin is not None and client is not None:
                sources.append(client)
            readable, _, _ = select.select(sources, [], [], 0 if ended else None)
            if not readable:
                return  # ended, and nothing more is waiting in the pipes
            for source in readable:
                if source == pidfd:
                    ended = True
                elif isinstance(source, socket.socket):
                    process.stdin = _forward_input(source, process.stdin)
                elif data := os.read(source, READ_SIZE):
                    client = _send(client, mux(outputs[source], data) if framed else data)
                else:
                    del outputs[source]
    finally:
        os.close(pidfd)


def _forward_input(client: socket.socket, stdin_fd: int | None) -> int | None:
    try:
        data = client.recv(READ_SIZE)
    except OSError:
        data = b""
    if data and stdin_fd is not None:
        try:
            os.write(stdin_fd, data)
            return stdin_fd
        except OSError:
            pass
    if stdin_fd is not None:
        os.close(stdin_fd)
    return None


def _pump_terminal(process: ExecProcess, client: socket.socket | None, stdin: bool, framed: bool,
                   keys: bytes = b"") -> None:
    """Until the terminal closes (EIO once the process and its children are gone), or the process ends. The
    detach ``keys`` typed by the client end its connection; the process runs on (its output is drained)."""
    from dockyard.engine.attach_protocol import DetachMatcher

    master = process.master
    assert master is not None
    matcher = DetachMatcher(keys) if keys else None
    pidfd = os.pidfd_open(process.pid)
    reading_client = stdin and client is not None
    try:
        while True:
            sources: list[int | socket.socket] = [master, pidfd]
            if reading_client and client is not None:
                sources.append(client)
            readable, _, _ = select.select(sources, [], [])
            if master in readable:
                try:
                    data = os.read(master, READ_SIZE)
                except OSError:
                    data = b""
                if not data:
                    return
                client = _send(client, mux(STDOUT, data) if framed else data)
            if client is not None and client in readable:
                try:
                    data = client.recv(READ_SIZE)
                except OSError:
                    data = b""
                typed, hit = matcher.feed(data) if data and matcher is not None else (data, False)
                if typed:
                    os.write(master, typed)
                if hit:
                    detached(client)
                    client = None
                if not data:
                    reading_client = False
            if pidfd in readable and master not in readable:
                return
    finally:
        os.close(pidfd)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/containers/{id:path}/exec", create),
    Route("POST", "/exec/{id}/start", start),
    Route("POST", "/exec/{id}/resize", resize),
    Route("GET", "/exec/{id}/json", inspect),
)
