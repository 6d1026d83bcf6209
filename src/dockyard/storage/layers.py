"""The layer store: layers by chain ID in a storage driver, rows in metadata.

Layers are extracted straight into a fresh driver directory. Until the
metadata transaction that names it commits, such a directory is an orphan
that ``sweep`` removes, so a crash at any point loses nothing visible. Layers
of one batch that come from a seekable file extract in parallel, one worker
process per core (tar extraction is CPU- and syscall-bound in Python).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dockyard.errors import DigestMismatchError, DockyardError, InvalidContentError, LayerNotFoundError
from dockyard.image.layerstore import Layer, LayerJob, StagedLayers
from dockyard.metadata.db import Database, LayerRow
from dockyard.oci.digest import Digest, VerifyingReader
from dockyard.storage.dirs import new_cache_id

if TYPE_CHECKING:  # extraction is imported where it runs: commands that only read layers stay light
    from dockyard.archive.apply import AppliedLayer, Whiteouts
    from dockyard.storage.driver import Driver

TARSPLIT = "tar-split.zst"


def _extract(job: LayerJob, diff: Path, whiteouts: Whiteouts) -> AppliedLayer:
    from dockyard.archive.apply import apply_layer
    from dockyard.archive.compression import open_decompressed

    raw = job.source.open() if hasattr(job.source, "open") else job.source()  # type: ignore[union-attr,operator]
    try:
        blob = VerifyingReader(raw, job.blob_digest) if job.blob_digest else None
        _, stream = open_decompressed(blob or raw)  # type: ignore[arg-type]
        try:
            applied = apply_layer(stream, diff, whiteouts, diff.parent / TARSPLIT)
        finally:
            stream.close()  # a codec's reader thread is joined here, never by the garbage collector
        if blob is not None:
            while blob.read(1 << 20):  # a compressed stream may end before its container does
                pass
            blob.verify()
        if job.expected_diff_id is not None and applied.diff_id != job.expected_diff_id:
            raise DigestMismatchError(job.expected_diff_id, applied.diff_id)
        return applied
    finally:
        raw.close()


def _die_with_parent(owner: int) -> None:
    """In an extraction worker: be killed when the process that started it dies.

    After a kill -9 of the parent, a pool worker would otherwise wait forever on
    a pipe its siblings still hold open; PR_SET_PDEATHSIG has the kernel end it.
    """
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != owner:  # the parent died before the call: nobody will signal us
        os._exit(1)


def next_chain_id(below: Digest | None, diff_id: Digest) -> Digest:
    """The chain ID of ``diff_id`` stacked on the chain ``below`` (None: the bottom layer), as ``chain_ids`` steps."""
    return diff_id if below is None else Digest.of(f"{below} {diff_id}".encode())


def _row_to_layer(row: LayerRow) -> Layer:
    return Layer(Digest.parse(row.chain_id), Digest.parse(row.diff_id), row.size, row.tar_size)


class LayerStoreImpl:
    def __init__(self, db: Database, driver: Driver, workers: int | None = None) -> None:
        self.db = db
        self.driver = driver
        self.workers = workers or os.cpu_count() or 1

    def get(self, chain_id: Digest) -> Layer | None:
        row = self.db.layer(str(chain_id))
        return _row_to_layer(row) if row else None

    def stack(self, chain_id: Digest) -> list[Layer]:
        out: list[Layer] = []
        current: str | None = str(chain_id)
        while current:
            row = self.db.layer(current)
            if row is None:
                raise LayerNotFoundError(f"layer {current} not found")
            out.append(_row_to_layer(row))
            current = row.parent
        return out[::-1]

    def cache_ids(self, chain_id: Digest) -> list[str]:
        """The driver directories of a stack, bottom first."""
        out: list[str] = []
        current: str | None = str(chain_id)
        while current:
            row = self.db.layer(current)
            if row is None:
                raise LayerNotFoundError(f"layer {current} not found")
            out.append(row.cache_id)
            current = row.parent
        return out[::-1]

    # staging -----------------------------------------------------------------

    def stage(
        self, parent: Digest | None, jobs: list[LayerJob], progress: Callable[[str, int], None] | None = None
    ) -> StagedLayers:
        staged = StagedLayers()
        parents = self.stack(parent) if parent else []
        staged.layers.extend(parents)
        parent_caches = self.cache_ids(parent) if parent else []
        try:
            self._stage_jobs(staged, jobs, parent_caches, progress or (lambda _id, _size: None))
        except BaseException:
            self.discard(staged)
            raise
        return staged

    def _stage_jobs(
        self, staged: StagedLayers, jobs: list[LayerJob], caches: list[str], progress: Callable[[str, int], None]
    ) -> None:
        # the running chain ID: one hash per layer, not one per layer below it
        below = staged.layers[-1].chain_id if staged.layers else None
        pending: list[int] = []  # indexes of jobs to extract
        # layers whose diff IDs are known up front are skipped when stored; once one
        # is missing, every chain above it is missing too
        for i, job in enumerate(jobs):
            expected = job.expected_diff_id
            if expected is None:
                pending.extend(range(i, len(jobs)))
                break
            below = next_chain_id(below, expected)
            row = self.db.layer(str(below))
            if row is not None and not pending:
                staged.layers.append(_row_to_layer(row))
                caches.append(row.cache_id)
                continue
            pending.append(i)
        if not pending:
            return
        parallel = self.driver.whiteouts.on_disk and all(
            hasattr(jobs[i].source, "open") for i in pending
        ) and len(pending) > 1
        base_caches = list(caches)
        results = self._run_parallel(jobs, pending, base_caches, staged) if parallel else None
        chain = staged.layers[-1].chain_id if staged.layers else None
        for n, i in enumerate(pending):
            job = jobs[i]
            if results is not None:
                cache_id, applied = results[n]
            else:
                cache_id = new_cache_id()
                staged.scratch.append(cache_id)
                diff = self.driver.create(cache_id, caches)
                applied = _extract(job, diff, self.driver.whiteouts)
            staged.scratch.remove(cache_id)
            chain = next_chain_id(chain, applied.diff_id)
            staged.layers.append(Layer(chain, applied.diff_id, applied.size, applied.tar_size))
            staged.new[chain] = cache_id
            caches.append(cache_id)
            progress(applied.diff_id.short, applied.tar_size)

    def _run_parallel(
        self, jobs: list[LayerJob], pending: list[int], caches: list[str], staged: StagedLayers
    ) -> list[tuple[str, AppliedLayer]]:
        created: list[str] = []
        for _ in pending:
            cache_id = new_cache_id()
            staged.scratch.append(cache_id)
            self.driver.create(cache_id, caches + created)
            created.append(cache_id)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=min(self.workers, len(pending)), mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            futures = [
                pool.submit(_extract, jobs[i], self.driver.diff_path(c), self.driver.whiteouts)
                for i, c in zip(pending, created)
            ]
            results = [f.result() for f in futures]
        return list(zip(created, results))

    # commit and removal ----------------------------------------------------------

    def commit(self, staged: StagedLayers) -> None:
        """Insert rows for new layers; call inside ``db.transaction()``."""
        parent: str | None = None
        for layer in staged.layers:
            chain = str(layer.chain_id)
            cache_id = staged.new.get(layer.chain_id)
            existing = self.db.layer(chain)
            if existing is None:
                if cache_id is None:
                    raise InvalidContentError(f"layer {chain} was removed while this image was being stored; try again")
                self.db.insert_layer(
                    LayerRow(chain, str(layer.diff_id), parent, cache_id, layer.size, layer.tar_size, 0, time.time())
                )
            elif cache_id is not None:
                # another process stored the same layer meanwhile: ours is surplus
                self.driver.remove(cache_id)
                del staged.new[layer.chain_id]
            parent = chain

    def discard(self, staged: StagedLayers) -> None:
        for cache_id in [*staged.new.values(), *staged.scratch]:
            self.driver.remove(cache_id)
        staged.new.clear()
        staged.scratch.clear()

    def cleanup(self, removed_cache_ids: list[str]) -> None:
        """Delete directories of layers whose rows are gone (after the transaction commits)."""
        for cache_id in removed_cache_ids:
            self.driver.remove(cache_id)

    def export(self, chain_id: Digest, write: Callable[[bytes], object]) -> int:
        row = self.db.layer(str(chain_id))
        if row is None:
            raise LayerNotFoundError(f"layer {chain_id} not found")
        from dockyard.archive.export import export_layer

        diff = self.driver.diff_path(row.cache_id)
        try:
            return export_layer(diff, diff.parent / TARSPLIT, write)
        except OSError as exc:
            raise DockyardError(f"layer {row.diff_id} is damaged: {exc}") from exc

    def known_cache_ids(self) -> set[str]:
        return {row.cache_id for row in self.db.layers()}

    def leftovers(self) -> list[Path]:
        """Driver directories and links no layer row names (what ``sweep`` removes)."""
        return self.driver.leftovers(self.known_cache_ids())

    def sweep(self) -> None:
        """Remove crash leftovers; one that resists is reported on stderr and skipped."""
        self.driver.sweep(self.known_cache_ids())
