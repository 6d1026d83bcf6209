"""The S3 storage backend: the driver interface of ``storage.py`` over an S3 bucket.

Storage paths map to keys (``/blobs/x/data`` -> ``[prefix/]blobs/x/data``);
"directories" are key prefixes. Blobs are written once (a finished upload is
copied to its content address, a server-side copy); manifests, tags, links and
session files are small objects, each written by one atomic PUT.

Appendable objects (upload sessions). An upload's data is a multipart upload
plus a *state object* at the data key itself: its body is the tail (bytes not
yet in a part, always shorter than a part), its metadata the total size, the
multipart upload id and the number of committed parts. ``open_append`` gives a
writer that cuts the stream into parts of ``part_size`` (a bounded buffer, so a
10 GB layer never sits in memory or on local disk), uploads each part from a
worker thread while the next one arrives, and at ``flush`` commits the new
state with a conditional PUT (``If-Match`` on the state it started from): a
chunk is acknowledged only once its state object is durable, and any replica
can continue from it. A chunk that fails midway is never committed; parts it
uploaded are overwritten by the next chunk or left out at completion, which
takes parts 1..N only. Reading an appendable object (a digest check where no
hash state was saved) or moving it first *seals* it: the tail becomes the last part
and the multipart upload completes onto the data key, replacing the state.

Digests (checked by ``uploads.py`` at commit, before anything is visible).
Chunks are hashed as they stream through, and after each acknowledged chunk
the SHA-256 state (OpenSSL's context, ``hashstate.py``) is saved as a small
object in the session, so the replica that takes the next chunk or the final
PUT continues the hash without reading a byte back. Only where a replica died
between a chunk and its state does the finishing replica seal the upload and
hash it by reading it back once (at the gateway's read speed, ~500 MB/s here).
A mismatch aborts the multipart upload (or deletes the sealed object): nothing
becomes a blob, no parts are left behind.

Locks are leases: an object created with ``If-None-Match: *`` naming its
holder and expiry, renewed by a thread while held (``If-Match``), taken over
with ``If-Match`` on the stale lease once it expires, so a killed replica holds
a session for ``lock_ttl`` seconds at most.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import BinaryIO

from dockyard.registry.server.s3client import ObjectInfo, S3Client, S3Config, S3Error
from dockyard.registry.server.storage import FileInfo, PathNotFoundError

_APPEND = "dockyard-append"  # metadata marking a state object
_COPY_LIMIT = 5 << 30  # larger objects are copied part by part
_COPY_PART = 1 << 30
_LOCK_POLL = (0.02, 0.5)  # first and longest wait between attempts at a held lock
_LOCK_TIMEOUT = 300.0


def _key(path: str) -> str:
    return path.lstrip("/")


def _missing(exc: S3Error) -> bool:
    return exc.status == 404


class S3Driver:
    name = "s3"

    def __init__(self, config: S3Config, lock_ttl: float = 5.0) -> None:
        self.client = S3Client(config)
        self.config = config
        self.lock_ttl = lock_ttl
        self.parts = ThreadPoolExecutor(max_workers=8, thread_name_prefix="s3-part")

    # plain objects ---------------------------------------------------------

    def get_content(self, path: str) -> bytes:
        try:
            return self.client.get(_key(path))
        except S3Error as exc:
            if _missing(exc):
                raise PathNotFoundError(path, self.name) from exc
            raise

    def put_content(self, path: str, data: bytes) -> None:
        self.client.put(_key(path), data)

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        key = _key(path)
        try:
            response = self.client.open(key, offset)
            if _APPEND not in _meta(response.headers):
                return response  # type: ignore[return-value]
            response.close()  # unread: the connection cannot go back to the pool
            self._seal(key)
            return self.client.open(key, offset)  # type: ignore[return-value]
        except S3Error as exc:
            if _missing(exc):
                raise PathNotFoundError(path, self.name) from exc
            raise

    def stat(self, path: str) -> FileInfo:
        key = _key(path)
        try:
            info = self.client.head(key)
        except S3Error as exc:
            if not _missing(exc):
                raise
        else:
            return FileInfo(path, _logical_size(info), info.mtime, False)
        objects, _ = self.client.list(key.rstrip("/") + "/", delimiter="", limit=100)
        if not objects:
            raise PathNotFoundError(path, self.name)
        return FileInfo(path, 0, max(o.mtime for o in objects), True)

    def list(self, path: str) -> list[str]:
        prefix = _key(path).rstrip("/") + "/" if _key(path) else ""
        objects, prefixes = self.client.list(prefix)
        names = {o.key[len(prefix):] for o in objects} | {p[len(prefix):].rstrip("/") for p in prefixes}
        names.discard("")
        if not names:
            raise PathNotFoundError(path, self.name)
        return sorted(names)

    def walk(self, path: str) -> list[FileInfo]:
        objects, _ = self.client.list(_key(path).rstrip("/") + "/", delimiter="")
        return [FileInfo("/" + o.key, o.size, o.mtime, False) for o in objects]

    def move(self, source: str, dest: str) -> None:
        src, dst = _key(source), _key(dest)
        info = self._head(source)
        if _APPEND in info.metadata:
            self._seal(src)
            info = self._head(source)
        if dest.startswith("/blobs/") and self._exists(dst):
            pass  # content-addressed: the same bytes are already there (another replica won the race)
        elif info.size > _COPY_LIMIT:
            self._copy_large(src, dst, info.size)
        else:
            self.client.copy(src, dst)
        self.client.delete(src)

    def delete(self, path: str) -> None:
        key = _key(path)
        found = False
        try:
            info = self.client.head(key)
            found = True
            self._abort_session(key, info)
            self.client.delete(key)
        except S3Error as exc:
            if not _missing(exc):
                raise
        objects, _ = self.client.list(key.rstrip("/") + "/", delimiter="")
        if objects:
            found = True
            self.client.delete_many([o.key for o in objects])
        if "/_uploads/" in f"/{key}/":  # parts of sessions (and of writers that died) go too
            self._abort_under(key)
        if not found:
            raise PathNotFoundError(path, self.name)

    def touch(self, path: str) -> None:
        key = _key(path)
        info = self._head(path)
        if info.size > _COPY_LIMIT:
            self._copy_large(key, key, info.size)
        else:
            self.client.copy(key, key, metadata=dict(info.metadata) | {"touched": f"{time.time():.3f}"})

    def local_path(self, path: str) -> str | None:
        return None

    def redirect_url(self, path: str) -> str | None:
        return self.client.presign_get(_key(path)) if self.config.redirect else None

    # appendable objects ----------------------------------------------------

    def open_append(self, path: str) -> BinaryIO:
        return _Appender(self, _key(path))  # type: ignore[return-value]

    def _seal(self, key: str) -> None:
        """Completes an upload's multipart upload onto its key: the state object becomes the data."""
        info, tail = self._state(key)
        upload_id, parts = info.metadata.get("mpu", ""), int(info.metadata.get("parts", "0"))
        if not upload_id:
            self.client.put(key, tail)
            return
        if tail or parts == 0:
            self.client.upload_part(key, upload_id, parts + 1, tail)
            parts += 1
        uploaded = self.client.list_parts(key, upload_id)
        self.client.complete_multipart(key, upload_id, [(n, uploaded[n][0]) for n in range(1, parts + 1)])

    def _state(self, key: str) -> tuple[ObjectInfo, bytes]:
        """A session's state and tail; a sealed session's data only if it is small (else an error)."""
        response = self.client.request("GET", key, stream=True)
        meta = _meta(response.headers)
        if _APPEND not in meta and int(response.headers.get("Content-Length", 0)) >= self.config.part_size:
            response.close()
            raise S3Error(409, "InvalidState", "upload already sealed", key)
        data = response.read()
        response.release_conn()
        info = ObjectInfo(key, int(meta.get("size", len(data))), 0.0, response.headers.get("ETag", "").strip('"'), meta)
        return info, bytes(data)

    def _abort_session(self, key: str, info: ObjectInfo) -> None:
        if info.metadata.get("mpu"):
            self.client.abort_multipart(key, info.metadata["mpu"])

    def _abort_under(self, prefix: str) -> None:
        for key, upload_id, _ in self.client.list_multipart(prefix):
            self.client.abort_multipart(key, upload_id)

    def sweep(self, cutoff: float) -> list[str]:
        """Aborts multipart uploads begun before ``cutoff`` that no live session owns (writers that died)."""
        aborted = []
        for key, upload_id, initiated in self.client.list_multipart(""):
            if initiated >= cutoff:
                continue
            try:
                owner = self.client.head(key).metadata.get("mpu")
            except S3Error as exc:
                if not _missing(exc):
                    raise
                owner = None
            if owner != upload_id:
                self.client.abort_multipart(key, upload_id)
                aborted.append(key)
        return aborted

    def _copy_large(self, src: str, dst: str, size: int) -> None:
        upload_id = self.client.create_multipart(dst)
        try:
            parts = []
            for number, first in enumerate(range(0, size, _COPY_PART), 1):
                last = min(first + _COPY_PART, size) - 1
                parts.append((number, self.client.copy_part(dst, upload_id, number, src, first, last)))
            self.client.complete_multipart(dst, upload_id, parts)
        except BaseException:
            self.client.abort_multipart(dst, upload_id)
            raise

    # locks -----------------------------------------------------------------

    @contextmanager
    def lock(self, path: str) -> Iterator[None]:
        # unlike a lock file, a lease exists only while held: it never keeps a deleted session alive
        lease = _Lease(self.client, _key(path), self.lock_ttl)
        lease.acquire()
        try:
            yield
        finally:
            lease.release()

    # helpers ---------------------------------------------------------------

    def _head(self, path: str) -> ObjectInfo:
        try:
            return self.client.head(_key(path))
        except S3Error as exc:
            if _missing(exc):
                raise PathNotFoundError(path, self.name) from exc
            raise

    def _exists(self, key: str) -> bool:
        try:
            self.client.head(key)
        except S3Error as exc:
            if _missing(exc):
                return False
            raise
        return True


def _meta(headers: object) -> dict[str, str]:
    items = headers.items()  # type: ignore[attr-defined]
    return {k.lower()[len("x-amz-meta-"):]: v for k, v in items if k.lower().startswith("x-amz-meta-")}


def _logical_size(info: ObjectInfo) -> int:
    return int(info.metadata["size"]) if _APPEND in info.metadata else info.size


class _Appender:
    """A writer onto an upload's state object and multipart upload (see the module docstring)."""

    def __init__(self, driver: S3Driver, key: str) -> None:
        self.driver = driver
        self.client = driver.client
        self.key = key
        self.part_size = driver.config.part_size
        self.etag: str | None = None  # of the state this writer started from; None: no state yet
        self.upload_id = ""
        self.parts = 0
        self.tail = bytearray()
        try:
            info, tail = driver._state(key)
        except S3Error as exc:
            if not _missing(exc):
                raise
        else:
            if _APPEND not in info.metadata:  # sealed, and small: its bytes become the tail again
                info = ObjectInfo(key, len(tail), 0.0, info.etag, {_APPEND: "1", "size": str(len(tail))})
            self.etag = info.etag
            self.upload_id = info.metadata.get("mpu", "")
            self.parts = int(info.metadata.get("parts", "0"))
            self.tail = bytearray(tail)
        self.size = int(info.metadata.get("size", "0")) if self.etag is not None else 0
        self._committed = (self.size, self.parts, bytes(self.tail))
        self._pending: Future[str] | None = None
        self._dirty = self.etag is None

    def write(self, data: bytes) -> int:
        self.tail += data
        self.size += len(data)
        self._dirty = True
        if len(self.tail) >= self.part_size:
            self._wait()  # at most one part in flight: memory stays bounded
            if not self.upload_id:
                self.upload_id = self.client.create_multipart(self.key)
            self.parts += 1
            part, self.tail = bytes(self.tail), bytearray()
            self._pending = self.driver.parts.submit(self.client.upload_part, self.key, self.upload_id, self.parts, part)
        return len(data)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def flush(self) -> None:
        if not self._dirty:
            return
        self._wait()
        meta = {_APPEND: "1", "size": str(self.size), "parts": str(self.parts), "mpu": self.upload_id}
        # If-Match: nobody else changed the session since this writer read it
        condition = {"If-Match": self.etag} if self.etag is not None else {"If-None-Match": "*"}
        try:
            self.etag = self.client.put(self.key, bytes(self.tail), meta, condition)
        except S3Error as exc:
            if exc.status == 412:
                raise S3Error(409, "ConcurrentUpdate", "the upload session changed under this writer", self.key) from exc
            raise
        if not self.etag:
            self.etag = self.client.head(self.key).etag
        self._committed = (self.size, self.parts, bytes(self.tail))
        self._dirty = False

    def truncate(self, size: int | None = None) -> int:
        """Drops what this writer has not flushed; only the committed size is a valid target."""
        if self._pending is not None:
            self._pending.cancel()
            try:
                self._wait()
            except (S3Error, CancelledError):  # a part of the chunk being dropped anyway
                pass
        committed, self.parts, tail = self._committed
        if size is not None and size != committed:
            raise S3Error(400, "InvalidRange", f"cannot cut an upload back to {size} (committed: {committed})", self.key)
        self.size, self.tail, self._dirty = committed, bytearray(tail), self.etag is None
        return committed

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> _Appender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Lease:
    """One holder of a lock object (see the module docstring)."""

    def __init__(self, client: S3Client, key: str, ttl: float) -> None:
        self.client = client
        self.key = key
        self.ttl = ttl
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex}"
        self.etag = ""
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": time.time() + self.ttl}).encode()

    def acquire(self) -> None:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        wait = _LOCK_POLL[0]
        while True:
            if self._try():
                self._renewer = threading.Thread(target=self._renew, name="s3-lease", daemon=True)
                self._renewer.start()
                return
            if time.monotonic() > deadline:
                raise S3Error(503, "LockTimeout", "lock held too long by another server", self.key)
            time.sleep(wait)
            wait = min(wait * 2, _LOCK_POLL[1])

    def _try(self) -> bool:
        try:
            self.etag = self.client.put(self.key, self._body(), headers={"If-None-Match": "*"})
            return True
        except S3Error as exc:
            if exc.status not in (409, 412):
                raise
        try:  # held: take it over if its holder stopped renewing
            response = self.client.request("GET", self.key)
            held = json.loads(response.data)
            if float(held.get("expires", 0)) > time.time():
                return False
            stale = response.headers.get("ETag", "").strip('"')
            self.etag = self.client.put(self.key, self._body(), headers={"If-Match": stale})
            return True
        except S3Error as exc:
            if exc.status in (404, 409, 412):
                return False  # released or taken meanwhile: try again
            raise
        except (ValueError, TypeError):
            return False

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.etag = self.client.put(self.key, self._body(), headers={"If-Match": self.etag})
            except S3Error:
                return  # deleted with its session, or lost: nothing left to renew

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            response = self.client.request("GET", self.key)
            if json.loads(response.data).get("owner") == self.owner:
                self.client.delete(self.key)
        except (S3Error, ValueError):
            pass  # gone with its session already
