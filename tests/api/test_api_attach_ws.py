"""``GET /containers/{id}/attach/ws``: attach over a websocket, with websocket-client (docker-py's own
websocket dependency) on the service's unix socket and a raw RFC 6455 exchange for the handshake's and the
frames' exact bytes."""

from __future__ import annotations

import base64
import os
import socket
import struct

import pytest

from tests.api.conftest import ApiService

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc and overlay mounts")


def _create(svc: ApiService, cmd: list[str], **config: object) -> str:
    reply = svc.request("POST", "/containers/create", {"Image": "bb", "Cmd": cmd, "HostConfig": {"NetworkMode": "none"},
                                                       **config})
    assert reply.status == 201, reply.body
    return str(reply.json()["Id"])  # type: ignore[index]


def _unix(svc: ApiService) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(svc.socket))
    return sock


def test_websocket_client_reads_the_output_of_a_container_started_after_it_attached(svc: ApiService) -> None:
    """docker-py's attach_socket(ws=True): attach before start, the first message is the whole output."""
    websocket = pytest.importorskip("websocket")
    line = "hi there and stuff and things, words!"
    cid = _create(svc, ["sh", "-c", f"printf '{line}'"])
    ws = websocket.create_connection(f"ws://localhost/v1.45/containers/{cid}/attach/ws?stdout=1&stream=1&logs=1",
                                     socket=_unix(svc))
    try:
        assert svc.request("POST", f"/containers/{cid}/start").status == 204
        opcode, data = ws.recv_data()
        assert (opcode, data) == (websocket.ABNF.OPCODE_BINARY, line.encode())
        # the container ended: the service closes the websocket (1000)
        opcode, data = ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and data[:2] == struct.pack("!H", 1000)
    finally:
        ws.close()
    svc.request("DELETE", f"/containers/{cid}?force=1")


def _masked(opcode: int, payload: bytes, mask: bytes = b"\x01\x02\x03\x04") -> bytes:
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


def _frame(sock: socket.socket) -> tuple[int, bytes]:
    head = sock.recv(2, socket.MSG_WAITALL)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", sock.recv(2, socket.MSG_WAITALL))[0]
    return head[0] & 0x0F, sock.recv(n, socket.MSG_WAITALL) if n else b""


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return head


def test_raw_handshake_stdin_ping_text_frames_and_close(svc: ApiService) -> None:
    """RFC 6455's sample key gets its sample accept; API 1.27 gets text frames and every stream; stdin comes
    in masked frames, a ping gets its pong, and a close frame is answered with one."""
    cid = _create(svc, ["sh", "-c", "read x; echo got $x; echo err >&2; sleep 30"], OpenStdin=True)
    assert svc.request("POST", f"/containers/{cid}/start").status == 204
    sock = _unix(svc)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall(f"GET /v1.27/containers/{cid}/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    head = _read_head(sock).decode()
    assert head.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head and "Upgrade: websocket\r\n" in head
    sock.sendall(_masked(0x9, b"hb"))
    assert _frame(sock) == (0xA, b"hb")
    sock.sendall(_masked(0x2, b"yes\n"))
    got = {_frame(sock), _frame(sock)}
    assert got == {(0x1, b"got yes\n"), (0x1, b"err\n")}
    sock.sendall(_masked(0x8, struct.pack("!H", 1000)))
    assert _frame(sock) == (0x8, struct.pack("!H", 1000))
    sock.close()
    assert svc.request("GET", f"/containers/{cid}/json").json()["State"]["Running"] is True  # type: ignore[index]
    svc.request("DELETE", f"/containers/{cid}?force=1")


def test_a_request_that_is_not_a_handshake_is_refused(svc: ApiService) -> None:
    cid = _create(svc, ["true"])
    plain = svc.request("GET", f"/containers/{cid}/attach/ws?stream=1&stdout=1")
    assert plain.status == 400 and b"websocket" in plain.body
    bad_key = svc.request("GET", f"/containers/{cid}/attach/ws", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"short").decode()})
    assert bad_key.status == 400
    missing = svc.request("GET", "/containers/nosuch/attach/ws", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert missing.status == 404
    assert svc.request("DELETE", f"/containers/{cid}").status == 204
