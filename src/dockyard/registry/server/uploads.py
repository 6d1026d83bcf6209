"""Blob upload sessions, kept in the storage so any server process can continue one.

A session is a directory (``paths.upload_dir``) holding the bytes received so
far and the time it began; nothing about it lives only in memory. A restarted
server, or another process on the same storage, answers status requests and
accepts the next chunk. Each append or commit holds the session's storage lock,
so concurrent requests on one session are serialised across processes.

Hashing: each process keeps the running hash of the sessions it has been fed
(keyed by the byte offset it reached), so a session driven by one process is
hashed once, as its chunks stream in. After every acknowledged chunk the
SHA-256 state is saved in the session too (``hashstate``), so another process
(another replica, or this one restarted) continues the hash where the last
chunk left it instead of reading the bytes back. Only where no state matches
the stored size (a process died between a chunk and its state) is the digest
computed again from the stored bytes; correctness never depends on the states.

A chunk is all or nothing: if the client disconnects or breaks a limit
midway, the session is cut back to where the chunk began.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from dockyard.oci.digest import Digest
from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server import hashstate, paths
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.routes import is_valid_upload_id
from dockyard.registry.server.storage import PathNotFoundError
from dockyard.registry.server.storage_async import AsyncStorage

_HASH_CACHE_SIZE = 1024  # sessions whose running hash a process remembers
_REHASH_CHUNK = 1 << 20
_WRITE_BATCH = 1 << 20  # bytes handed to the storage's writer per hop to its thread pool


@dataclass(frozen=True, slots=True)
class ContentRange:
    start: int
    end: int  # inclusive

    @classmethod
    def parse(cls, value: str) -> ContentRange:
        """``<start>-<end>`` as the spec writes it (a ``bytes `` prefix is tolerated)."""
        text = value.strip().removeprefix("bytes").strip().split("/", 1)[0]
        start, sep, end = text.partition("-")
        if not sep or not start.isdigit() or not end.isdigit() or int(end) < int(start):
            raise RegistryError(Code.RANGE_INVALID, detail={"Content-Range": value[:100]})
        return cls(int(start), int(end))


@dataclass(frozen=True, slots=True)
class Session:
    name: str
    upload_id: str
    size: int  # bytes received

    @property
    def location(self) -> str:
        return f"/v2/{self.name}/blobs/uploads/{self.upload_id}"

    @property
    def range_header(self) -> str:
        # Distribution's form: "0-0" for an empty session, else the inclusive end
        return f"0-{max(self.size - 1, 0)}"


class Uploads:
    """Sessions over the storage; every storage call goes through ``AsyncStorage`` (never on the loop)."""

    def __init__(self, storage: AsyncStorage, registry: Registry, max_blob_size: int | None = None) -> None:
        self.storage = storage
        self.driver = storage.driver  # for the synchronous helpers that run in the storage pool
        self.registry = registry
        self.max_blob_size = max_blob_size
        self._hashes: OrderedDict[str, tuple[int, Any]] = OrderedDict()

    async def start(self, name: str) -> Session:
        upload_id = uuid.uuid4().hex
        await self.storage.run(self._create, name, upload_id)
        self._hashes[paths.upload_dir(name, upload_id)] = (0, _new_hash())
        return Session(name, upload_id, 0)

    def _create(self, name: str, upload_id: str) -> None:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.driver.put_content(paths.upload_started(name, upload_id), started.encode())
        self.driver.open_append(paths.upload_data(name, upload_id)).close()

    async def status(self, name: str, upload_id: str) -> Session:
        return await self.storage.run(self._status, name, upload_id)

    def _status(self, name: str, upload_id: str) -> Session:
        if not is_valid_upload_id(upload_id) or not self.driver.exists(paths.upload_started(name, upload_id)):
            raise RegistryError(Code.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id[:64]})
        try:
            size = self.driver.stat(paths.upload_data(name, upload_id)).size
        except PathNotFoundError as exc:
            raise RegistryError(Code.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id}) from exc
        return Session(name, upload_id, size)

    async def cancel(self, name: str, upload_id: str) -> None:
        await self.status(name, upload_id)
        await self.discard(name, upload_id)

    async def append(
        self,
        name: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: ContentRange | None = None,
        content_length: int | None = None,
    ) -> Session:
        """Adds one chunk; with ``content_range`` it must start where the session ends (else RANGE_INVALID)."""
        await self.status(name, upload_id)
        async with self._locked(name, upload_id):
            return await self._append_locked(name, upload_id, body, content_range, content_length)

    async def finish(
        self,
        name: str,
        upload_id: str,
        expected: Digest,
        body: AsyncIterator[bytes] | None = None,
        content_range: ContentRange | None = None,
        content_length: int | None = None,
    ) -> Digest:
        """Appends the last chunk (if any), verifies the digest and publishes the blob.

        A digest mismatch ends the session: the bytes are not what the client
        meant to send, and none of them become visible.
        """
        await self.status(name, upload_id)
        async with self._locked(name, upload_id):
            session = (await self._append_locked(name, upload_id, body, content_range, content_length, save_state=False)
                       if body is not None else await self.status(name, upload_id))
            actual = await self._digest(session, expected.algorithm)
            if actual != expected:
                await self.discard(name, upload_id)
                raise RegistryError(Code.DIGEST_INVALID, detail={"expected": str(expected), "actual": str(actual)})
            await self.storage.run(self.registry.commit_blob, name, paths.upload_data(name, upload_id), expected)
            await self.discard(name, upload_id)
        return expected

    async def discard(self, name: str, upload_id: str) -> None:
        """Forgets a session without the checks ``cancel`` makes; idempotent."""
        self._hashes.pop(paths.upload_dir(name, upload_id), None)
        await self.storage.delete_if_exists(paths.upload_dir(name, upload_id))

    @asynccontextmanager
    async def _locked(self, name: str, upload_id: str) -> AsyncIterator[None]:
        lock = self.storage.lock(paths.upload_lock(name, upload_id))
        try:
            await lock.acquire()
        except PathNotFoundError as exc:  # the session was cancelled or committed meanwhile
            raise RegistryError(Code.BLOB_UPLOAD_UNKNOWN) from exc
        try:
            yield
        finally:
            await lock.release()

    async def _append_locked(
        self,
        name: str,
        upload_id: str,
        body: AsyncIterator[bytes],
        content_range: ContentRange | None,
        content_length: int | None,
        save_state: bool = True,
    ) -> Session:
        start = (await self.status(name, upload_id)).size  # again: another process may have appended meanwhile
        if content_range is not None:
            if content_range.start != start:
                raise RegistryError(Code.RANGE_INVALID, detail={"expected_start": start, "got": content_range.start})
            if content_length is not None and content_length != content_range.end - content_range.start + 1:
                raise RegistryError(Code.RANGE_INVALID, detail="Content-Range does not match Content-Length")
        self._check_limit(start + (content_length or 0))
        key = paths.upload_dir(name, upload_id)
        offset, hasher = self._hashes.pop(key, (0, _new_hash()) if start == 0 else (-1, None))
        if offset != start:
            hasher = await self._saved_hash(name, upload_id, start)
        size = await self._receive(paths.upload_data(name, upload_id), start, body, content_length, hasher)
        if hasher is not None:
            self._hashes[key] = (size, hasher)
            while len(self._hashes) > _HASH_CACHE_SIZE:
                self._hashes.popitem(last=False)
            if save_state and isinstance(hasher, hashstate.ResumableSha256) and size > start:
                await self.storage.put_content(paths.upload_hashstate(name, upload_id, size), hasher.state())
        return Session(name, upload_id, size)

    async def _receive(self, data: str, start: int, body: AsyncIterator[bytes], content_length: int | None, hasher: Any) -> int:
        """Appends the body to ``data``; the new size.

        Chunks go to the storage pool in batches, one batch written while the next arrives.
        """
        size = start
        f = await self.storage.open_append(data)
        batch: list[bytes] = []
        batched = 0
        writing: asyncio.Future[None] | None = None
        try:
            async for chunk in body:
                size += len(chunk)
                self._check_limit(size)
                if hasher is not None:
                    hasher.update(chunk)
                batch.append(chunk)
                batched += len(chunk)
                if batched >= _WRITE_BATCH:
                    if writing is not None:
                        await writing
                    writing = asyncio.ensure_future(f.write(batch))
                    batch, batched = [], 0
            if content_length is not None and size - start != content_length:
                raise RegistryError(Code.SIZE_INVALID, detail={"Content-Length": content_length, "received": size - start})
            if writing is not None:
                await writing
            await f.write(batch)
            await f.flush()
        except BaseException:
            if writing is not None:  # never cut the object back under a write in flight
                await asyncio.gather(writing, return_exceptions=True)
            await f.truncate(start)  # the chunk is all or nothing, and never acknowledged before it is complete
            raise
        finally:
            await f.close()
        return size

    async def _saved_hash(self, name: str, upload_id: str, offset: int) -> Any:
        """The SHA-256 state another process saved after ``offset`` bytes, if any."""
        if not hashstate.available():
            return None
        try:
            state = await self.storage.get_content(paths.upload_hashstate(name, upload_id, offset))
            return hashstate.ResumableSha256(state)
        except (PathNotFoundError, hashstate.HashStateError):
            return None

    def _check_limit(self, size: int) -> None:
        if self.max_blob_size is not None and size > self.max_blob_size:
            raise RegistryError(Code.SIZE_INVALID, f"blob is larger than the limit of {self.max_blob_size} bytes", status=413)

    async def _digest(self, session: Session, algorithm: str) -> Digest:
        key = paths.upload_dir(session.name, session.upload_id)
        offset, hasher = self._hashes.get(key, (-1, None))
        if algorithm == "sha256" and (hasher is None or offset != session.size):
            hasher = await self._saved_hash(session.name, session.upload_id, session.size)
            offset = session.size
        if hasher is not None and offset == session.size and algorithm == "sha256":
            return Digest("sha256", hasher.hexdigest())
        return await self.storage.run(self._rehash, session, algorithm)

    def _rehash(self, session: Session, algorithm: str) -> Digest:
        hasher = hashlib.new(algorithm)
        with self.driver.open_read(paths.upload_data(session.name, session.upload_id)) as f:
            while chunk := f.read(_REHASH_CHUNK):
                hasher.update(chunk)
        return Digest(algorithm, hasher.hexdigest())


def _new_hash() -> Any:
    """Resumable where libcrypto allows (its state goes with the session), else hashlib's."""
    return hashstate.ResumableSha256() if hashstate.available() else hashlib.sha256()
