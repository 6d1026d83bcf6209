"""Tar-split metadata: what it takes to rebuild a layer tar byte for byte.

Like Docker's ``tar-split.json.gz``, a layer keeps the raw bytes of every tar
header and padding, and for each regular file only its path and size: the
content is read back from the layer directory. The file is a zstd stream of
records:

    b"R" varint(n) <n raw bytes>
    b"F" varint(len) <path relative to the layer root> varint(size)
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from dockyard.errors import InvalidArchiveError

_RAW = ord("R")
_FILE = ord("F")


@dataclass(frozen=True, slots=True)
class FileRef:
    path: bytes
    size: int


Record = bytes | FileRef


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class TarSplitBuilder:
    """Collects records while a layer is extracted; raw bytes are coalesced."""

    def __init__(self) -> None:
        self.records: list[bytearray | FileRef] = []

    def raw(self, data: bytes | memoryview) -> None:
        last = self.records[-1] if self.records else None
        if isinstance(last, bytearray):
            last += data
        else:
            self.records.append(bytearray(data))

    def file(self, path: bytes, size: int) -> int:
        self.records.append(FileRef(path, size))
        return len(self.records) - 1

    def inline(self, index: int, content: bytes) -> None:
        """The file of record ``index`` is about to change on disk: keep its bytes here."""
        self.records[index] = bytearray(content)

    def write(self, path: Path) -> None:
        import zstandard  # here, not at the top: listing commands never need it

        compressor = zstandard.ZstdCompressor(level=3)
        with open(path, "wb") as f, compressor.stream_writer(f, closefd=False) as out:
            for record in self.records:
                if isinstance(record, FileRef):
                    out.write(b"F" + _varint(len(record.path)) + record.path + _varint(record.size))
                else:
                    out.write(b"R" + _varint(len(record)) + bytes(record))


def _read_varint(stream: BinaryIO) -> int:
    shift = value = 0
    while True:
        byte = stream.read(1)
        if not byte:
            raise InvalidArchiveError("tar-split metadata is truncated")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7


def read_records(path: Path) -> Iterator[Record]:
    import zstandard

    with open(path, "rb") as f:
        stream = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(f), 1 << 16)  # type: ignore[arg-type]
        while kind := stream.read(1):
            n = _read_varint(stream)
            if kind[0] == _RAW:
                yield stream.read(n)
            elif kind[0] == _FILE:
                name = stream.read(n)
                yield FileRef(name, _read_varint(stream))
            else:
                raise InvalidArchiveError("tar-split metadata is corrupt")
