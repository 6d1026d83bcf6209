"""The attach protocol between the CLI and a container's monitor, and the monitor's side of it.

The monitor listens on ``containers/<id>/attach.sock``; ``run`` and ``start -a``
instead hand it one end of a socket pair when they spawn it, so no output is
missed before they could connect. Both directions carry frames shaped like
Docker's stream multiplexing: one byte of kind, three zero bytes, a big-endian
32-bit length, then the payload.

A client's first frame is ``HELLO`` (JSON: ``stdin`` wanted, terminal ``size``).
Then it sends ``STDIN`` data, ``CLOSE_STDIN`` at its end of input and ``RESIZE``
(rows, columns); the monitor sends ``STDOUT``/``STDERR`` (a terminal's stream is
all ``STDOUT``) and, when the container exits, ``EXIT`` with the code before
closing. A client leaves by closing its socket; the container runs on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Iterator

from dockyard.errors import DockyardError
from dockyard.runtime import console, logs

SOCKET_NAME = "attach.sock"
HEADER = struct.Struct(">B3xI")
MAX_FRAME = 1 << 20  # bytes; a larger length is a broken peer
HIGH_WATER = 4 << 20  # a client this far behind pauses the container's output (as Docker blocks)
FLUSH_TIMEOUT = 2.0  # seconds to hand the last output and EXIT to clients
EXIT_GRACE = 2.0  # seconds to drain output after the container's init exited


class Kind(IntEnum):
    STDIN = 0
    STDOUT = 1
    STDERR = 2
    RESIZE = 3
    CLOSE_STDIN = 4
    EXIT = 5
    HELLO = 6


class ProtocolError(DockyardError):
    """The peer sent something that is not a frame of this protocol."""


class NotAttachableError(DockyardError):
    """No monitor listens for this container (it is not running)."""


def frame(kind: Kind, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


def hello(stdin: bool, size: tuple[int, int] | None) -> bytes:
    return frame(Kind.HELLO, json.dumps({"stdin": stdin, "size": list(size) if size else None}).encode())


def resize(rows: int, cols: int) -> bytes:
    return frame(Kind.RESIZE, struct.pack(">HH", rows, cols))


def exit_code(payload: bytes) -> int:
    return int(struct.unpack(">i", payload)[0]) if len(payload) == 4 else 255


class FrameReader:
    """Cuts a byte stream into (kind, payload) frames; raises ProtocolError on garbage."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[Kind, bytes]]:
        self._buf += data
        out = []
        while len(self._buf) >= HEADER.size:
            kind, length = HEADER.unpack_from(self._buf)
            if length > MAX_FRAME or kind not in Kind._value2member_map_:
                raise ProtocolError(f"bad attach frame (kind {kind}, length {length})")
            if len(self._buf) < HEADER.size + length:
                break
            out.append((Kind(kind), bytes(self._buf[HEADER.size:HEADER.size + length])))
            del self._buf[:HEADER.size + length]
        return out


@contextlib.contextmanager
def short_path(path: Path) -> Iterator[str]:
    """A name for ``path`` that fits a unix socket address (108 bytes) however deep the store is."""
    dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{dir_fd}/{path.name}"
    finally:
        os.close(dir_fd)


def listen(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    path.unlink(missing_ok=True)
    with short_path(path) as name:
        sock.bind(name)
    os.chmod(path, 0o600)
    sock.listen(16)
    sock.setblocking(False)
    return sock


def connect(path: Path) -> socket.socket:
    """Raises NotAttachableError when nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        with short_path(path) as name:
            sock.connect(name)
    except OSError as exc:
        sock.close()
        raise NotAttachableError(str(exc)) from exc
    return sock


def read_hello(sock: socket.socket, timeout: float = 10.0) -> dict[str, Any]:
    """The first frame of a client that was handed to us (``run``): blocking, bounded, and
    reading no further (its input follows at once)."""
    sock.settimeout(timeout)
    try:
        kind, length = HEADER.unpack(_recv_exactly(sock, HEADER.size))
        if kind != Kind.HELLO or length > 4096:
            raise ProtocolError("attach client did not start with hello")
        return _parse_hello(_recv_exactly(sock, length))
    except OSError as exc:
        raise ProtocolError(f"attach hello: {exc}") from exc
    finally:
        sock.setblocking(False)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ProtocolError("attach client left before saying hello")
        data += chunk
    return data


def _parse_hello(payload: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError("attach hello is not JSON") from exc
    if not isinstance(doc, dict):
        raise ProtocolError("attach hello is not an object")
    return doc


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 0 < v < 65536 for v in value):
        return value[0], value[1]
    return None


@dataclass
class _Client:
    sock: socket.socket
    reader: FrameReader = field(default_factory=FrameReader)
    out: bytearray = field(default_factory=bytearray)
    greeted: bool = False
    stdin: bool = False


class AttachServer:
    """The monitor's stdio hub: container output → json-file log and every client; clients' input → container.

    Lifecycle: ``add_client``/listening any time; ``serve`` once per container run (returns when its
    output ends); ``end_run`` sends EXIT and lets the clients go; ``close`` stops listening. Never raises
    for a client's fault: a misbehaving client is dropped.
    """

    def __init__(self, path: Path, log: logs.LogWriter | None, *, tty: bool, open_stdin: bool, stdin_once: bool) -> None:
        self.path = path
        self.listener: socket.socket | None = listen(path)
        self.log = log  # None: the ``none`` log driver
        self.tty = tty
        self.open_stdin = open_stdin
        self.stdin_once = stdin_once
        self.clients: list[_Client] = []
        self.size: tuple[int, int] | None = None
        self._stdin_fd: int | None = None
        self._stdin_buf = bytearray()
        self._stdin_closing = False
        self._console: int | None = None

    # clients -----------------------------------------------------------------

    def add_client(self, sock: socket.socket, greeting: dict[str, Any] | None = None) -> None:
        sock.setblocking(False)
        client = _Client(sock)
        self.clients.append(client)
        if greeting is not None:
            self._greet(client, greeting)

    def _greet(self, client: _Client, doc: dict[str, Any]) -> None:
        client.greeted = True
        client.stdin = bool(doc.get("stdin")) and self.open_stdin
        size = _size(doc.get("size"))
        if size:
            self._resize(size)

    def _drop(self, client: _Client) -> None:
        self.clients.remove(client)
        client.sock.close()
        if client.stdin and self.stdin_once and not self.tty:
            self._stdin_closing = True  # Docker closes a StdinOnce container's stdin when its attacher goes

    def _resize(self, size: tuple[int, int]) -> None:
        self.size = size
        if self._console is not None:
            console.set_size(self._console, *size)

    def _on_frame(self, client: _Client, kind: Kind, payload: bytes) -> None:
        if not client.greeted:
            if kind != Kind.HELLO:
                raise ProtocolError("attach client did not start with hello")
            self._greet(client, _parse_hello(payload))
        elif kind == Kind.STDIN and client.stdin and self._stdin_fd is not None and not self._stdin_closing:
            self._stdin_buf += payload
        elif kind == Kind.CLOSE_STDIN and client.stdin and self.stdin_once and not self.tty:
            self._stdin_closing = True
        elif kind == Kind.RESIZE and len(payload) == 4 and self.tty:
            self._resize(struct.unpack(">HH", payload))

    def _read_client(self, client: _Client) -> None:
        try:
            data = client.sock.recv(1 << 16)
            if not data:
                raise ConnectionResetError
            for kind, payload in client.reader.feed(data):
                self._on_frame(client, kind, payload)
        except BlockingIOError:
            return
        except (OSError, ProtocolError):
            self._drop(client)

    def _write_client(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.out)
            del client.out[:sent]
        except BlockingIOError:
            return
        except OSError:
            self._drop(client)

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        self.add_client(sock)

    # container side ------------------------------------------------------------

    def set_console(self, master: int) -> None:
        """A terminal's master: both output and input; sized by the first client that gave a size."""
        if self._console is not None:  # the previous run's (a restart policy ran it again)
            os.close(self._console)
        self._console = master
        if self.size:
            console.set_size(master, *self.size)

    def _write_stdin(self) -> None:
        assert self._stdin_fd is not None
        try:
            written = os.write(self._stdin_fd, self._stdin_buf)
            del self._stdin_buf[:written]
        except BlockingIOError:
            return
        except OSError:
            self._stdin_buf.clear()  # the container closed its stdin
            self._stdin_closing = True

    def _close_stdin(self) -> None:
        if self._stdin_fd is not None and self._stdin_fd != self._console:
            os.close(self._stdin_fd)
        self._stdin_fd = None

    def serve(self, outputs: dict[int, str], stdin_fd: int | None, pid: int) -> None:
        """Pump until every output stream ends (or ``pid`` exited and the grace passed).

        ``outputs`` maps fds to log streams; this closes them, and ``stdin_fd`` (not a console).
        """
        splitters = {fd: logs.LineSplitter() for fd in outputs}
        streams = dict(outputs)
        for fd in [*streams, *([stdin_fd] if stdin_fd is not None else [])]:
            os.set_blocking(fd, False)
        self._stdin_fd, self._stdin_buf, self._stdin_closing = stdin_fd, bytearray(), False
        pidfd = os.pidfd_open(pid)
        deadline: float | None = None
        try:
            while streams and (deadline is None or time.monotonic() < deadline):
                if self._stdin_closing and not self._stdin_buf and self._stdin_fd is not None:
                    self._close_stdin()
                ready = self._poll(streams, pidfd, 0.2 if deadline else None)
                if pidfd in ready and deadline is None:
                    deadline = time.monotonic() + EXIT_GRACE
                for fd in [fd for fd in ready if fd in streams]:
                    self._read_output(fd, streams, splitters)
        finally:
            os.close(pidfd)
            for fd in streams:
                if fd != self._console:
                    os.close(fd)
            self._close_stdin()

    def _poll(self, streams: dict[int, str], pidfd: int, timeout: float | None) -> set[int]:
        poller = select.poll()
        backlog = any(len(c.out) > HIGH_WATER for c in self.clients)
        for fd in streams if not backlog else ():
            poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        if self.listener is not None:
            poller.register(self.listener, select.POLLIN)
        by_fd = {c.sock.fileno(): c for c in self.clients}
        full = len(self._stdin_buf) > HIGH_WATER  # the container is not reading: stop taking input
        for fd, c in by_fd.items():
            poller.register(fd, (0 if full and c.stdin else select.POLLIN) | (select.POLLOUT if c.out else 0))
        if self._stdin_buf and self._stdin_fd is not None:
            mask = select.POLLOUT | (select.POLLIN if self._stdin_fd in streams and not backlog else 0)
            poller.register(self._stdin_fd, mask)
        ready: set[int] = set()
        for fd, events in poller.poll(None if timeout is None else timeout * 1000):
            if fd in by_fd:
                client = by_fd[fd]
                if events & select.POLLOUT and client in self.clients:
                    self._write_client(client)
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR) and client in self.clients:
                    self._read_client(client)  # (a hang-up is reported even when not asked for)
            elif self.listener is not None and fd == self.listener.fileno():
                self._accept()
            else:
                if events & (select.POLLOUT | select.POLLERR | select.POLLHUP) and fd == self._stdin_fd and self._stdin_buf:
                    self._write_stdin()  # a reader gone shows as an error: the write fails and drops the input
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    ready.add(fd)
        return ready

    def _read_output(self, fd: int, streams: dict[int, str], splitters: dict[int, logs.LineSplitter]) -> None:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: a terminal whose last slave closed
            if exc.errno != errno.EIO:
                raise
            chunk = b""
        name = streams[fd]
        pieces = splitters[fd].feed(chunk) if chunk else splitters[fd].flush()
        if pieces and self.log is not None:
            self.log.write(b"".join(logs.entry(p, name) for p in pieces))
        if not chunk:
            del streams[fd]
            if fd != self._console:
                os.close(fd)
            return
        data = frame(Kind.STDERR if name == "stderr" else Kind.STDOUT, chunk)
        for client in self.clients:
            client.out += data

    # the end -------------------------------------------------------------------

    def end_run(self, code: int) -> None:
        """Tell every client the exit code, give them their last bytes, let them go."""
        for client in self.clients:
            client.out += frame(Kind.EXIT, struct.pack(">i", code))
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while any(c.out for c in self.clients) and time.monotonic() < deadline:
            pending = [c for c in self.clients if c.out]
            _, writable, _ = select.select([], [c.sock for c in pending], [], max(0.0, deadline - time.monotonic()))
            for client in [c for c in pending if c.sock in writable]:
                self._write_client(client)
        for client in list(self.clients):
            self.clients.remove(client)
            client.sock.close()
        if self._console is not None:
            os.close(self._console)
            self._console = None

    def close(self) -> None:
        """Stop listening and remove the socket; closes the log. Idempotent."""
        if self.listener is not None:
            self.listener.close()
            self.listener = None
            self.path.unlink(missing_ok=True)
        if self.log is not None:
            self.log.close()
