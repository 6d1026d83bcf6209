"""Digests as a value type, and streaming verification.

A ``Digest`` is parsed and validated once; signatures take ``Digest``, never a
bare string. sha256 is the canonical algorithm; sha512 is accepted as the OCI
image-spec allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import DigestMismatchError, InvalidDigestError, MaxDepthExceededError, SizeMismatchError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import BinaryIO

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_ENCODED = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """``algorithm:hex``, validated."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, value: str) -> Digest:
        algorithm, sep, encoded = value.partition(":")
        if not sep:
            raise InvalidDigestError(f"invalid digest format: {value!r}")
        if algorithm not in _HEX_LENGTH:
            raise InvalidDigestError(f"unsupported digest algorithm: {value!r}")
        if len(encoded) != _HEX_LENGTH[algorithm] or not _ENCODED.fullmatch(encoded):
            raise InvalidDigestError(f"invalid checksum digest format: {value!r}")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        import hashlib  # hashing only: parsing a digest needs none

        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @property
    def short(self) -> str:
        """The 12-character ID Docker prints in tables."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Digester:
    """Hashes a stream as it passes; ``digest()`` may be called once done."""

    __slots__ = ("_hash", "algorithm", "size")

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        import hashlib

        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())


class VerifyingReader:
    """Wraps a stream, hashing what is read; ``verify()`` checks the total.

    Reading stops at ``expected_size`` when one is given, so a peer cannot
    make us read more than it declared.
    """

    def __init__(self, raw: BinaryIO, expected: Digest, expected_size: int | None = None) -> None:
        self._raw = raw
        self.expected = expected
        self.expected_size = expected_size
        self.digester = Digester(expected.algorithm)

    def read(self, n: int = -1) -> bytes:
        if self.expected_size is not None:
            left = self.expected_size - self.digester.size
            # one byte past the declared size is enough to notice a liar
            n = left + 1 if n < 0 or n > left + 1 else n
        data = self._raw.read(n)
        self.digester.update(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def verify(self) -> Digest:
        if self.expected_size is not None and self.digester.size != self.expected_size:
            raise SizeMismatchError(self.expected_size, self.digester.size)
        actual = self.digester.digest()
        if actual != self.expected:
            raise DigestMismatchError(self.expected, actual)
        return actual


def chain_id(diff_ids: list[Digest]) -> Digest:
    """Docker's chain ID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    if not diff_ids:
        raise ValueError("chain_id of no layers")
    current = diff_ids[0]
    for diff_id in diff_ids[1:]:
        current = Digest.of(f"{current} {diff_id}".encode())
    return current


MAX_LAYER_DEPTH = 125  # Docker's layer store refuses a deeper stack: overlay's lowerdir has to fit a page


def check_layer_depth(layers: int) -> None:
    """Refuse an image deeper than Docker allows, before any of its layers is fetched or stored."""
    if layers > MAX_LAYER_DEPTH:
        raise MaxDepthExceededError()


def chain_ids(diff_ids: list[Digest]) -> list[Digest]:
    """Chain IDs of every prefix of ``diff_ids``: the layer stack, bottom first."""
    out: list[Digest] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else Digest.of(f"{out[-1]} {diff_id}".encode()))
    return out
