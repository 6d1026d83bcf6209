"""``api.http`` and ``api.router`` on a real socket pair, in-process: hijack (101 with ``Upgrade: tcp``,
bytes the client sent early), chunked streams, HEAD, body limits, errors mapped to Docker's status."""

from __future__ import annotations

import socket
import threading
from typing import Callable, Iterator

import pytest

from dockyard.api.http import HIJACKED, MAX_BODY, Connection, Request, Response, empty, json_response
from dockyard.api.router import Route, Router
from dockyard.errors import ConflictError, DockyardError, ImageNotFoundError, InvalidArgumentError


def _echo_hijack(request: Request) -> Response:
    sock = request.hijack()
    data = sock.recv(100)
    sock.sendall(b"echo:" + data)
    sock.shutdown(socket.SHUT_WR)
    return HIJACKED


def _stream(request: Request) -> Response:
    out = request.stream()
    for n in range(3):
        out.json_line({"n": n})
    return HIJACKED


def _stream_then_fail(request: Request) -> Response:
    out = request.stream()
    out.json_line({"status": "working"})
    raise DockyardError("it broke")


def _raiser(exc: Exception) -> Callable[[Request], Response]:
    def handler(request: Request) -> Response:
        raise exc

    return handler


def _body_size(request: Request) -> Response:
    return json_response({"size": len(request.body()), "q": request.int_arg("q"), "f": request.flag("f")})


def _streamed_body(request: Request) -> Response:
    total = 0
    stream = request.body_stream()
    while chunk := stream.read(65536):
        total += len(chunk)
    return json_response({"size": total})


ROUTES = (
    Route("POST", "/hijack", _echo_hijack),
    Route("GET", "/stream", _stream),
    Route("GET", "/stream-fail", _stream_then_fail),
    Route("GET", "/conflict", _raiser(ConflictError("in use"))),
    Route("GET", "/missing", _raiser(ImageNotFoundError("x:latest"))),
    Route("GET", "/invalid", _raiser(InvalidArgumentError("bad"))),
    Route("GET", "/bug", _raiser(KeyError("oops"))),
    Route("POST", "/body", _body_size),
    Route("POST", "/upload", _streamed_body),
    Route("POST", "/things/{name:path}/json", lambda r: json_response(r.params)),
    Route("GET", "/things/{id}", lambda r: json_response(r.params)),
    Route("GET", "/empty", lambda r: empty()),
)


@pytest.fixture
def client() -> Iterator[socket.socket]:
    """The client end of a socket pair whose other end one ``Connection`` serves."""
    ours, theirs = socket.socketpair()
    conn = Connection(theirs, Router(ROUTES), engine_factory=lambda: None, default_headers={"Api-Version": "1.45"})  # type: ignore[arg-type,return-value]
    thread = threading.Thread(target=conn.serve, daemon=True)
    thread.start()
    ours.settimeout(10)
    yield ours
    ours.close()
    thread.join(10)


def _read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one response (Content-Length or chunked)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while not rest.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, rest
            rest += chunk
        body, pos = b"", 0
        while True:
            line_end = rest.index(b"\r\n", pos)
            size = int(rest[pos:line_end], 16)
            if size == 0:
                return head, body
            body += rest[line_end + 2 : line_end + 2 + size]
            pos = line_end + 4 + size
    length = next(int(line.split(b":")[1]) for line in lower.split(b"\r\n") if line.startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest


def test_hijack_answers_101_and_keeps_early_bytes(client: socket.socket) -> None:
    # the client's first stdin bytes arrive in the same packet as the request
    client.sendall(b"POST /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\nhello")
    data = b""
    while not data.endswith(b"echo:hello"):
        chunk = client.recv(100)
        assert chunk, data
        data += chunk
    head = data.split(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"Upgrade: tcp" in head and b"Content-Type: application/vnd.docker.raw-stream" in head
    assert client.recv(100) == b""  # the handler's half-close reaches the client


def test_hijack_without_upgrade_answers_200(client: socket.socket) -> None:
    client.sendall(b"POST /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
    head = client.recv(4096)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    client.sendall(b"hi")
    assert client.recv(100) == b"echo:hi"


def test_stream_is_chunked_json_lines_and_the_connection_goes_on(client: socket.socket) -> None:
    client.sendall(b"GET /v1.41/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    head, body = _read_response(client)
    assert b"Transfer-Encoding: chunked" in head
    assert body == b'{"n":0}\n{"n":1}\n{"n":2}\n'
    client.sendall(b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.recv(4096).startswith(b"HTTP/1.1 204 No Content\r\n")


def test_an_error_after_the_stream_started_ends_it_with_dockers_error_line(client: socket.socket) -> None:
    client.sendall(b"GET /stream-fail HTTP/1.1\r\nHost: x\r\n\r\n")
    _, body = _read_response(client)
    assert body == b'{"status":"working"}\n{"errorDetail":{"message":"it broke"},"error":"it broke"}\n'


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/conflict", 409, "in use"), ("/missing", 404, "No such image: x:latest"), ("/invalid", 400, "bad"),
    ("/bug", 500, "internal error: KeyError: 'oops'"), ("/nowhere", 404, "page not found"),
])  # fmt: skip
def test_errors_map_to_dockers_status(client: socket.socket, path: str, status: int, message: str) -> None:
    client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head, body = _read_response(client)
    assert head.split(b"\r\n")[0] == f"HTTP/1.1 {status} ".encode() + head.split(b"\r\n")[0].split(b" ", 2)[2]
    assert body == ('{"message":' + __import__("json").dumps(message) + "}\n").encode()


def test_path_parameters_and_query(client: socket.socket) -> None:
    client.sendall(b"POST /v1.45/things/reg:5000/a/b:1/json HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert _read_response(client)[1] == b'{"name":"reg:5000/a/b:1"}\n'
    client.sendall(b"GET /things/abc HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _read_response(client)[1] == b'{"id":"abc"}\n'
    client.sendall(b"POST /body?q=7&f=True HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert _read_response(client)[1] == b'{"size":3,"q":7,"f":true}\n'
    client.sendall(b"POST /body?q=seven HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    head, body = _read_response(client)
    assert head.startswith(b"HTTP/1.1 400") and b"not an integer" in body


def test_whole_bodies_are_bounded_streamed_ones_are_not(client: socket.socket) -> None:
    size = MAX_BODY + 10
    client.sendall(f"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    block = b"x" * 65536
    sent = 0
    while sent < size:
        part = block[: size - sent]
        client.sendall(part)
        sent += len(part)
    assert _read_response(client)[1] == f'{{"size":{size}}}\n'.encode()
    client.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"y" * (1 << 20)
    try:
        for _ in range(MAX_BODY // len(chunk) + 2):
            client.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        client.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may stop reading once it has answered
    head, body = _read_response(client)
    assert head.startswith(b"HTTP/1.1 413") and b"larger than" in body


def test_head_sends_headers_only(client: socket.socket) -> None:
    client.sendall(b"HEAD /things/abc HTTP/1.1\r\nHost: x\r\n\r\nGET /things/def HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b'{"id":"def"}' not in data:
        chunk = client.recv(65536)
        assert chunk, data
        data += chunk
    assert b'"abc"' not in data and data.count(b"HTTP/1.1 200 OK") == 2


def test_expect_100_continue_is_answered_before_the_body(client: socket.socket) -> None:
    client.sendall(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert client.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    client.sendall(b"ok")
    assert _read_response(client)[1] == b'{"size":2,"q":null,"f":false}\n'
