"""Compression detected by magic bytes; fast streaming codecs.

gzip goes through ISA-L (several times faster than zlib) in a reader thread,
so decompression overlaps with whatever consumes the stream.
"""

from __future__ import annotations

import io
from enum import StrEnum
from typing import BinaryIO, Callable

from dockyard.errors import InvalidArchiveError

# The codecs are imported where they are used: commands that only list or
# tag images then start without loading them.


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)


def detect(head: bytes) -> Compression:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


class _Prefixed(io.RawIOBase):
    """Replays bytes already read for sniffing, then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def sniff(stream: BinaryIO) -> tuple[Compression, BinaryIO]:
    """Read the magic bytes; return the kind and a stream that still starts at byte 0."""
    head = b""
    while len(head) < 6:
        chunk = stream.read(6 - len(head))
        if not chunk:
            break
        head += chunk
    return detect(head), io.BufferedReader(_Prefixed(head, stream), 1 << 20)  # type: ignore[arg-type]


def open_decompressed(stream: BinaryIO, *, threaded: bool = True) -> tuple[Compression, BinaryIO]:
    """A stream of the uncompressed bytes of ``stream``, whatever its compression."""
    kind, stream = sniff(stream)
    if kind is Compression.GZIP:
        from isal import igzip, igzip_threaded

        reader: BinaryIO = (
            igzip_threaded.open(stream, "rb", threads=1) if threaded else igzip.IGzipFile(fileobj=stream)
        )  # type: ignore[assignment]
    elif kind is Compression.ZSTD:
        reader = _ZstdReader(stream)  # type: ignore[assignment]
    elif kind is Compression.BZIP2:
        import bz2

        reader = bz2.BZ2File(stream)  # type: ignore[assignment]
    elif kind is Compression.XZ:
        import lzma

        reader = lzma.LZMAFile(stream)  # type: ignore[assignment]
    else:
        return kind, stream
    return kind, _DecodeErrors(reader)  # type: ignore[return-value]


class _DecodeErrors:
    """Turns codec errors (truncated or corrupt input) into InvalidArchiveError, and closes the codec as soon as
    its stream ends or fails.

    The threaded gzip reader joins its worker thread when closed. Left to the garbage collector, that close
    can run inside another thread's start, which holds a lock the join needs: the process hangs (seen with
    a corrupt layer). Closing at the end and at the first error keeps the join out of the collector.
    """

    def __init__(self, inner: BinaryIO) -> None:
        import lzma

        import zstandard
        from isal.igzip_lib import IsalError

        self._inner: BinaryIO | None = inner
        self._errors = (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, IsalError, ValueError)

    def read(self, n: int = -1) -> bytes:
        if self._inner is None:
            return b""
        try:
            data = self._inner.read(n)
        except self._errors as exc:
            self.close()
            raise InvalidArchiveError(f"corrupt compressed stream: {exc}") from exc
        if not data and n != 0:
            self.close()
        return data

    def close(self) -> None:
        inner, self._inner = self._inner, None
        if inner is None:
            return
        try:
            inner.close()
        except Exception:  # noqa: BLE001 - closing a broken codec must not mask the first error
            pass

    def __enter__(self) -> _DecodeErrors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ZstdReader:
    """zstd frames one after another, decompressed a bounded piece per ``read``: a small
    input can expand a thousandfold (a 4 KB frame of zeros is 128 MiB), so output is never
    produced a whole input chunk at a time. zstandard's reader reports a stream that ends
    inside a frame as a quiet EOF, so a walk of the frame structure checks the end."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._frames = ZstdFrames()
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            _Watched(raw, self._frames.feed), read_size=1 << 17, read_across_frames=True
        )

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        data = self._reader.read(n)
        if not data and n and not self._frames.complete:
            raise InvalidArchiveError("corrupt compressed stream: zstd data is truncated")
        return data

    def close(self) -> None:
        self._reader.close()


class _Watched(io.RawIOBase):
    """Hands every byte read from ``raw`` to ``watch`` as well."""

    def __init__(self, raw: BinaryIO, watch: Callable[[bytes], None]) -> None:
        self._raw = raw
        self._watch = watch

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._watch(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


_ZSTD_MAGIC = 0xFD2FB528
_SKIPPABLE = 0x184D2A50  # to 0x184D2A5F


class ZstdFrames:
    """Walks the frame and block headers of a zstd stream (RFC 8878) as it passes, without
    decompressing: ``complete`` is true when the bytes so far end exactly between frames.
    The cost is one step per block (at most 128 KiB of output each), not per byte."""

    def __init__(self) -> None:
        self._buf = bytearray()  # header bytes not yet parsed
        self._skip = 0  # content bytes to pass over before the next header
        self._state = "magic"  # magic, descriptor, frame_header, skippable_size, block, checksum
        self._header_len = 0  # frame header bytes after the descriptor
        self._checksum = False
        self.complete = True

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                n = min(self._skip, len(view))
                self._skip -= n
                view = view[n:]
                continue
            need = self._need()
            take = min(need - len(self._buf), len(view))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == need:
                self._step(bytes(self._buf))
                self._buf.clear()
        self.complete = self._state == "magic" and not self._buf and not self._skip

    def _need(self) -> int:
        return {"magic": 4, "descriptor": 1, "frame_header": self._header_len, "skippable_size": 4, "block": 3,
                "checksum": 4}[self._state]

    def _step(self, b: bytes) -> None:
        if self._state == "magic":
            magic = int.from_bytes(b, "little")
            if magic & 0xFFFFFFF0 == _SKIPPABLE:
                self._state = "skippable_size"
            elif magic == _ZSTD_MAGIC:
                self._state = "descriptor"
            else:
                raise InvalidArchiveError("corrupt compressed stream: not a zstd frame")
        elif self._state == "skippable_size":
            self._skip, self._state = int.from_bytes(b, "little"), "magic"
        elif self._state == "descriptor":
            self._header_len = _frame_header_length(b[0]) - 1
            self._checksum = bool(b[0] & 0x04)
            self._state = "frame_header" if self._header_len else "block"
        elif self._state == "frame_header":
            self._state = "block"
        elif self._state == "block":
            header = int.from_bytes(b, "little")
            kind, size = (header >> 1) & 3, header >> 3
            if kind == 3:
                raise InvalidArchiveError("corrupt compressed stream: reserved zstd block type")
            self._skip = 1 if kind == 1 else size  # an RLE block holds one byte
            if header & 1:  # the frame's last block
                self._state = "checksum" if self._checksum else "magic"
        else:
            self._state = "magic"


def _frame_header_length(descriptor: int) -> int:
    """Frame_Header_Descriptor byte plus window descriptor, dictionary ID and content size."""
    single_segment = bool(descriptor & 0x20)
    fcs_flag = descriptor >> 6
    fcs = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    return 1 + (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3] + fcs
