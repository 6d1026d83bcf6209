"""Compression detected by magic bytes; fast streaming codecs.

gzip goes through ISA-L (several times faster than zlib) in a reader thread,
so decompression overlaps with whatever consumes the stream.
"""

from __future__ import annotations

import io
from enum import StrEnum
from typing import BinaryIO

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
    """Turns codec errors (truncated or corrupt input) into InvalidArchiveError."""

    def __init__(self, inner: BinaryIO) -> None:
        import lzma

        import zstandard
        from isal.igzip_lib import IsalError

        self._inner = inner
        self._errors = (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, IsalError, ValueError)

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except self._errors as exc:
            raise InvalidArchiveError(f"corrupt compressed stream: {exc}") from exc

    def close(self) -> None:
        try:
            self._inner.close()
        except Exception:  # noqa: BLE001 - closing a broken codec must not mask the first error
            pass


class _ZstdReader:
    """zstd frames one after another; a stream that ends inside a frame is an error
    (zstandard's stream_reader reports such a truncation as a quiet EOF)."""

    def __init__(self, raw: BinaryIO) -> None:
        import zstandard

        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._dobj = self._new()
        self._started = False
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._started and not self._dobj.eof:
                    raise InvalidArchiveError("corrupt compressed stream: zstd data is truncated")
                return b""
            self._pending = self._feed(chunk)
        if n < 0 or n >= len(self._pending):
            out, self._pending = self._pending, b""
            return out
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def _feed(self, chunk: bytes) -> bytes:
        out = b""
        while chunk:
            if self._dobj.eof:  # the next frame follows the one just finished
                self._dobj = self._new()
            self._started = True
            out += self._dobj.decompress(chunk)
            chunk = self._dobj.unused_data if self._dobj.eof else b""
        return out

    def close(self) -> None:
        pass
