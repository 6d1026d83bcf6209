"""RFC 6455 framing of the websocket attach (``api.websocket``): the handshake's accept key, frame lengths,
masking, fragments, control frames and the bounds, on bytes and on a real socket pair."""

from __future__ import annotations

import socket
import struct

import pytest

from dockyard.api.websocket import (
    MAX_FRAME,
    TOO_BIG,
    FrameDecoder,
    Opcode,
    ProtocolError,
    WebSocket,
    accept_key,
    encode,
    handshake,
)
from dockyard.errors import InvalidArgumentError

MASK = b"\x37\xfa\x21\x3d"


def test_accept_key_and_handshake_of_rfc_6455s_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    headers = {"Upgrade": "WebSocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert handshake(headers) == {"Upgrade": "websocket", "Connection": "Upgrade",
                                  "Sec-WebSocket-Accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}
    for broken in ({"Upgrade": "tcp"}, {"Sec-WebSocket-Version": "8"}, {"Sec-WebSocket-Key": "c2hvcnQ="}):
        with pytest.raises(InvalidArgumentError):
            handshake({**headers, **broken})


def test_rfc_6455s_example_frames() -> None:
    # 5.7: a single-frame unmasked text message, and the same masked
    assert encode(Opcode.TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")
    assert encode(Opcode.TEXT, b"Hello", MASK) == bytes.fromhex("818537fa213d7f9f4d5158")
    assert FrameDecoder().feed(bytes.fromhex("818537fa213d7f9f4d5158")) == [(Opcode.TEXT, b"Hello")]


@pytest.mark.parametrize("size, header", [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_lengths_take_7_16_or_64_bits(size: int, header: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = encode(Opcode.BINARY, payload)
    assert len(frame) == header + size
    decoder = FrameDecoder()
    assert decoder.feed(frame[:-1]) == []  # a part of a frame waits for the rest
    assert decoder.feed(frame[-1:]) == [(Opcode.BINARY, payload)]


def test_fragments_join_and_control_frames_come_between() -> None:
    first = bytes((0x01, 0x80 | 3)) + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(b"Hel"))
    ping = encode(Opcode.PING, b"p", MASK)
    last = bytes((0x80, 0x80 | 2)) + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(b"lo"))
    assert FrameDecoder().feed(first + ping + last) == [(Opcode.PING, b"p"), (Opcode.TEXT, b"Hello")]


@pytest.mark.parametrize("frame, code", [
    (bytes((0xC1, 0x00)), 1002),  # a reserved bit without an extension
    (bytes((0x83, 0x00)), 1002),  # an unknown opcode
    (bytes((0x80, 0x00)), 1002),  # a continuation of nothing
    (bytes((0x09, 0x00)), 1002),  # a fragmented control frame
    (bytes((0x82, 127)) + struct.pack("!Q", MAX_FRAME + 1), TOO_BIG),
])
def test_broken_frames_are_refused_with_their_close_code(frame: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as caught:
        FrameDecoder().feed(frame)
    assert caught.value.code == code


def test_server_end_answers_pings_and_closes_on_a_socket_pair() -> None:
    ours, theirs = socket.socketpair()
    try:
        ws = WebSocket(ours, binary=True)
        ws.sendall(b"out")
        assert theirs.recv(100) == encode(Opcode.BINARY, b"out")
        theirs.sendall(encode(Opcode.PING, b"hb", MASK))
        assert ws.recv() is None  # no data: the pong went back
        assert theirs.recv(100) == encode(Opcode.PONG, b"hb")
        theirs.sendall(encode(Opcode.BINARY, b"in", MASK) + encode(Opcode.CLOSE, struct.pack("!H", 1000), MASK))
        assert ws.recv() == b"in"  # the data before the close, then the answer to it
        assert theirs.recv(100) == encode(Opcode.CLOSE, struct.pack("!H", 1000))
        assert ws.recv() == b""
    finally:
        ours.close()
        theirs.close()
