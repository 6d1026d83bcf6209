"""Container routes that stream: logs, attach, export and the archive (``docker cp``); stats in ``container_stats``.

Without a terminal, output goes in Docker's multiplexed frames (a byte of stream, three zero bytes, a
big-endian length), which is also how the container's monitor frames it; with one, raw. An attach that
arrives before the container starts (``docker run`` attaches, then starts) waits in this process for the
``start`` route, which starts the container with the stream already joined, so no output is missed.
"""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol

from dockyard.api import container_stats
from dockyard.api.http import HIJACKED, Request, Response, StreamWriter
from dockyard.api.router import Route
from dockyard.errors import DockyardError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine import Engine
    from dockyard.engine.containers import ContainerService
    from dockyard.engine.container_reports import LogStream
    from dockyard.runtime.container_state import Container
    from dockyard.runtime.logs import LogEntry

STDOUT, STDERR = 1, 2
_STREAMS = {"stdout": STDOUT, "stderr": STDERR}
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def _lookup(request: Request) -> Container:
    return request.engine.container_service.get(request.params["id"])


def _tty(container: Container) -> bool:
    return bool(container.record["Config"].get("Tty"))


def mux(stream: int, data: bytes) -> bytes:
    """One of Docker's multiplexed frames (stdcopy)."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


def content_type(request: Request, tty: bool) -> str:
    """API 1.42 names the multiplexed stream; older clients were told raw-stream for both."""
    return MULTIPLEXED if not tty and request.version >= (1, 42) else RAW


# logs --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What ``GET /containers/{id}/logs`` (and attach's ``logs``) asks for."""

    streams: frozenset[int]
    tty: bool
    timestamps: bool = False
    since: float | None = None
    until: float | None = None
    tail: int | None = None  # None: all

    def wanted(self, entry: LogEntry) -> bool:
        if _STREAMS.get(entry.stream, STDOUT) not in self.streams:
            return False
        if self.since is None and self.until is None:
            return True
        from dockyard.oci.timefmt import parse_time

        moment = parse_time(entry.time)
        stamp = moment.timestamp() if moment else 0.0
        return (self.since is None or stamp > self.since) and (self.until is None or stamp <= self.until)

    def encode(self, entry: LogEntry) -> bytes:
        data = entry.data
        if self.timestamps:
            base, _, frac = entry.time.rstrip("Z").partition(".")
            data = f"{base}.{frac.ljust(9, '0')[:9]}Z ".encode() + data
        return data if self.tty else mux(_STREAMS.get(entry.stream, STDOUT), data)


def _stamp(value: str | None) -> float | None:
    """Docker's ``since``/``until``: Unix seconds with an optional fraction (0: none)."""
    if not value:
        return None
    try:
        stamp = float(value)
    except ValueError:
        raise InvalidArgumentError(f"invalid value for time: {value!r}") from None
    return stamp or None


def _log_query(request: Request, container: Container) -> LogQuery:
    streams = frozenset(n for name, n in _STREAMS.items() if request.flag(name))
    if not streams:
        raise InvalidArgumentError("Bad parameters: you must choose at least one stream")
    tail_text = request.arg("tail") or "all"
    tail = int(tail_text) if tail_text.lstrip("-").isdigit() and int(tail_text) >= 0 else None
    return LogQuery(streams, _tty(container), request.flag("timestamps"), _stamp(request.arg("since")),
                    _stamp(request.arg("until")), tail)


def _replay(log: LogStream, query: LogQuery, write: Callable[[bytes], object]) -> None:
    from collections import deque

    present = (e for e in log.entries() if query.wanted(e))
    for entry in deque(present, maxlen=query.tail) if query.tail is not None else present:
        write(query.encode(entry))


def logs(request: Request) -> Response:
    container = _lookup(request)
    service = request.engine.container_service
    if container.stored.host_config.flags.log_type == "none":
        raise DockyardError("configured logging driver does not support reading")
    query = _log_query(request, container)
    with service.logs(container) as log:
        out = request.stream(200, content_type(request, query.tty))
        try:
            _replay(log, query, out.write)
            if request.flag("follow") and query.until is None:
                _follow(log, query, out, lambda: not _running(service, container.id))
        except OSError:
            pass  # the client went away
    return HIJACKED


def _running(service: ContainerService, cid: str) -> bool:
    """False too once it is gone (``--rm``): a follower ends with what the log holds."""
    from dockyard.errors import NotFoundError

    try:
        return service.get(cid).running
    except NotFoundError:
        return False


def _follow(log: LogStream, query: LogQuery, out: StreamWriter, done: Callable[[], bool], poll: float = 0.05) -> None:
    while True:
        finished = done()
        for entry in log.entries():
            if query.wanted(entry):
                out.write(query.encode(entry))
        if finished:
            return
        time.sleep(poll)


# attach ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Waiter:
    """An attach client waiting for the container's start; the start route hands it the monitor's stream."""

    stdin: bool
    ready: threading.Event = field(default_factory=threading.Event)
    sock: socket.socket | None = None  # None after ``ready``: the start failed, or connect yourself


_WAITERS: dict[str, list[_Waiter]] = {}
_WAITERS_LOCK = threading.Lock()
# HostConfig.ConsoleSize of containers created here with a terminal: the size their first start gives it
_CONSOLE_SIZES: dict[str, tuple[int, int]] = {}


def console_size(value: object) -> tuple[int, int] | None:
    """API 1.42's ``ConsoleSize``: [height, width], so a terminal has its size before the process reads it."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return value[0], value[1]
    return None


def remember_console_size(cid: str, value: object) -> None:
    """The ``ConsoleSize`` of a new container, for the start that attaches to it."""
    size = console_size(value)
    if size is not None:
        with _WAITERS_LOCK:
            _CONSOLE_SIZES[cid] = size


def start_for_waiters(engine: Engine, container: Container) -> bool:
    """Start ``container`` for the attach clients waiting for it, if any (the first gets the stream the
    monitor starts with; the others connect once it runs). False when nobody waits."""
    with _WAITERS_LOCK:
        waiters = _WAITERS.pop(container.id, [])
        size = _CONSOLE_SIZES.pop(container.id, None)
    if not waiters:
        return False
    try:
        stream = engine.container_service.start_streamed(container, waiters[0].stdin, size)
    except BaseException:
        for w in waiters:
            w.ready.set()
        raise
    waiters[0].sock = stream.sock if stream is not None else None
    for w in waiters:
        w.ready.set()
    return True


def _register(cid: str, stdin: bool) -> _Waiter:
    """Before the client hears its 101: its start request may follow at once."""
    waiter = _Waiter(stdin)
    with _WAITERS_LOCK:
        _WAITERS.setdefault(cid, []).append(waiter)
    return waiter


def _wait_for_start(engine: Engine, container: Container, client: AttachClient, waiter: _Waiter) -> socket.socket | None:
    """The monitor's stream once the container runs: handed over by ``start``, or connected when someone
    else started it. None when the client went away or the start failed."""
    stdin = waiter.stdin
    service = engine.container_service
    while not waiter.ready.wait(0.2):
        gone = _gone(client)
        if not gone and not service.get(container.id).running:
            continue
        if not _withdraw(container.id, waiter):
            waiter.ready.wait()  # a start took this waiter: its stream is on the way
            break
        return None if gone else _connect(engine, container, stdin)
    if waiter.sock is not None:
        return waiter.sock
    current = service.get(container.id)
    return _connect(engine, current, stdin) if current.running else None


def _withdraw(cid: str, waiter: _Waiter) -> bool:
    """Take ``waiter`` off the list; False when a start has already taken it."""
    with _WAITERS_LOCK:
        waiting = _WAITERS.get(cid, [])
        if waiter not in waiting:
            return False
        waiting.remove(waiter)
        if not waiting:
            del _WAITERS[cid]
        return True


def _gone(client: AttachClient) -> bool:
    """Whether the client hung up. Not an end of its input: a client with nothing to send closes its
    writing side at once (the docker CLI without ``-i``); on a unix socket a hang-up is both sides closed."""
    poller = select.poll()
    poller.register(client, select.POLLHUP)
    try:
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))
    except OSError:
        return True


def _connect(engine: Engine, container: Container, stdin: bool) -> socket.socket | None:
    from dockyard.engine import attach_protocol as proto

    try:
        sock = engine.container_service.connect(container)
    except proto.NotAttachableError:
        return None
    sock.sendall(proto.hello(stdin, None))
    return sock


class AttachClient(Protocol):
    """The client's end of an attach: its hijacked socket, or a websocket over it (``container_ws``).
    ``recv`` gives None when what arrived carried no data (a websocket ping), b"" at the end of its input."""

    def fileno(self) -> int: ...
    def recv(self, size: int) -> bytes | None: ...
    def sendall(self, data: bytes) -> None: ...
    def shutdown(self, how: int) -> None: ...


def attach(request: Request) -> Response:
    """Hijacked: ``logs`` replays the log, ``stream`` joins the container's streams until it exits."""
    container = _lookup(request)
    streams = frozenset(n for name, n in _STREAMS.items() if request.flag(name))
    stdin = request.flag("stdin") and bool(container.record["Config"].get("OpenStdin"))
    if not streams and not stdin:
        raise InvalidArgumentError("Bad parameters: you must choose at least one stream")
    tty = _tty(container)
    return serve_attach(request, container, streams, stdin, tty, lambda: request.hijack(content_type(request, tty)))


def serve_attach(request: Request, container: Container, streams: frozenset[int], stdin: bool, raw: bool,
                 open_client: Callable[[], AttachClient]) -> Response:
    """An attach once its parameters are checked: ``open_client`` answers the request and gives the client's
    end; output goes to it raw (``raw``) or in multiplexed frames."""
    keys = detach_keys(request.arg("detachKeys")) if _tty(container) and stdin else None  # a bad spec: 400 first
    follow = request.flag("stream")
    waiter = _register(container.id, stdin) if follow and not container.running else None
    try:
        client = open_client()
        if request.flag("logs"):
            with request.engine.container_service.logs(container) as log:
                _replay(log, LogQuery(streams, raw), client.sendall)
    except BaseException:
        if waiter is not None:
            _withdraw(container.id, waiter)
        raise
    if not follow:
        return HIJACKED
    monitor = _connect(request.engine, container, stdin) if waiter is None else None
    if monitor is None:
        monitor = _wait_for_start(request.engine, container, client, waiter or _register(container.id, stdin))
    if monitor is not None:
        with monitor:
            pump(monitor, client, streams, stdin, raw, keys)
    return HIJACKED


def detach_keys(spec: str | None) -> bytes:
    """The keys that leave a terminal session (Docker's ``ctrl-p,ctrl-q`` unless the client names others)."""
    from dockyard.engine import attach_protocol as proto

    return proto.parse_detach_keys(spec or proto.DEFAULT_DETACH_KEYS)


def detached(client: AttachClient) -> None:
    """The client typed the detach keys: its connection ends, the container runs on."""
    try:
        client.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def pump(monitor: socket.socket, client: AttachClient, streams: frozenset[int], stdin: bool, raw: bool,
         keys: bytes | None = None) -> None:
    """Between the monitor's frames and the client's bytes, until the container exits, the client leaves or
    types the detach ``keys``; output goes raw (``raw``) or in multiplexed frames."""
    from dockyard.engine import attach_protocol as proto

    reader = proto.FrameReader()
    matcher = proto.DetachMatcher(keys) if keys else None
    sources = [monitor, client] if stdin else [monitor]
    while True:
        buffered = getattr(client, "buffered", None)  # bytes that came with the request, before the hijack
        if client in sources and buffered is not None and buffered():
            readable = [client]
        else:
            readable, _, _ = select.select(sources, [], [])
        if monitor in readable:
            try:
                data = monitor.recv(1 << 16)
            except OSError:  # the monitor went away without its exit frame
                return
            if not data:
                return
            for kind, payload in reader.feed(data):
                if kind == proto.Kind.EXIT:
                    return
                if kind in (proto.Kind.STDOUT, proto.Kind.STDERR) and int(kind) in streams:
                    try:
                        client.sendall(payload if raw else mux(int(kind), payload))
                    except OSError:
                        return
        if client in readable:
            try:
                data = client.recv(1 << 16)
            except OSError:
                data = b""
            if data is None:
                continue
            if not data:  # the client closed its input (CloseWrite): the container's stdin ends
                monitor.sendall(proto.frame(proto.Kind.CLOSE_STDIN))
                sources = [monitor]
                continue
            typed, hit = matcher.feed(data) if matcher is not None else (data, False)
            if typed:
                monitor.sendall(proto.frame(proto.Kind.STDIN, typed))
            if hit:
                detached(client)
                return


# export, archive ---------------------------------------------------------------------


def _send_pipe(request: Request, produce: Callable[[int], None], kind: str, headers: dict[str, str] | None = None) -> Response:
    """Stream what ``produce`` writes to a pipe (the engine call stays in this thread, a helper forwards)."""
    r, w = os.pipe()
    out = request.stream(200, kind, headers)
    gone: list[bool] = []

    def forward() -> None:
        with os.fdopen(r, "rb") as source:
            while chunk := source.read(1 << 16):
                if gone:
                    continue  # keep draining so the producer finishes
                try:
                    out.write(chunk)
                except OSError:
                    gone.append(True)

    helper = threading.Thread(target=forward, name="api-forward", daemon=True)
    helper.start()
    try:
        produce(w)
    finally:
        os.close(w)
        helper.join()
    return HIJACKED


def export(request: Request) -> Response:
    container = _lookup(request)
    service = request.engine.container_service
    return _send_pipe(request, lambda fd: service.export(container, fd), "application/x-tar")


def _path_stat_header(request: Request, container: Container, path: str) -> dict[str, str]:
    from datetime import datetime, timezone

    found = request.engine.container_service.stat_path(container, path)
    doc = {"name": found.name, "size": found.size, "mode": found.mode,
           "mtime": datetime.fromtimestamp(found.mtime, timezone.utc).isoformat().replace("+00:00", "Z"),
           "linkTarget": found.link_target}
    return {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(doc).encode()).decode()}


def _path(request: Request) -> str:
    path = request.arg("path")
    if not path:
        raise InvalidArgumentError("bad parameter: path cannot be empty")
    return path


def archive_head(request: Request) -> Response:
    container = _lookup(request)
    return Response(200, b"", "", _path_stat_header(request, container, _path(request)))


def archive_get(request: Request) -> Response:
    from dockyard.engine.container_options import CopyOptions

    container = _lookup(request)
    path = _path(request)
    headers = _path_stat_header(request, container, path)  # a missing path is a 404 before the stream starts
    service = request.engine.container_service
    return _send_pipe(request, lambda fd: service.copy_from(container, path, None, fd, CopyOptions()),
                      "application/x-tar", headers)


def archive_put(request: Request) -> Response:
    """A tar body extracted into the directory ``path`` (which must exist). The body is spooled to a file under
    the store first: the extraction runs in a forked helper, which must see the input end (a pipe's writing
    end would be inherited by it and never close)."""
    from dockyard.engine.container_options import CopyOptions

    container = _lookup(request)
    path = _path(request)
    opts = CopyOptions(archive=request.flag("copyUIDGID"))
    body = request.body_stream()
    fd, spool = request.engine.spool_file()
    try:
        with os.fdopen(os.dup(fd), "wb") as sink:
            while chunk := body.read(1 << 16):
                sink.write(chunk)
        os.lseek(fd, 0, os.SEEK_SET)
        request.engine.container_service.copy_to(container, None, path, fd, opts)
    finally:
        os.close(fd)
        os.unlink(spool)
    return Response(200, b"", "")


ROUTES: tuple[Route, ...] = (
    Route("GET", "/containers/{id:path}/logs", logs),
    Route("POST", "/containers/{id:path}/attach", attach),
    *container_stats.ROUTES,
    Route("GET", "/containers/{id:path}/export", export),
    Route("HEAD", "/containers/{id:path}/archive", archive_head),
    Route("GET", "/containers/{id:path}/archive", archive_get),
    Route("PUT", "/containers/{id:path}/archive", archive_put),
)
