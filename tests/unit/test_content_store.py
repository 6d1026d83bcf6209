"""The content store: verified, atomic, idempotent blob writes on a real filesystem."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockyard.content import ContentStore
from dockyard.errors import BlobNotFoundError, InvalidContentError
from dockyard.oci.digest import Digest


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "content")


def blob_files(store: ContentStore) -> list[Path]:
    base = store.root / "blobs"
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def ingest_files(store: ContentStore) -> list[str]:
    return sorted(os.listdir(store.ingest_dir))


def test_write_read_layout(store: ContentStore) -> None:
    data = b"hello blob\n"
    digest = store.write(data)
    assert digest == Digest("sha256", hashlib.sha256(data).hexdigest())
    assert store.path(digest) == store.root / "blobs" / "sha256" / digest.hex
    assert store.exists(digest)
    assert store.read(digest) == data
    assert store.size(digest) == len(data)
    with store.open(digest) as f:
        assert f.read() == data
    assert list(store.walk()) == [digest]
    assert ingest_files(store) == []


def test_missing_blob(store: ContentStore) -> None:
    missing = Digest.of(b"nope")
    assert not store.exists(missing)
    with pytest.raises(BlobNotFoundError):
        store.open(missing)
    with pytest.raises(BlobNotFoundError):
        store.size(missing)
    with pytest.raises(BlobNotFoundError):
        store.read(missing)
    assert list(store.walk()) == []


def test_ingest_is_invisible_until_commit(store: ContentStore) -> None:
    data = os.urandom(3 << 20)
    digest = Digest.of(data)
    with store.ingest(digest, len(data)) as ingest:
        for i in range(0, len(data), 1 << 20):
            ingest.write(memoryview(data)[i : i + (1 << 20)])
            assert not store.exists(digest)
            assert not store.path(digest).exists()
        assert len(ingest_files(store)) == 1  # the partial file lives in ingest/
        assert ingest.commit() == digest
    assert store.read(digest) == data
    assert ingest_files(store) == []
    assert blob_files(store) == [store.path(digest)]


def test_leaving_without_commit_discards(store: ContentStore) -> None:
    with store.ingest() as ingest:
        ingest.write(b"partial")
    assert ingest_files(store) == [] and blob_files(store) == []
    with pytest.raises(RuntimeError), store.ingest() as ingest:
        ingest.write(b"partial")
        raise RuntimeError("writer failed")
    assert ingest_files(store) == [] and blob_files(store) == []


def test_digest_mismatch_is_rejected_and_nothing_visible(store: ContentStore) -> None:
    claimed = Digest.of(b"what was promised")
    with pytest.raises(InvalidContentError, match="digest mismatch"), store.ingest(claimed) as ingest:
        ingest.write(b"what was sent")
        ingest.commit()
    assert not store.exists(claimed)
    assert not store.exists(Digest.of(b"what was sent"))
    assert blob_files(store) == [] and ingest_files(store) == []
    with pytest.raises(InvalidContentError):
        store.write(b"what was sent", claimed)
    assert blob_files(store) == [] and ingest_files(store) == []


@pytest.mark.parametrize("declared,sent", [(10, b"short"), (3, b"too long")])
def test_size_mismatch_is_rejected_and_nothing_visible(store: ContentStore, declared: int, sent: bytes) -> None:
    with pytest.raises(InvalidContentError), store.ingest(None, declared) as ingest:
        ingest.write(sent)
        ingest.commit()
    assert blob_files(store) == [] and ingest_files(store) == []
    with pytest.raises(InvalidContentError):
        store.copy_from(_Reader(sent), Digest.of(sent), declared)
    assert blob_files(store) == [] and ingest_files(store) == []


def test_size_overrun_is_refused_at_write_time(store: ContentStore) -> None:
    with store.ingest(None, 4) as ingest:
        ingest.write(b"1234")
        with pytest.raises(InvalidContentError):
            ingest.write(b"5")
    assert ingest_files(store) == []


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int = -1) -> bytes:
        out, self.data = (self.data, b"") if n < 0 else (self.data[:n], self.data[n:])
        return out


def test_already_exists_is_success(store: ContentStore) -> None:
    data = b"x" * 10_000
    first = store.write(data)
    mtime = store.path(first).stat().st_mtime_ns
    assert store.write(data) == first
    assert store.write(data, first) == first
    assert store.copy_from(_Reader(data), first, len(data)) == first
    with store.ingest(first, len(data)) as ingest:
        ingest.write(data)
        assert ingest.commit() == first
    assert blob_files(store) == [store.path(first)]
    assert store.read(first) == data
    assert ingest_files(store) == []
    assert store.path(first).stat().st_mtime_ns >= mtime


def test_sha512_blobs(store: ContentStore) -> None:
    data = b"sha512 content"
    expected = Digest("sha512", hashlib.sha512(data).hexdigest())
    assert store.copy_from(_Reader(data), expected, len(data)) == expected
    assert store.path(expected) == store.root / "blobs" / "sha512" / expected.hex
    assert store.read(expected) == data
    wrong = Digest("sha512", "0" * 128)
    with pytest.raises(InvalidContentError):
        store.copy_from(_Reader(data), wrong)
    assert not store.exists(wrong)


def test_delete_and_walk(store: ContentStore) -> None:
    digests = {store.write(bytes([i]) * 100) for i in range(5)}
    assert set(store.walk()) == digests
    victim = sorted(digests)[0]
    store.delete(victim)
    store.delete(victim)  # idempotent
    assert not store.exists(victim)
    assert set(store.walk()) == digests - {victim}


def _concurrent_writer(root: str, data: bytes, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:  # type: ignore[name-defined]
    try:
        store = ContentStore(Path(root))
        barrier.wait(timeout=30)
        with store.ingest(Digest.of(data), len(data)) as ingest:
            for i in range(0, len(data), 256 << 10):
                ingest.write(data[i : i + (256 << 10)])
            out.put(("ok", str(ingest.commit())))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(exc)))


def test_two_processes_write_the_same_blob(store: ContentStore) -> None:
    data = os.urandom(8 << 20)
    digest = Digest.of(data)
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    out = ctx.Queue()
    procs = [ctx.Process(target=_concurrent_writer, args=(str(store.root), data, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [("ok", str(digest)), ("ok", str(digest))]
    assert blob_files(store) == [store.path(digest)]  # stored once
    assert store.read(digest) == data
    assert ingest_files(store) == []


def test_sweep_removes_leftovers_of_a_killed_writer(store: ContentStore) -> None:
    kept = store.write(b"committed before the crash")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from dockyard.content import ContentStore
        store = ContentStore(Path({str(store.root)!r}))
        ingest = store.ingest()
        ingest.write(b"half a blob" * 1000)
        ingest._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftovers = ingest_files(store)
    assert len(leftovers) == 1  # the crash left only an ingest file
    assert blob_files(store) == [store.path(kept)]
    (store.ingest_dir / "blob-stale-by-hand").write_bytes(b"junk")
    store.sweep()
    assert ingest_files(store) == []
    assert blob_files(store) == [store.path(kept)]
    assert store.read(kept) == b"committed before the crash"
    # the store works as before
    assert store.read(store.write(b"after the sweep")) == b"after the sweep"


def test_reopening_a_store_keeps_blobs(tmp_path: Path) -> None:
    first = ContentStore(tmp_path / "c")
    digest = first.write(b"persistent")
    second = ContentStore(tmp_path / "c")
    assert second.read(digest) == b"persistent"
