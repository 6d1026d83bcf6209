"""RFC 6455 websockets over a hijacked socket, on the stdlib: the handshake's answer and the frames.

Docker serves ``/containers/{id}/attach/ws`` with golang.org/x/net/websocket: no subprotocol, no extension,
one frame per write (binary from API 1.28, text before), client frames masked, pings answered, a close
frame answered with one and the end of the connection.
"""

from __future__ import annotations

import base64
import hashlib
import select
import socket
import struct
import time
from collections.abc import Mapping
from enum import IntEnum

from dockyard.errors import InvalidArgumentError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_FRAME = 16 << 20  # a client frame longer than this is refused (the connection closes with 1009)
NORMAL_CLOSURE, PROTOCOL_ERROR, TOO_BIG = 1000, 1002, 1009


class Opcode(IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


_OPCODES = frozenset(int(o) for o in Opcode)


class ProtocolError(Exception):
    """The client broke RFC 6455; ``code`` is the close status to answer with."""

    def __init__(self, message: str, code: int = PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.code = code


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def handshake(headers: Mapping[str, str]) -> dict[str, str]:
    """The 101 answer's headers for a client's opening handshake; InvalidArgumentError (400) for a request that
    is not one (as x/net/websocket answers 400 Bad Request)."""
    upgrade = (headers.get("Upgrade") or "").lower()
    connection = {t.strip().lower() for t in (headers.get("Connection") or "").split(",")}
    if upgrade != "websocket" or "upgrade" not in connection:
        raise InvalidArgumentError("not a websocket handshake: 'Upgrade: websocket' and 'Connection: Upgrade' are required")
    if (headers.get("Sec-WebSocket-Version") or "").strip() != "13":
        raise InvalidArgumentError("unsupported websocket version: 13 is required")
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except ValueError:
        valid = False
    if not valid:
        raise InvalidArgumentError("bad Sec-WebSocket-Key")
    return {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": accept_key(key)}


def encode(opcode: int, payload: bytes = b"", mask: bytes | None = None) -> bytes:
    """One final frame; ``mask`` (4 bytes) for a client's frame, none for a server's."""
    n = len(payload)
    head = bytes((0x80 | opcode,))
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes((bit | n,))
    elif n < 1 << 16:
        head += bytes((bit | 126,)) + struct.pack("!H", n)
    else:
        head += bytes((bit | 127,)) + struct.pack("!Q", n)
    if mask:
        return head + mask + _unmask(payload, mask)
    return head + payload


def _unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    key = int.from_bytes((mask * (len(data) // 4 + 1))[: len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


class FrameDecoder:
    """Bytes in, whole messages out: ``(opcode, payload)``, fragments joined, control frames as they come."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.buffer = b""
        self.max_frame = max_frame
        self._fragments: list[bytes] = []
        self._opcode = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        out: list[tuple[int, bytes]] = []
        while (frame := self._frame()) is not None:
            fin, opcode, payload = frame
            if opcode >= Opcode.CLOSE:
                if not fin or len(payload) > 125:
                    raise ProtocolError("a control frame must be whole and at most 125 bytes")
                out.append((opcode, payload))
            elif opcode == Opcode.CONTINUATION:
                if not self._fragments:
                    raise ProtocolError("a continuation frame without a message")
                self._fragments.append(payload)
                if sum(map(len, self._fragments)) > self.max_frame:  # a message is bounded as a frame is
                    raise ProtocolError("message too big", TOO_BIG)
            else:
                if self._fragments:
                    raise ProtocolError("a new message inside a fragmented one")
                self._opcode, self._fragments = opcode, [payload]
            if fin and opcode < Opcode.CLOSE:
                out.append((self._opcode, b"".join(self._fragments)))
                self._fragments = []
        return out

    def _frame(self) -> tuple[bool, int, bytes] | None:
        b = self.buffer
        if len(b) < 2:
            return None
        if b[0] & 0x70:
            raise ProtocolError("reserved bits set (no extension was agreed)")
        fin, opcode, masked, n = bool(b[0] & 0x80), b[0] & 0x0F, bool(b[1] & 0x80), b[1] & 0x7F
        if opcode not in _OPCODES:
            raise ProtocolError(f"unknown opcode {opcode}")
        pos = 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack("!H", b[2:4])[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack("!Q", b[2:10])[0], 10
        if n > self.max_frame:
            raise ProtocolError(f"frame of {n} bytes is too big", TOO_BIG)
        mask = b[pos : pos + 4] if masked else b""
        pos += len(mask) if masked else 0
        if len(b) < pos + n or (masked and len(mask) < 4):
            return None
        payload = b[pos : pos + n]
        self.buffer = b[pos + n :]
        return fin, opcode, _unmask(payload, mask) if masked else payload


class WebSocket:
    """The server's end: ``sendall`` writes one data frame, ``recv`` gives the data of the client's messages
    (None when what came was no data: a ping, a part of a frame; b"" once the client closed)."""

    def __init__(self, sock: socket.socket, binary: bool = True) -> None:
        self.sock = sock
        self.opcode = Opcode.BINARY if binary else Opcode.TEXT
        self.decoder = FrameDecoder()
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def buffered(self) -> bool:
        """Whether the hijacked socket holds bytes ``select`` cannot see (a frame sent right after the 101)."""
        buffered = getattr(self.sock, "buffered", None)
        return bool(buffered is not None and buffered())

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(encode(self.opcode, data))

    def recv(self, size: int = 1 << 16) -> bytes | None:
        if self.closed:
            return b""
        chunk = self.sock.recv(size)
        if not chunk:
            self.closed = True
            return b""
        try:
            messages = self.decoder.feed(chunk)
        except ProtocolError as exc:
            self.close(exc.code)
            return b""
        data = b""
        for opcode, payload in messages:
            if opcode == Opcode.PING:
                self.sock.sendall(encode(Opcode.PONG, payload))
            elif opcode == Opcode.CLOSE:  # the client began closing: answer, and that is all
                self.close(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NORMAL_CLOSURE, linger=0)
                return data or b""
            elif opcode in (Opcode.TEXT, Opcode.BINARY):
                data += payload
        return data or None

    def close(self, code: int = NORMAL_CLOSURE, linger: float = 2.0) -> None:
        """Our close frame (once); the socket itself is the server's to close. When we begin the closing
        handshake, the client's answering close frame is awaited a moment (``linger``): a client that answers
        to a socket already gone would fail on a broken pipe."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.sendall(encode(Opcode.CLOSE, code.to_bytes(2, "big")))
        except OSError:
            return
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0 and select.select([self.sock], [], [], left)[0]:
            try:
                chunk = self.sock.recv(1 << 16)
                if not chunk or any(op == Opcode.CLOSE for op, _ in self.decoder.feed(chunk)):
                    return
            except (OSError, ProtocolError):
                return

    def shutdown(self, how: int) -> None:
        self.close()
        self.sock.shutdown(how)
