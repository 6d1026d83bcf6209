"""The content store.

Layout: ``<root>/blobs/<algorithm>/<hex>`` for committed blobs and
``<root>/ingest/`` for writes in progress. A blob becomes visible only by
``os.replace`` of a fully written, fsynced and verified temporary file, so a
reader never sees a partial blob and a crash leaves only ingest leftovers,
which ``sweep`` removes. Two writers of the same blob both succeed: the
second rename replaces identical bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.errors import BlobNotFoundError, InvalidContentError, StorageError
from dockyard.oci.digest import Digest, Digester

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Ingest:
    """One blob being written. Use as a context manager; ``commit`` makes it visible.

    Leaving the context without ``commit`` discards the partial file.
    """

    def __init__(self, store: ContentStore, expected: Digest | None, expected_size: int | None) -> None:
        self._store = store
        self.expected = expected
        self.expected_size = expected_size
        self.digester = Digester(expected.algorithm if expected else "sha256")
        import tempfile  # writers only: readers start without it

        fd, name = tempfile.mkstemp(dir=store.ingest_dir, prefix="blob-")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._done = False

    def write(self, data: bytes | memoryview) -> None:
        if self.expected_size is not None and self.digester.size + len(data) > self.expected_size:
            raise InvalidContentError(f"blob is larger than the declared {self.expected_size} bytes")
        self.digester.update(data)
        try:
            self._file.write(data)
        except OSError as exc:
            raise StorageError(f"write blob: {exc.strerror}") from exc

    def commit(self) -> Digest:
        """Verify size and digest, then publish atomically. Idempotent per content."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StorageError(f"write blob: {exc.strerror}") from exc
        self._file.close()
        actual = self.digester.digest()
        if self.expected_size is not None and self.digester.size != self.expected_size:
            raise InvalidContentError(
                f"blob size mismatch: expected {self.expected_size} bytes, got {self.digester.size}"
            )
        if self.expected is not None and actual != self.expected:
            raise InvalidContentError(f"digest mismatch: expected {self.expected}, got {actual}")
        final = self._store.path(actual)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.path, final)
        fsync_dir(final.parent)
        self._done = True
        return actual

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._file.closed:
            self._file.close()
        if not self._done:
            self.path.unlink(missing_ok=True)


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ingest_dir = root / "ingest"
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"blob {digest} not found") from exc

    def open(self, digest: Digest) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise BlobNotFoundError(f"blob {digest} not found") from exc

    def read(self, digest: Digest) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def ingest(self, expected: Digest | None = None, expected_size: int | None = None) -> Ingest:
        return Ingest(self, expected, expected_size)

    def write(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = expected or Digest.of(data)
        if self.exists(digest):
            return digest
        with self.ingest(expected, len(data)) as ingest:
            ingest.write(data)
            return ingest.commit()

    def copy_from(self, source: BinaryIO, expected: Digest | None = None, expected_size: int | None = None) -> Digest:
        with self.ingest(expected, expected_size) as ingest:
            while chunk := source.read(1 << 20):
                ingest.write(chunk)
            return ingest.commit()

    def delete(self, digest: Digest) -> None:
        self.path(digest).unlink(missing_ok=True)

    def walk(self) -> Iterator[Digest]:
        base = self.root / "blobs"
        if not base.is_dir():
            return
        for algorithm in os.listdir(base):
            for name in os.listdir(base / algorithm):
                yield Digest(algorithm, name)

    def sweep(self) -> None:
        """Remove ingest leftovers of crashed writers; call only while no other process runs."""
        for name in os.listdir(self.ingest_dir):
            (self.ingest_dir / name).unlink(missing_ok=True)
