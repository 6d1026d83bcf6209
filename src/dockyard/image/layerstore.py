"""What the image model needs from the layer store, as a protocol.

``image`` sits below ``storage`` in the module map, so it defines this seam
and ``storage.layers`` implements it; ``engine`` connects the two.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Protocol

from dockyard.oci.digest import Digest


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A layer stored inside a larger file (an image archive). Picklable, so
    a worker process can open it itself and extract in parallel."""

    path: str
    offset: int
    size: int

    def open(self) -> BinaryIO:
        f = open(self.path, "rb")
        f.seek(self.offset)
        return _Limited(f, self.size)  # type: ignore[return-value]


class _Limited(io.RawIOBase):
    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        n = self._f.readinto(view)  # type: ignore[attr-defined]
        self._left -= n or 0
        return n or 0

    def close(self) -> None:
        self._f.close()
        super().close()


class Openable(Protocol):
    """A picklable source a worker process can open itself (a file slice, a URL):
    jobs whose sources all are such extract in parallel processes."""

    def open(self) -> BinaryIO: ...


@dataclass(slots=True)
class LayerJob:
    """One layer to store: a (possibly compressed) tar and the diff ID it must have.

    ``source`` is an Openable or a plain callable (a stream only this process can read)."""

    source: Openable | Callable[[], BinaryIO]
    expected_diff_id: Digest | None = None
    blob_digest: Digest | None = None  # of the bytes as stored (compressed), checked too when given


@dataclass(frozen=True, slots=True)
class Layer:
    """A stored layer: its chain and diff IDs, its size and its tar's size."""

    chain_id: Digest
    diff_id: Digest
    size: int
    tar_size: int


@dataclass(slots=True)
class StagedLayers:
    """Layers extracted but not yet visible; ``layers`` is the full stack, bottom first."""

    layers: list[Layer] = field(default_factory=list)
    new: dict[Digest, str] = field(default_factory=dict)  # chain ID -> cache ID of layers to commit
    scratch: list[str] = field(default_factory=list)  # cache IDs being extracted


class LayerStore(Protocol):
    """Layers by chain ID. ``stage`` may take long and runs outside any
    transaction; ``commit`` runs inside the caller's metadata transaction and
    is idempotent for layers another process committed meanwhile; ``discard``
    undoes a stage that was not committed."""

    def get(self, chain_id: Digest) -> Layer | None: ...

    def stack(self, chain_id: Digest) -> list[Layer]: ...

    def stage(self, parent: Digest | None, jobs: list[LayerJob], progress: Callable[[str, int], None] | None = None) -> StagedLayers: ...

    def commit(self, staged: StagedLayers) -> None: ...

    def discard(self, staged: StagedLayers) -> None: ...

    def export(self, chain_id: Digest, write: Callable[[bytes], object]) -> int: ...

    def cleanup(self, removed_cache_ids: list[str]) -> None: ...
