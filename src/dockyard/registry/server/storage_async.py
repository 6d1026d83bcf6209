"""The server's one async boundary over the storage: every driver call runs in a bounded pool of threads.

The driver interface (``storage.py``) is synchronous, and so is the registry
logic over it (``registry.py``, shared with GC and the CLI). On the filesystem
a call waits for the disk, on S3 for a network round trip; made on the event
loop, either stalls every other request of that worker. Handlers therefore
reach the storage only through ``AsyncStorage``:

- the driver's calls, awaitable (``get_content``, ``stat``, ``open_read``...);
  opened objects are awaitable too (``AsyncReader``, ``AsyncWriter``), so a
  blob streams chunk by chunk, each read in the pool;
- ``run(fn, ...)`` for a synchronous operation made of several driver calls
  (a ``Registry`` method), so one request costs one hop, not one per call;
- ``lock(path)``: waiting for a lock is not storage work, so waiters use a
  pool of their own and never take the slot the holder needs to finish.

The pool is bounded (``STORAGE_THREADS``): a burst of slow S3 calls queues
instead of starting a thread per request. ``CheckedDriver`` enforces the
boundary: once an ``AsyncStorage`` owns it, a driver call made on a thread
running an event loop raises ``BlockingStorageCallError``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, ParamSpec, TypeVar

from dockyard.registry.server.storage import CheckedDriver, FileInfo

STORAGE_THREADS = 32  # as many as the S3 client's connection pool holds
LOCK_WAITERS = 256  # requests that may wait for a session's lock at once

P = ParamSpec("P")
T = TypeVar("T")


class AsyncStorage:
    def __init__(self, driver: CheckedDriver, threads: int = STORAGE_THREADS) -> None:
        self.driver = driver
        self.name = driver.name
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="storage")
        self._waiters = ThreadPoolExecutor(LOCK_WAITERS, thread_name_prefix="storage-lock")
        driver.forbid_event_loop()

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._waiters.shutdown(wait=False)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` in the pool: a synchronous operation over the driver."""
        future = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        return await future

    # the driver's calls -----------------------------------------------------

    async def get_content(self, path: str) -> bytes:
        return await self.run(self.driver.get_content, path)

    async def put_content(self, path: str, data: bytes) -> None:
        await self.run(self.driver.put_content, path, data)

    async def stat(self, path: str) -> FileInfo:
        return await self.run(self.driver.stat, path)

    async def exists(self, path: str) -> bool:
        return await self.run(self.driver.exists, path)

    async def delete_if_exists(self, path: str) -> bool:
        return await self.run(self.driver.delete_if_exists, path)

    async def open_read(self, path: str, offset: int = 0) -> AsyncReader:
        return AsyncReader(self, await self.run(self.driver.open_read, path, offset))

    async def open_append(self, path: str) -> AsyncWriter:
        return AsyncWriter(self, await self.run(self.driver.open_append, path))

    def local_path(self, path: str) -> str | None:
        """No I/O: where the filesystem keeps the object (for sendfile), None elsewhere."""
        return self.driver.local_path(path)

    def redirect_url(self, path: str) -> str | None:
        """No I/O: a presigned URL is computed locally."""
        return self.driver.redirect_url(path)

    def lock(self, path: str) -> AsyncLock:
        return AsyncLock(self, path)


class AsyncReader:
    """An object opened for reading; each ``read`` runs in the pool."""

    def __init__(self, storage: AsyncStorage, f: BinaryIO) -> None:
        self._storage = storage
        self._f = f

    async def read(self, size: int) -> bytes:
        return await self._storage.run(self._f.read, size)

    async def close(self) -> None:
        await self._storage.run(self._f.close)

    async def __aenter__(self) -> AsyncReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncWriter:
    """An object opened for appending (an upload's data); writes, flush, truncate and close run in the pool."""

    def __init__(self, storage: AsyncStorage, f: BinaryIO) -> None:
        self._storage = storage
        self._f = f

    async def write(self, chunks: list[bytes]) -> None:
        """Appends the chunks in order, in one hop to the pool (no copy to join them)."""
        if chunks:
            await self._storage.run(_write_all, self._f, chunks)

    async def flush(self) -> None:
        await self._storage.run(self._f.flush)

    async def truncate(self, size: int) -> None:
        await self._storage.run(self._f.truncate, size)

    async def close(self) -> None:
        await self._storage.run(self._f.close)


def _write_all(f: BinaryIO, chunks: list[bytes]) -> None:
    for chunk in chunks:
        f.write(chunk)


class AsyncLock:
    """The driver's exclusive lock, taken without blocking the loop (see the module docstring)."""

    def __init__(self, storage: AsyncStorage, path: str) -> None:
        self._storage = storage
        self._cm = storage.driver.lock(path)
        self._held = False

    async def acquire(self) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._storage._waiters, self._cm.__enter__)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # the waiting thread may still get the lock: give it back as soon as it does
            future.add_done_callback(self._release_late)
            raise
        self._held = True

    def _release_late(self, future: asyncio.Future[None]) -> None:
        if not future.cancelled() and future.exception() is None:
            self._storage._pool.submit(self._cm.__exit__, None, None, None)

    async def release(self) -> None:
        if not self._held:
            return
        self._held = False
        future: Future[bool | None] = self._storage._pool.submit(self._cm.__exit__, None, None, None)
        await asyncio.shield(asyncio.wrap_future(future))

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
