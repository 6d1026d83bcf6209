"""HTTP/1.1 on a connected socket: the request a handler reads, the response it returns, streams and hijacks.

One ``Connection`` per client socket serves requests one after the other (keep-alive). Request bodies
arrive with ``Content-Length`` or chunked (the docker CLI sends build contexts and image tarballs
chunked); a whole body read at once is bounded, a streamed one is not (build, load, import, archive PUT
check their content as the CLI does). A handler answers with a ``Response``, or takes the connection
over with ``Request.stream`` (a chunked response written as it goes) or ``Request.hijack`` (the raw
socket, for attach and exec) and returns ``HIJACKED``.
"""

from __future__ import annotations

import io
import json
import select
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Callable, Mapping
from urllib.parse import parse_qs

from dockyard.errors import DockyardError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine import Engine

MAX_BODY = 16 * 1024 * 1024  # a whole body read into memory (create, update, auth...): Docker's JSON is small
MAX_LINE = 64 * 1024
MAX_HEADERS = 200
REASONS = {
    101: "UPGRADED", 200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
    411: "Length Required", 413: "Request Entity Too Large", 500: "Internal Server Error",
    501: "Not Implemented", 503: "Service Unavailable",
}  # fmt: skip


class HTTPError(DockyardError):
    """An answer with a status of its own (503 for swarm, 413...), raised by a handler or the parser."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BadRequestLine(Exception):
    """The client sent something that is not HTTP; the connection is closed after a 400."""


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


HIJACKED = Response(status=0)  # the handler answered itself (stream or hijack)


def json_response(obj: object, status: int = 200) -> Response:
    """Docker's JSON bodies end with a newline (Go's json.Encoder)."""
    return Response(status, json.dumps(obj, separators=(",", ":")).encode() + b"\n")


def empty(status: int = 204) -> Response:
    """A response without a body: 204, 201 of a tag, 304 of a start of a running container."""
    return Response(status, b"", "")


JSONResponse = json_response  # the module map's name for it


class Headers(dict[str, str]):
    """Header names folded to lower case; ``get``/``[]`` take any case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


class _Body(io.RawIOBase):
    """A request body read from the connection's buffered reader: ``length`` bytes, or chunked."""

    def __init__(self, rfile: BinaryIO, length: int | None) -> None:
        self._rfile = rfile
        self._left = length if length is not None else 0
        self._chunked = length is None
        self.done = length == 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.done:
            return 0
        if self._chunked and self._left == 0:
            self._left = self._next_chunk()
            if self._left == 0:
                self.done = True
                return 0
        data = self._rfile.read(min(len(buffer), self._left))
        if not data:
            raise BadRequestLine("client closed the connection inside a request body")
        buffer[: len(data)] = data
        self._left -= len(data)
        if self._left == 0 and not self._chunked:
            self.done = True
        elif self._left == 0:
            self._rfile.readline(MAX_LINE)  # the CRLF after a chunk
        return len(data)

    def _next_chunk(self) -> int:
        line = self._rfile.readline(MAX_LINE).split(b";", 1)[0].strip()
        try:
            size = int(line, 16)
        except ValueError:
            raise BadRequestLine("bad chunk size") from None
        if size == 0:  # trailers, then the blank line
            while self._rfile.readline(MAX_LINE).strip():
                pass
        return size

    def drain(self, limit: int) -> bool:
        """Reads what the handler left of the body, up to ``limit`` bytes; whether the body ended."""
        while not self.done and limit > 0:
            chunk = self.read(min(65536, limit))
            if not chunk:
                break
            limit -= len(chunk)
        return self.done


class StreamWriter:
    """A chunked response written as it goes: progress streams, events, logs."""

    def __init__(self, wfile: BinaryIO, head_only: bool = False) -> None:
        self._wfile = wfile
        self._head_only = head_only
        self.closed = False

    def write(self, data: bytes) -> None:
        """Sends ``data`` at once; raises ``OSError`` (BrokenPipeError...) when the client has gone."""
        if data and not self._head_only:
            self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._wfile.flush()

    def json_line(self, obj: object) -> None:
        self.write(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if not self._head_only:
                self._wfile.write(b"0\r\n\r\n")
            self._wfile.flush()


StreamResponse = StreamWriter  # the module map's name for it


class HijackedSocket(socket.socket):
    """The client's socket after a hijack, giving back first what the server had already buffered."""

    __slots__ = ("_pending",)

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=sock.detach())
        self._pending = pending

    def buffered(self) -> bool:
        """Whether bytes read before the hijack wait here (``select`` on the socket cannot see them)."""
        return bool(self._pending)

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:size], self._pending[size:]
            return data
        return super().recv(size, flags)

    def recv_into(self, buffer: memoryview | bytearray, nbytes: int = 0, flags: int = 0) -> int:  # type: ignore[override]
        if self._pending:
            n = min(nbytes or len(buffer), len(self._pending))
            buffer[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        return super().recv_into(buffer, nbytes, flags)


class Request:
    """One request as a handler sees it. ``engine`` is this request's own (sqlite connections stay in their thread)."""

    def __init__(self, conn: Connection, method: str, path: str, query: str, headers: Headers, body: _Body) -> None:
        self.method = method
        self.path = path  # without the version prefix; the router sets it
        self.raw_path = path
        self.version: tuple[int, int] = (1, 45)
        self.params: dict[str, str] = {}
        self.query: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
        self.headers: Mapping[str, str] = headers
        self._conn = conn
        self._body = body
        self._engine: Engine | None = None
        self.answered = False  # a stream or hijack has sent the status line
        self._stream: StreamWriter | None = None

    # query parameters ------------------------------------------------------------------

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's boolean parameters: absent is the default; "", "0", "false", "False" (any case) are false."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in ("", "0", "false", "no")

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgumentError(f"invalid value for {name}: {value!r}: not an integer") from None

    def json_arg(self, name: str) -> object | None:
        value = self.arg(name)
        if value is None or value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid {name} parameter: {exc}") from None

    def filters(self) -> dict[str, list[str]]:
        """Docker's ``filters`` parameter: ``{"key": ["value"]}``, or the old ``{"key": {"value": true}}``."""
        raw = self.json_arg("filters")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise InvalidArgumentError("invalid filter: the filters parameter must be a JSON object")
        out: dict[str, list[str]] = {}
        for key, values in raw.items():
            if isinstance(values, dict):
                out[key] = [str(v) for v, on in values.items() if on]
            elif isinstance(values, list):
                out[key] = [str(v) for v in values]
            elif isinstance(values, str):
                out[key] = [values]
            else:
                raise InvalidArgumentError(f"invalid filter '{key}'")
        return out

    # body ------------------------------------------------------------------------------

    def body(self) -> bytes:
        data = bytearray()
        while chunk := self._body.read(min(1 << 20, MAX_BODY + 1 - len(data))):
            data += chunk
            if len(data) > MAX_BODY:
                raise HTTPError(413, f"request body larger than {MAX_BODY} bytes")
        return bytes(data)

    def json(self) -> object:
        data = self.body()
        if not data.strip():
            return {}
        try:
            return json.loads(data)
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid JSON: {exc}") from None

    def body_stream(self) -> BinaryIO:
        return io.BufferedReader(self._body, 1024 * 1024)  # type: ignore[return-value]

    # the engine ------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._conn.engine_factory()
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def client_gone(self) -> bool:
        """Whether the client closed its end (or the service is stopping): a follower stops then."""
        return self._conn.client_gone()

    # answering without a Response ----------------------------------------------------

    def stream(self, status: int = 200, content_type: str = "application/json",
               headers: Mapping[str, str] | None = None) -> StreamWriter:
        self._start(status, {"Content-Type": content_type, "Transfer-Encoding": "chunked", **(headers or {})})
        self._stream = StreamWriter(self._conn.wfile, head_only=self.method == "HEAD")
        return self._stream

    def fail_stream(self, message: str) -> None:
        """After the status line went out: a JSON stream ends with Docker's error line; anything else
        ends the connection."""
        stream = self._stream
        try:
            if stream is not None and not stream.closed:
                stream.json_line({"errorDetail": {"message": message}, "error": message})
                stream.close()
        except OSError:
            pass
        self._conn.keep_alive = False

    def hijack(self, content_type: str = "application/vnd.docker.raw-stream") -> socket.socket:
        """The raw socket, after 101 UPGRADED (the client asked ``Upgrade: tcp``) or 200 with ``content_type``.

        The handler owns the socket until it returns ``HIJACKED``; the server closes it then.
        """
        upgrade = (self.headers.get("Upgrade") or "").lower()
        if upgrade in ("tcp", "h2c"):
            self._start(101, {"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": upgrade})
        else:
            self._start(200, {"Content-Type": content_type})
        return self._conn.take_socket()

    def switch_protocols(self, headers: Mapping[str, str]) -> socket.socket:
        """101 with ``headers`` (a websocket handshake's answer), then the raw socket as ``hijack`` hands it over."""
        self._start(101, dict(headers))
        return self._conn.take_socket()

    def _start(self, status: int, headers: dict[str, str]) -> None:
        if self.answered:
            raise RuntimeError("response already started")
        self.answered = True
        self._conn.write_head(status, headers)


class Connection:
    """Requests on one client socket, one at a time, until the client closes or a response ends it."""

    def __init__(self, sock: socket.socket, dispatch: Callable[[Request], Response],
                 engine_factory: Callable[[], Engine], default_headers: Mapping[str, str],
                 on_busy: Callable[[bool], None] = lambda busy: None, stopping: threading.Event | None = None) -> None:
        self.sock = sock
        self.rfile: BinaryIO = sock.makefile("rb")
        self.wfile: BinaryIO = sock.makefile("wb")
        self.dispatch = dispatch
        self.engine_factory = engine_factory
        self.default_headers = default_headers
        self.on_busy = on_busy
        self.hijacked: socket.socket | None = None
        self.keep_alive = True
        self.stopping = stopping or threading.Event()

    def client_gone(self) -> bool:
        if self.stopping.is_set():
            return True
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if not readable:
                return False
            if hasattr(self.sock, "pending"):  # TLS: a peek would read a record; a readable socket is data
                return False
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def serve(self) -> None:
        try:
            while self.keep_alive and self.hijacked is None:
                request = self._read_request()
                if request is None:
                    return
                self.on_busy(True)
                try:
                    self._answer(request)
                finally:
                    request.close()
                    self.on_busy(False)
        except BadRequestLine as exc:
            self._send_plain(400, f"bad request: {exc}")
        except (OSError, ValueError):
            pass  # the client went away (ValueError: a write on a socket the client closed)
        finally:
            self._close()

    def _read_request(self) -> Request | None:
        line = self.rfile.readline(MAX_LINE + 1)
        while line in (b"\r\n", b"\n"):  # tolerated between requests, as Go's server does
            line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequestLine(f"malformed request line {line[:80]!r}")
        method, target, proto = parts
        headers = self._read_headers()
        length = headers.get("Content-Length")
        chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        if chunked:
            size = None
        else:
            try:
                size = int(length) if length else 0
            except ValueError:
                raise BadRequestLine("bad Content-Length") from None
        connection = (headers.get("Connection") or "").lower()
        self.keep_alive = "close" not in connection and (proto != "HTTP/1.0" or "keep-alive" in connection)
        if (headers.get("Expect") or "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for it before a large body
            self.wfile.flush()
        path, _, query = target.partition("?")
        return Request(self, method.upper(), path, query, headers, _Body(self.rfile, size))

    def _read_headers(self) -> Headers:
        headers = Headers()
        for _ in range(MAX_HEADERS):
            line = self.rfile.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise BadRequestLine("header line too long")
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise BadRequestLine(f"malformed header {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        raise BadRequestLine("too many headers")

    def _answer(self, request: Request) -> None:
        response = self.dispatch(request)
        if response is HIJACKED or request.answered:
            if self.hijacked is None:
                if request._stream is not None and not request._stream.closed:
                    request._stream.close()
                # a finished stream: the connection goes on if the handler read the whole body
                self.keep_alive = self.keep_alive and request._body.drain(0)
            return
        if not request._body.drain(MAX_BODY):
            self.keep_alive = False  # the handler left a large body unread: do not read it just to skip it
        headers = {"Content-Type": response.content_type, **response.headers} if response.content_type else dict(response.headers)
        if response.status not in (204, 304):
            headers.setdefault("Content-Length", str(len(response.body)))
        body = response.body if request.method != "HEAD" and response.status not in (204, 304) else b""
        self.write_head(response.status, headers, body)

    def write_head(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        """The status line and headers, and a whole body with them: one send, not two."""
        from email.utils import formatdate

        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        all_headers = {**self.default_headers, "Date": formatdate(usegmt=True), **headers}
        if not self.keep_alive and status != 101:
            all_headers["Connection"] = "close"
        lines += [f"{k}: {v}" for k, v in all_headers.items()]
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

    def take_socket(self) -> socket.socket:
        """Hands the socket over, with what the reader had already buffered of the client's bytes."""
        self.wfile.flush()
        pending = b""
        timeout = self.sock.gettimeout()
        try:
            self.sock.settimeout(0)
            pending = self.rfile.peek(1 << 16) if hasattr(self.rfile, "peek") else b""  # type: ignore[attr-defined]
        except (BlockingIOError, OSError):
            pending = b""
        finally:
            self.sock.settimeout(timeout)
        if pending:
            self.rfile.read(len(pending))
        if isinstance(self.sock, socket.socket) and type(self.sock) is socket.socket:
            self.hijacked = HijackedSocket(self.sock, pending)
        else:
            self.hijacked = self.sock  # TLS: the SSL layer keeps its own buffer
        self.keep_alive = False
        return self.hijacked

    def _send_plain(self, status: int, text: str) -> None:
        try:
            self.keep_alive = False
            body = json.dumps({"message": text}, separators=(",", ":")).encode() + b"\n"
            self.write_head(status, {"Content-Type": "application/json", "Content-Length": str(len(body))}, body)
        except OSError:
            pass

    def _close(self) -> None:
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except OSError:
                pass
        for s in (self.hijacked, self.sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
