"""The compressed blob to push for a layer: one a pull brought, or a fresh fast gzip.

A layer pulled earlier has its compressed blob in the content store and its
digest recorded against the diff ID; it is pushed as is (same digest as the
source registry, so HEAD and cross-repository mounts can find it). A layer
made here (import, load, build) is exported as its exact tar, checked
against its diff ID, gzipped with ISA-L at level 1 (several times faster
than Docker's default level), committed to the content store, and the pair
recorded so the next push reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.content.store import ContentStore
from dockyard.errors import DigestMismatchError
from dockyard.image.layerstore import Layer, LayerStore
from dockyard.metadata.db import Database
from dockyard.oci.digest import Digest, Digester
from dockyard.oci.mediatype import MediaType

GZIP_LEVEL = 1
BUFFER = 1 << 20


@dataclass(frozen=True, slots=True)
class Blob:
    digest: Digest
    media_type: str
    size: int


def known_blobs(db: Database, layer: Layer) -> list[Blob]:
    """Compressed blobs recorded for the layer's diff ID, most recently recorded last."""
    return [Blob(Digest.parse(d), m, s) for d, m, s in db.blob_for_diff_id(str(layer.diff_id))]


def local_blob(content: ContentStore, candidates: list[Blob]) -> Blob | None:
    for blob in candidates:
        if content.exists(blob.digest) and content.size(blob.digest) == blob.size:
            return blob
    return None


class _GzipSink:
    """Buffers the layer tar, gzips it into a content ingest, and hashes the tar for its diff ID."""

    def __init__(self, ingest: object) -> None:
        from isal import isal_zlib

        self._ingest = ingest
        self._compressor = isal_zlib.compressobj(GZIP_LEVEL, isal_zlib.DEFLATED, 31)  # 31: gzip framing
        self._buffer = bytearray()
        self.tar = Digester()

    def write(self, data: bytes) -> None:
        self.tar.update(data)
        self._buffer += data
        if len(self._buffer) >= BUFFER:
            self._flush()

    def _flush(self) -> None:
        out = self._compressor.compress(bytes(self._buffer))
        self._buffer.clear()
        if out:
            self._ingest.write(out)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self._flush()
        self._ingest.write(self._compressor.flush())  # type: ignore[attr-defined]


def compress_layer(layers: LayerStore, content: ContentStore, db: Database, layer: Layer) -> Blob:
    """Export, check, gzip and keep the layer's blob; record the digest <-> diff ID pair."""
    with content.ingest() as ingest:
        sink = _GzipSink(ingest)
        layers.export(layer.chain_id, sink.write)
        sink.finish()
        if sink.tar.digest() != layer.diff_id:
            raise DigestMismatchError(layer.diff_id, sink.tar.digest())
        size = ingest.digester.size
        digest = ingest.commit()
    blob = Blob(digest, MediaType.DOCKER_LAYER_GZIP, size)
    with db.transaction():
        db.record_blob(str(digest), str(layer.diff_id), blob.media_type, size)
    return blob
