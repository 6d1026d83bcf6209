"""Blob downloads that survive the process, are shared between processes, and stream.

A blob is written to ``<downloads>/<alg>/<hex>.partial`` as it arrives. The
file is named by digest, so a blob's byte at offset N is the same whoever
wrote it: a later pull (after Ctrl-C or kill -9) continues from the file's
size with a ``Range`` request, and a 200 answer to that request is simply
skipped up to the offset. One process downloads a blob at a time: it holds
``flock`` on ``<hex>.lock``; a second process waits for the lock and meanwhile
reads the growing file. Once every byte is there and the digest holds, the
file is fsynced and renamed into the content store (the compressed blob is
kept so a later push needs no recompression).

``GrowingBlob`` is the picklable layer source handed to the layer store: a
worker process opens it and reads the partial file as it grows, so a layer
is hashed, decompressed and extracted while it downloads. A downloader that
fails leaves a marker naming the error, which the reader raises; a reader
whose pulling process died stops instead of waiting forever.
"""

from __future__ import annotations

import fcntl
import io
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from dockyard.content.store import fsync_dir
from dockyard.errors import (
    DigestMismatchError,
    InvalidContentError,
    SizeMismatchError,
    StorageError,
)
from dockyard.oci.digest import Digest, Digester
from dockyard.registry.client.errors import ConnectionFailedError, DownloadFailedError
from dockyard.registry.client.repository import Repository
from dockyard.registry.client.transport import CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT

CHUNK = 1 << 20
STALE_AFTER = 7 * 24 * 3600.0  # partial downloads nobody resumed for this long are dropped
RESUME_ATTEMPTS = 5  # connection drops mid-blob resumed this many times per blob
RESUME_BACKOFF_MAX = 5.0  # seconds between two resumes, at most


def stall_limit(read_timeout: float) -> float:
    """How long a reader waits for the file to grow before it gives up on its downloader.

    Longer than the widest gap of a download that still succeeds: a body read that times out, the
    back-off before the resume, a new connection and the wait for its first byte. A downloader that
    fails writes its error for the reader well before, so this only ends a downloader that hangs.
    """
    return read_timeout + RESUME_BACKOFF_MAX + CONNECT_TIMEOUT + read_timeout


def partial_path(downloads: Path, digest: Digest) -> Path:
    return downloads / digest.algorithm / f"{digest.hex}.partial"


def lock_path(downloads: Path, digest: Digest) -> Path:
    return downloads / digest.algorithm / f"{digest.hex}.lock"


def sweep_stale(downloads: Path, max_age: float = STALE_AFTER) -> None:
    """Drop partial downloads abandoned long ago; a blob whose lock is held is in use and kept."""
    cutoff = time.time() - max_age
    for partial in downloads.glob("*/*.partial"):
        try:
            if partial.stat().st_mtime > cutoff:
                continue
            lock = partial.with_suffix(".lock")
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        partial.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
        os.close(fd)


@dataclass(frozen=True, slots=True)
class GrowingBlob:
    """A layer blob that is (or will be) downloading; ``open`` reads it as it grows."""

    partial: str
    final: str
    failed: str  # the downloader of this pull writes its error here
    size: int
    owner_pid: int
    stall_seconds: float = stall_limit(DEFAULT_READ_TIMEOUT)  # see stall_limit

    def open(self) -> BinaryIO:
        return io.BufferedReader(_TailReader(self), CHUNK)  # type: ignore[return-value]


class _TailReader(io.RawIOBase):
    def __init__(self, blob: GrowingBlob) -> None:
        self.blob = blob
        self.pos = 0
        self.fd = -1
        self._last_growth = time.monotonic()
        self._open_current()

    def readable(self) -> bool:
        return True

    def _open_current(self) -> bool:
        """(Re)open whichever file holds the blob now: the finished one, else the partial."""
        for path in (self.blob.final, self.blob.partial):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            if self.fd >= 0:
                os.close(self.fd)
            self.fd = fd
            return True
        return False

    def _replaced(self) -> bool:
        """True when the file we read is no longer the one the downloader writes."""
        if self.fd < 0:
            return True
        ours = os.fstat(self.fd).st_ino
        for path in (self.blob.final, self.blob.partial):
            try:
                return os.stat(path).st_ino != ours
            except FileNotFoundError:
                continue
        return False

    def _check_alive(self) -> None:
        try:
            message = Path(self.blob.failed).read_text()
        except FileNotFoundError:
            message = None
        if message is not None:
            raise DownloadFailedError(message or "the download failed")
        owner = self.blob.owner_pid
        if os.getpid() != owner and os.getppid() != owner:
            raise DownloadFailedError("the pulling process exited before the download finished")
        if time.monotonic() - self._last_growth > self.blob.stall_seconds:
            raise DownloadFailedError(f"no data arrived for {self.blob.stall_seconds:.0f}s")

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.blob.size - self.pos)
        if want <= 0:
            return 0
        delay = 0.001
        while True:
            if self.fd >= 0:
                data = os.pread(self.fd, want, self.pos)
                if data:
                    n = len(data)
                    buffer[:n] = data
                    self.pos += n
                    self._last_growth = time.monotonic()
                    return n
            if self._replaced() and self._open_current():
                continue  # same digest, same bytes at the same offsets
            self._check_alive()
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()


class _BlobLock:
    """flock on the blob's lock file; re-checked against the path so an unlinked lock is never trusted."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def acquire(self, on_wait: Callable[[], None]) -> None:
        waited = False
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    on_wait()
                    waited = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    self.fd = fd
                    return
            except FileNotFoundError:
                pass
            os.close(fd)  # the holder removed the lock file when it finished: take the new one

    def release(self) -> None:
        """Removes the lock file, whether the download finished or failed: a later pull resumes from the
        partial file, and a waiter holding the old file sees it unlinked and takes a new one."""
        self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


class DownloadCancelledError(DownloadFailedError):
    """The pull gave up on this download because something else failed."""


Progress = Callable[[str, int, int], None]  # (status, current bytes, total bytes)


class BlobDownload:
    """Downloads one blob into the content store, resuming and sharing as the module says."""

    def __init__(self, repo: Repository, digest: Digest, size: int, downloads: Path, final: Path, failed: Path) -> None:
        self.repo = repo
        self.digest = digest
        self.size = size
        self.partial = partial_path(downloads, digest)
        self.lock = _BlobLock(lock_path(downloads, digest))
        self.final = final
        self.failed = failed
        self.cancel = threading.Event()
        self.resumed_from = 0  # bytes found in a partial file (tests and progress)

    def source(self) -> GrowingBlob:
        stall = stall_limit(self.repo.registry.transport.read_timeout)
        return GrowingBlob(str(self.partial), str(self.final), str(self.failed), self.size, os.getpid(), stall)

    def run(self, progress: Progress) -> None:
        """Blocking; call in a thread. On failure the marker tells readers why."""
        try:
            self._run(progress)
        except BaseException as exc:
            self.failed.write_text(str(exc) or type(exc).__name__)
            raise

    def _run(self, progress: Progress) -> None:
        if self.final.exists():
            progress("Download complete", self.size, self.size)
            return
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire(lambda: progress("Waiting", 0, self.size))
        try:
            if self.final.exists():  # another process finished it while we waited
                progress("Download complete", self.size, self.size)
                return
            self._download(progress)
        finally:
            self.lock.release()

    def _download(self, progress: Progress) -> None:
        with open(self.partial, "ab+") as out:
            digester = self._rehash(out)
            self.resumed_from = digester.size
            failures = 0
            while digester.size < self.size:
                try:
                    self._fetch_from(out, digester, progress)
                except ConnectionFailedError:
                    failures += 1
                    if self.cancel.is_set():
                        raise DownloadCancelledError("cancelled") from None
                    if failures > RESUME_ATTEMPTS:
                        raise
                    time.sleep(min(0.5 * 2 ** (failures - 1), RESUME_BACKOFF_MAX))
            progress("Verifying Checksum", self.size, self.size)
            actual = digester.digest()
            if actual != self.digest:
                self.partial.unlink(missing_ok=True)
                raise DigestMismatchError(self.digest, actual)
            out.flush()
            os.fsync(out.fileno())
        self.final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial, self.final)
        fsync_dir(self.final.parent)
        progress("Download complete", self.size, self.size)

    def _rehash(self, out: BinaryIO) -> Digester:
        """Hash what an earlier download left; a file longer than the blob is dropped."""
        digester = Digester(self.digest.algorithm)
        out.seek(0, os.SEEK_END)
        if out.tell() > self.size:
            out.truncate(0)
        out.seek(0)
        while chunk := out.read(CHUNK):
            digester.update(chunk)
        return digester

    def _fetch_from(self, out: BinaryIO, digester: Digester, progress: Progress) -> None:
        offset = digester.size
        response = self.repo.open_blob(self.digest, offset)
        with response:
            skip = offset if response.status == 200 else 0  # the registry ignored Range: same bytes again
            if response.status == 206 and not response.header("Content-Range").startswith(f"bytes {offset}-"):
                raise InvalidContentError(f"blob {self.digest}: the registry answered another range")
            last_report = 0.0
            while chunk := response.read(CHUNK):
                if self.cancel.is_set():
                    raise DownloadCancelledError("cancelled")
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                    if not chunk:
                        continue
                if digester.size + len(chunk) > self.size:
                    self.partial.unlink(missing_ok=True)
                    raise SizeMismatchError(self.size, digester.size + len(chunk))
                _write_all(out, chunk)
                digester.update(chunk)
                now = time.monotonic()
                if now - last_report > 0.1:
                    progress("Downloading", digester.size, self.size)
                    last_report = now
        if digester.size < self.size:
            raise ConnectionFailedError(f"blob {self.digest}: the connection closed at {digester.size} of {self.size} bytes")


def _write_all(out: BinaryIO, chunk: bytes) -> None:
    try:
        out.write(chunk)
        out.flush()  # readers in other processes see the file, not our buffer
    except OSError as exc:
        raise StorageError(f"write {getattr(out, 'name', 'blob')}: {exc.strerror}") from exc
