"""The registry's storage: a narrow driver interface, the filesystem backend, one checking wrapper.

Every driver speaks in absolute, slash-separated storage paths (``/blobs/...``)
and knows nothing of registries; ``paths.py`` decides where things live. The
interface is deliberately small (read, write whole, append, stat, list, move,
delete, lock) so a second backend (object storage) implements a page of code.
Path checks, metrics and error enrichment live once, in ``CheckedDriver``, not
in every backend. A backend may add optional capabilities (``walk``: a deep
listing at once; ``redirect_url``: a URL clients fetch from directly;
``sweep``: leftovers of dead writers); ``CheckedDriver`` falls back to the
generic behaviour where a backend lacks them. ``storage_s3.py`` is the S3 backend.

Lifecycle and guarantees every backend gives:

- ``put_content`` and ``move`` are atomic: a reader sees the old object or
  the new one, never a partial one; both replace an existing object.
- ``delete`` is recursive and raises ``PathNotFoundError`` when nothing is there.
- ``lock`` is exclusive across every process sharing the storage; it is how two
  servers on one directory serialise work on one upload.

Every call blocks (on the disk, or on the network for S3). The server makes
them from a thread pool (``storage_async.AsyncStorage``), and once that owns a
``CheckedDriver``, the wrapper refuses any call made on an event loop.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from dockyard.content.store import fsync_dir
from dockyard.errors import InvalidArgumentError, NotFoundError, StorageError

# The only characters a storage path may contain: what names, tags, digests and
# upload ids produce. No "..", no empty components, no backslashes.
_PATH_RE = re.compile(r"(/[A-Za-z0-9._:-]+)+")
TMP_GRACE_SECONDS = 3600  # a temporary file older than this belongs to a dead writer


class PathNotFoundError(NotFoundError):
    """Nothing is stored at the path."""

    def __init__(self, path: str, driver: str = "") -> None:
        super().__init__(f"{driver + ': ' if driver else ''}path not found: {path}")
        self.path = path


class InvalidPathError(InvalidArgumentError):
    """A storage path is malformed (traversal, forbidden characters)."""


class BlockingStorageCallError(StorageError):
    """A storage call made on the server's event loop: a bug, since it would stall every other request."""


class StorageDriverError(StorageError):
    """A backend failed; carries the driver, operation and path for the log."""

    def __init__(self, driver: str, op: str, path: str, cause: BaseException) -> None:
        super().__init__(f"{driver}: {op} {path}: {cause}")
        self.driver = driver
        self.op = op
        self.path = path


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    mtime: float
    is_dir: bool


class StorageDriver(Protocol):
    name: str

    def get_content(self, path: str) -> bytes: ...

    def put_content(self, path: str, data: bytes) -> None: ...

    def open_read(self, path: str, offset: int = 0) -> BinaryIO: ...

    def open_append(self, path: str) -> BinaryIO:
        """A file opened for appending (created if absent); callers hold ``lock`` while writing."""
        ...

    def stat(self, path: str) -> FileInfo: ...

    def list(self, path: str) -> list[str]:
        """Names of the direct children of a directory, sorted."""
        ...

    def move(self, source: str, dest: str) -> None: ...

    def delete(self, path: str) -> None: ...

    def touch(self, path: str) -> None:
        """Marks an object as just used (its mtime); GC spares recently used blobs."""
        ...

    def local_path(self, path: str) -> str | None:
        """A local file for the object, so it can be sent with sendfile; None if not local."""
        ...

    def lock(self, path: str) -> AbstractContextManager[None]:
        """Exclusive across processes; released when the context exits or the holder dies."""
        ...


class FilesystemDriver:
    """Objects as files under one root. Temporary files live in ``<root>/tmp``."""

    name = "filesystem"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def _full(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def get_content(self, path: str) -> bytes:
        try:
            return self._full(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise PathNotFoundError(path, self.name) from exc

    def put_content(self, path: str, data: bytes) -> None:
        full = self._full(path)
        temp = self.tmp / f"put-{uuid.uuid4().hex}"
        try:
            # private by default: the storage holds the token signing key too
            with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            full.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, full)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        fsync_dir(full.parent)

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            f = open(self._full(path), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise PathNotFoundError(path, self.name) from exc
        f.seek(offset)
        return f

    def open_append(self, path: str) -> BinaryIO:
        full = self._full(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        return open(full, "ab")

    def stat(self, path: str) -> FileInfo:
        try:
            st = self._full(path).stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFoundError(path, self.name) from exc
        is_dir = os.path.isdir(self._full(path))
        return FileInfo(path, st.st_size, st.st_mtime, is_dir)

    def list(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._full(path)))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFoundError(path, self.name) from exc

    def move(self, source: str, dest: str) -> None:
        target = self._full(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            # appended data may still be in the page cache: make it durable before it becomes visible
            fd = os.open(self._full(source), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self._full(source), target)
        except FileNotFoundError as exc:
            raise PathNotFoundError(source, self.name) from exc
        fsync_dir(target.parent)

    def delete(self, path: str) -> None:
        full = self._full(path)
        try:
            if full.is_dir() and not full.is_symlink():
                shutil.rmtree(full)
            else:
                full.unlink()
        except FileNotFoundError as exc:
            raise PathNotFoundError(path, self.name) from exc

    def touch(self, path: str) -> None:
        try:
            os.utime(self._full(path))
        except FileNotFoundError as exc:
            raise PathNotFoundError(path, self.name) from exc

    def local_path(self, path: str) -> str | None:
        return str(self._full(path))

    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        # flock on a lock file beside the object: held by the open file, so a
        # crashed process releases it, and it works between processes
        # the parent must exist: a lock never resurrects a deleted directory
        try:
            fd = os.open(self._full(path), os.O_RDWR | os.O_CREAT, 0o644)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise PathNotFoundError(path, self.name) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def sweep_tmp(self, now: float | None = None) -> int:
        """Removes temporary files of writers that died; other processes' fresh ones stay."""
        cutoff = (now or time.time()) - TMP_GRACE_SECONDS
        removed = 0
        for entry in os.scandir(self.tmp):
            try:
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


class CheckedDriver:
    """Wraps any driver: rejects bad paths, counts operations and bytes, names the driver in errors."""

    def __init__(self, inner: StorageDriver) -> None:
        self.inner = inner
        self.name = inner.name
        self.ops: Counter[str] = Counter()
        self.bytes_read = 0
        self.bytes_written = 0
        self._counting = threading.Lock()  # calls come from many threads of the server's pool
        self._loop_guard = False

    def forbid_event_loop(self) -> None:
        """From now on a call on a thread running an event loop fails: the server's async boundary is bypassed."""
        self._loop_guard = True

    def _check(self, op: str, path: str, io: bool = True) -> None:
        if not _PATH_RE.fullmatch(path) or any(part in (".", "..") for part in path.split("/")):
            raise InvalidPathError(f"{self.name}: {op}: invalid storage path {path!r}")
        if io and self._loop_guard and _on_event_loop():
            raise BlockingStorageCallError(f"{self.name}: {op} {path}: storage called on the event loop")
        with self._counting:
            self.ops[op] += 1

    def _wrap(self, op: str, path: str, exc: OSError) -> StorageDriverError:
        if exc.errno == errno.ENOSPC:
            return StorageDriverError(self.name, op, path, OSError(exc.errno, "no space left on device"))
        return StorageDriverError(self.name, op, path, exc)

    def get_content(self, path: str) -> bytes:
        self._check("get_content", path)
        try:
            data = self.inner.get_content(path)
        except OSError as exc:
            raise self._wrap("get_content", path, exc) from exc
        with self._counting:
            self.bytes_read += len(data)
        return data

    def put_content(self, path: str, data: bytes) -> None:
        self._check("put_content", path)
        try:
            self.inner.put_content(path, data)
        except OSError as exc:
            raise self._wrap("put_content", path, exc) from exc
        with self._counting:
            self.bytes_written += len(data)

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        self._check("open_read", path)
        try:
            return self.inner.open_read(path, offset)
        except OSError as exc:
            raise self._wrap("open_read", path, exc) from exc

    def open_append(self, path: str) -> BinaryIO:
        self._check("open_append", path)
        try:
            return self.inner.open_append(path)
        except OSError as exc:
            raise self._wrap("open_append", path, exc) from exc

    def stat(self, path: str) -> FileInfo:
        self._check("stat", path)
        try:
            return self.inner.stat(path)
        except OSError as exc:
            raise self._wrap("stat", path, exc) from exc

    def list(self, path: str) -> list[str]:
        self._check("list", path)
        try:
            return self.inner.list(path)
        except OSError as exc:
            raise self._wrap("list", path, exc) from exc

    def move(self, source: str, dest: str) -> None:
        self._check("move", source)
        self._check("move", dest)
        try:
            self.inner.move(source, dest)
        except OSError as exc:
            raise self._wrap("move", source, exc) from exc

    def delete(self, path: str) -> None:
        self._check("delete", path)
        try:
            self.inner.delete(path)
        except OSError as exc:
            raise self._wrap("delete", path, exc) from exc

    def touch(self, path: str) -> None:
        self._check("touch", path)
        try:
            self.inner.touch(path)
        except OSError as exc:
            raise self._wrap("touch", path, exc) from exc

    def local_path(self, path: str) -> str | None:
        self._check("local_path", path, io=False)
        return self.inner.local_path(path)

    def walk(self, path: str) -> list[FileInfo]:
        """Every object under ``path``, at any depth: one listing where the backend has it (S3)."""
        self._check("walk", path)
        walk = getattr(self.inner, "walk", None)
        if walk is not None:
            try:
                return walk(path)
            except OSError as exc:
                raise self._wrap("walk", path, exc) from exc
        out = []
        for name in self.list_or_empty(path):
            try:
                info = self.stat(f"{path}/{name}")
            except PathNotFoundError:
                continue  # deleted meanwhile
            out += self.walk(info.path) if info.is_dir else [info]
        return out

    def redirect_url(self, path: str) -> str | None:
        """A URL clients may fetch the object from directly (an object store's presigned URL), if any."""
        self._check("redirect_url", path, io=False)  # presigning is local
        redirect = getattr(self.inner, "redirect_url", None)
        return redirect(path) if redirect is not None else None

    def sweep(self, cutoff: float) -> list[str]:
        """Backend leftovers of writers that died before ``cutoff`` (an object store's multipart uploads)."""
        sweep = getattr(self.inner, "sweep", None)
        try:
            return sweep(cutoff) if sweep is not None else []
        except OSError as exc:
            raise self._wrap("sweep", "/", exc) from exc

    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        self._check("lock", path)
        with self.inner.lock(path):
            yield

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except PathNotFoundError:
            return False
        return True

    def list_or_empty(self, path: str) -> list[str]:
        try:
            return self.list(path)
        except PathNotFoundError:
            return []

    def delete_if_exists(self, path: str) -> bool:
        try:
            self.delete(path)
        except PathNotFoundError:
            return False
        return True


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def open_filesystem(root: Path) -> CheckedDriver:
    """The default storage: a filesystem driver under ``root``, checked."""
    driver = FilesystemDriver(root)
    driver.sweep_tmp()
    return CheckedDriver(driver)
