"""The layer store on both drivers: stage, commit, discard, reuse, verification, parallel extraction, sweep."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import sys
import tarfile
from pathlib import Path
from typing import Callable, Iterator

import pytest
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.images import (  # noqa: E402
    chardev,
    directory,
    file,
    hardlink,
    layer_tar_bytes,
    opaque_whiteout,
    symlink,
    whiteout,
)

from dockyard.errors import DigestMismatchError, InvalidContentError, LayerNotFoundError  # noqa: E402
from dockyard.image.layerstore import FileSlice, LayerJob, StagedLayers  # noqa: E402
from dockyard.metadata import Database  # noqa: E402
from dockyard.oci.digest import Digest, chain_ids  # noqa: E402
from dockyard.storage.driver import Overlay2, Vfs  # noqa: E402
from dockyard.storage.layers import TARSPLIT, LayerStoreImpl  # noqa: E402
from dockyard.storage.mount import mount_all, unmount  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: device nodes, chown, overlay mounts")

DRIVERS = {"overlay2": Overlay2, "vfs": Vfs}

LAYERS = [
    layer_tar_bytes([
        directory("etc"),
        file("etc/motd", b"motd\n"),
        file("etc/keep", b"keep\n"),
        directory("opt"),
        file("opt/x", b"x" * 5000),
        directory("opt/sub"),
        file("opt/sub/y", b"y"),
        directory("bin"),
        file("bin/tool", os.urandom(20_000), 0o4755),
        hardlink("bin/tool2", "bin/tool"),
        symlink("bin/sh", "tool"),
        chardev("dev/null", 1, 3),
    ]),
    layer_tar_bytes([
        whiteout("etc/motd"),
        file("etc/added", b"added\n"),
        directory("opt"),
        opaque_whiteout("opt"),
        file("opt/new", b"new\n"),
        file("bin/tool", b"replaced tool\n", 0o755),
    ]),
    layer_tar_bytes([
        file("etc/keep", b"keep v3\n"),
        whiteout("etc/added"),
        directory("var"),
        file("var/log", b"log" * 1000),
    ]),
]
DIFF_IDS = [Digest.of(t) for t in LAYERS]
CHAINS = chain_ids(DIFF_IDS)

# what a container sees on top of all three layers
UNION = {
    "etc": "dir",
    "etc/keep": b"keep v3\n",
    "opt": "dir",
    "opt/new": b"new\n",
    "bin": "dir",
    "bin/tool": b"replaced tool\n",
    "bin/sh": ("symlink", "tool"),
    "dev": "dir",
    "dev/null": ("chr", 1, 3),
    "var": "dir",
    "var/log": b"log" * 1000,
}


def make_store(tmp_path: Path, db: Database, driver_name: str, workers: int | None = None) -> LayerStoreImpl:
    driver = DRIVERS[driver_name](tmp_path / driver_name)
    return LayerStoreImpl(db, driver, workers=workers)


def source(data: bytes, compress: str | None = None) -> Callable[[], io.BytesIO]:
    if compress == "gzip":
        data = gzip.compress(data, mtime=0)
    elif compress == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    return lambda: io.BytesIO(data)


def jobs_for(indexes: list[int], *, expected: bool = True, compress: str | None = None) -> list[LayerJob]:
    return [LayerJob(source(LAYERS[i], compress), DIFF_IDS[i] if expected else None) for i in indexes]


def layer_dirs(store: LayerStoreImpl) -> set[str]:
    return {n for n in os.listdir(store.driver.home) if n != "l"}


def short_links(store: LayerStoreImpl) -> set[str]:
    links = store.driver.home / "l"
    return set(os.listdir(links)) if links.is_dir() else set()


def export(store: LayerStoreImpl, chain: Digest) -> bytes:
    out = bytearray()
    assert store.export(chain, out.extend) == len(out)
    return bytes(out)


def visible(root: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    out[rel] = f.read()
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISCHR(st.st_mode):
                out[rel] = ("chr", os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                out[rel] = ("other", stat.S_IFMT(st.st_mode))
    return out


def expected_union() -> dict[str, object]:
    union = dict(UNION)
    with tarfile.open(fileobj=io.BytesIO(LAYERS[0])) as tar:
        union["bin/tool2"] = tar.extractfile("bin/tool").read()  # type: ignore[union-attr]
    return union


@contextlib.contextmanager
def mounted(store: LayerStoreImpl, chain: Digest, target: Path) -> Iterator[Path]:
    target.mkdir()
    mount_all(store.driver.mounts(store.cache_ids(chain), None), target)
    try:
        yield target
    finally:
        unmount(target)


def explicit_dirs(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/") for m in tar.getmembers() if m.isdir()}


def tree_digest(root: Path, timed_dirs: set[str]) -> str:
    """Everything about a tree; directories the tar did not name (created as parents) and overlay
    whiteouts get the time of extraction, as in Docker, so only other mtimes count."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            untimed = (stat.S_ISDIR(st.st_mode) and rel not in timed_dirs) or (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
            mtime = None if untimed else st.st_mtime_ns
            h.update(f"{rel}|{st.st_mode}|{st.st_uid}|{st.st_gid}|{st.st_rdev}|{mtime}|{st.st_nlink}".encode())
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
            elif stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(path).encode())
            for key in sorted(os.listxattr(path, follow_symlinks=False)):
                h.update(key.encode() + os.getxattr(path, key, follow_symlinks=False))
    return h.hexdigest()


# --- stage / commit / discard -------------------------------------------------------------


@pytest.mark.parametrize("driver_name", DRIVERS)
@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_stage_commit_export(tmp_path: Path, db: Database, driver_name: str, compress: str | None) -> None:
    store = make_store(tmp_path, db, driver_name)
    progress: list[tuple[str, object]] = []
    staged = store.stage(None, jobs_for([0, 1, 2], compress=compress), lambda i, s: progress.append((i, s)))
    assert [layer.chain_id for layer in staged.layers] == CHAINS
    assert [layer.diff_id for layer in staged.layers] == DIFF_IDS
    assert [layer.tar_size for layer in staged.layers] == [len(t) for t in LAYERS]
    assert set(staged.new) == set(CHAINS) and staged.scratch == []
    assert [p[0] for p in progress] == [d.short for d in DIFF_IDS]  # one report per extracted layer
    assert layer_dirs(store) == set(staged.new.values())
    assert db.layers() == []  # invisible until commit
    assert store.get(CHAINS[0]) is None

    with db.transaction():
        store.commit(staged)
    rows = {row.chain_id: row for row in db.layers()}
    assert [rows[str(c)].parent for c in CHAINS] == [None, str(CHAINS[0]), str(CHAINS[1])]
    assert [rows[str(c)].refcount for c in CHAINS] == [1, 1, 0]
    assert [rows[str(c)].cache_id for c in CHAINS] == [staged.new[c] for c in CHAINS]
    assert [layer.chain_id for layer in store.stack(CHAINS[2])] == CHAINS
    assert store.cache_ids(CHAINS[2]) == [staged.new[c] for c in CHAINS]
    got = store.get(CHAINS[1])
    assert got is not None and got.diff_id == DIFF_IDS[1] and got.tar_size == len(LAYERS[1])

    for chain, data in zip(CHAINS, LAYERS):
        assert export(store, chain) == data  # the diff ID holds
        assert (store.driver.diff_path(rows[str(chain)].cache_id).parent / TARSPLIT).is_file()

    top = store.driver.diff_path(staged.new[CHAINS[2]])
    if driver_name == "vfs":
        assert visible(top) == expected_union()  # a full copy with whiteouts applied
    else:
        assert stat.S_ISCHR(os.lstat(top / "etc/added").st_mode)  # overlay whiteout in the layer itself
        with mounted(store, CHAINS[2], tmp_path / "merged") as merged:
            assert visible(merged) == expected_union()


# Docker's layer size: overlay2 measures the layer's diff directory (pkg/directory.Size: symlinks count
# their target's length); vfs (NaiveDiffDriver.ApplyDiff) sums the tar headers' sizes. Either way it is
# the layer's own content, never its parents'.
LAYER_SIZES = {
    "overlay2": [5 + 5 + 5000 + 1 + 20_000 + len("tool"), 6 + 4 + 14, 8 + 3000],
    "vfs": [5 + 5 + 5000 + 1 + 20_000, 6 + 4 + 14, 8 + 3000],
}


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_layer_sizes_are_the_layers_own_content(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    staged = store.stage(None, jobs_for([0, 1, 2]))
    try:
        assert [layer.size for layer in staged.layers] == LAYER_SIZES[driver_name]
    finally:
        store.discard(staged)


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_discard_removes_everything_staged(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    staged = store.stage(None, jobs_for([0, 1, 2]))
    assert len(layer_dirs(store)) == 3
    store.discard(staged)
    assert layer_dirs(store) == set() and short_links(store) == set()
    assert staged.new == {} and staged.scratch == []
    assert db.layers() == []


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_already_stored_layers_are_reused(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    first = store.stage(None, jobs_for([0, 1]))
    with db.transaction():
        store.commit(first)
    dirs = layer_dirs(store)

    again = store.stage(None, jobs_for([0, 1]))
    assert again.new == {} and [layer.chain_id for layer in again.layers] == CHAINS[:2]
    assert layer_dirs(store) == dirs
    with db.transaction():
        store.commit(again)
    assert {r.chain_id for r in db.layers()} == {str(c) for c in CHAINS[:2]}

    # two stored, the third extracted on top of them
    more = store.stage(None, jobs_for([0, 1, 2]))
    assert list(more.new) == [CHAINS[2]]
    with db.transaction():
        store.commit(more)
    assert export(store, CHAINS[2]) == LAYERS[2]
    if driver_name == "vfs":
        assert visible(store.driver.diff_path(more.new[CHAINS[2]])) == expected_union()

    # staging from a stored parent
    child = store.stage(CHAINS[1], jobs_for([2]))
    assert [layer.chain_id for layer in child.layers] == CHAINS and child.new == {}


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_layers_without_known_diff_ids_are_extracted_and_surplus_dropped_on_commit(
    tmp_path: Path, db: Database, driver_name: str
) -> None:
    store = make_store(tmp_path, db, driver_name)
    with db.transaction():
        store.commit(store.stage(None, jobs_for([0])))
    dirs = layer_dirs(store)
    staged = store.stage(None, jobs_for([0, 1], expected=False))
    assert set(staged.new) == set(CHAINS[:2])  # nothing known up front: both extracted
    with db.transaction():
        store.commit(staged)
    # the duplicate of layer 0 was removed; the existing row kept its directory
    assert db.layer(str(CHAINS[0])).cache_id in dirs  # type: ignore[union-attr]
    assert layer_dirs(store) == dirs | {staged.new[CHAINS[1]]}
    assert refcounts_of(db) == {str(CHAINS[0]): 1, str(CHAINS[1]): 0}


def refcounts_of(db: Database) -> dict[str, int]:
    return {r.chain_id: r.refcount for r in db.layers()}


@pytest.mark.parametrize("driver_name", DRIVERS)
@pytest.mark.parametrize("bad_index", [0, 2])
def test_diff_id_mismatch_leaves_nothing_behind(tmp_path: Path, db: Database, driver_name: str, bad_index: int) -> None:
    store = make_store(tmp_path, db, driver_name)
    jobs = jobs_for([0, 1, 2])
    jobs[bad_index] = LayerJob(jobs[bad_index].source, Digest.of(b"something else"))
    with pytest.raises(DigestMismatchError):
        store.stage(None, jobs)
    assert layer_dirs(store) == set()
    assert short_links(store) == set()
    assert db.layers() == []


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_blob_digest_mismatch_leaves_nothing_behind(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    compressed = gzip.compress(LAYERS[0], mtime=0)
    good = LayerJob(lambda: io.BytesIO(compressed), DIFF_IDS[0], Digest.of(compressed))
    staged = store.stage(None, [good])
    store.discard(staged)
    bad = LayerJob(lambda: io.BytesIO(compressed), DIFF_IDS[0], Digest.of(b"another blob"))
    with pytest.raises(DigestMismatchError):
        store.stage(None, [bad])
    assert layer_dirs(store) == set() and short_links(store) == set()


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_broken_layer_leaves_nothing_behind(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    last = tarfile.open(fileobj=io.BytesIO(LAYERS[1])).getmembers()[-1]
    broken = LayerJob(source(LAYERS[1][: last.offset_data + 5]), None)  # cut inside the last file
    with pytest.raises(InvalidContentError):
        store.stage(None, [*jobs_for([0]), broken])
    assert layer_dirs(store) == set() and short_links(store) == set()


# --- parallel extraction ----------------------------------------------------------------------


def write_archive(path: Path) -> list[FileSlice]:
    """Three layers inside one file, at odd offsets, differently compressed."""
    blobs = [gzip.compress(LAYERS[0], mtime=0), LAYERS[1], zstandard.ZstdCompressor().compress(LAYERS[2])]
    slices = []
    with open(path, "wb") as f:
        f.write(b"archive header" * 37)
        for blob in blobs:
            slices.append(FileSlice(str(path), f.tell(), len(blob)))
            f.write(blob)
            f.write(b"\x00junk between members\xff" * 11)
    return slices


def test_parallel_extraction_matches_serial(tmp_path: Path) -> None:
    slices = write_archive(tmp_path / "archive.bin")
    parallel_db = Database(tmp_path / "parallel.db")
    serial_db = Database(tmp_path / "serial.db")
    try:
        parallel = LayerStoreImpl(parallel_db, Overlay2(tmp_path / "p-overlay2"), workers=3)
        serial = LayerStoreImpl(serial_db, Overlay2(tmp_path / "s-overlay2"), workers=1)
        p_staged = parallel.stage(None, [LayerJob(s, d) for s, d in zip(slices, DIFF_IDS)])
        s_staged = serial.stage(None, [LayerJob(s.open, d) for s, d in zip(slices, DIFF_IDS)])  # not FileSlice: serial
        assert p_staged.layers == s_staged.layers
        for chain, data in zip(CHAINS, LAYERS):
            p_dir = parallel.driver.diff_path(p_staged.new[chain])
            s_dir = serial.driver.diff_path(s_staged.new[chain])
            assert tree_digest(p_dir, explicit_dirs(data)) == tree_digest(s_dir, explicit_dirs(data))
        with parallel_db.transaction():
            parallel.commit(p_staged)
        for chain, data in zip(CHAINS, LAYERS):
            assert export(parallel, chain) == data
        with mounted(parallel, CHAINS[2], tmp_path / "merged") as merged:
            assert visible(merged) == expected_union()
    finally:
        parallel_db.close()
        serial_db.close()


def test_parallel_extraction_failure_leaves_nothing_behind(tmp_path: Path, db: Database) -> None:
    slices = write_archive(tmp_path / "archive.bin")
    store = LayerStoreImpl(db, Overlay2(tmp_path / "overlay2"), workers=3)
    diff_ids = list(DIFF_IDS)
    diff_ids[1] = Digest.of(b"wrong")
    try:
        store.stage(None, [LayerJob(s, d) for s, d in zip(slices, diff_ids)])
        raised: BaseException | None = None
    except Exception as exc:  # noqa: BLE001 - inspected below
        raised = exc
    assert layer_dirs(store) == set() and short_links(store) == set()
    # the worker's error must reach the caller as itself (it has to survive pickling)
    assert isinstance(raised, DigestMismatchError), f"expected DigestMismatchError, got {raised!r}"


def test_vfs_with_file_slices(tmp_path: Path, db: Database) -> None:
    slices = write_archive(tmp_path / "archive.bin")
    store = LayerStoreImpl(db, Vfs(tmp_path / "vfs"), workers=3)
    staged = store.stage(None, [LayerJob(s, d) for s, d in zip(slices, DIFF_IDS)])
    assert visible(store.driver.diff_path(staged.new[CHAINS[2]])) == expected_union()
    store.discard(staged)


# --- removal and sweep ----------------------------------------------------------------------------


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_cleanup_after_image_delete(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    staged = store.stage(None, jobs_for([0, 1]))
    from dockyard.metadata import ImageRow

    with db.transaction():
        store.commit(staged)
        db.insert_image(ImageRow("sha256:" + "a" * 64, str(CHAINS[1]), None, "2024-01-01T00:00:00Z", 1, 0.0))
    with db.transaction():
        removed = db.delete_image("sha256:" + "a" * 64)
    store.cleanup([r.cache_id for r in removed])
    assert layer_dirs(store) == set() and short_links(store) == set()
    with pytest.raises(LayerNotFoundError):
        store.stack(CHAINS[1])
    with pytest.raises(LayerNotFoundError):
        store.export(CHAINS[0], lambda b: None)


@pytest.mark.parametrize("driver_name", DRIVERS)
def test_sweep_removes_orphan_directories(tmp_path: Path, db: Database, driver_name: str) -> None:
    store = make_store(tmp_path, db, driver_name)
    committed = store.stage(None, jobs_for([0, 1]))
    with db.transaction():
        store.commit(committed)
    kept_dirs, kept_links = layer_dirs(store), short_links(store)

    orphan = store.stage(CHAINS[1], jobs_for([2]))  # a crash after staging, before commit
    assert len(layer_dirs(store)) == 3
    home = store.driver.home
    (home / ".removing-deadbeef" / "diff" / "deep").mkdir(parents=True)  # a crash mid-remove
    (home / ".removing-deadbeef" / "diff" / "deep" / "f").write_text("x")
    (home / "half-created" / "diff").mkdir(parents=True)  # a crash inside driver.create
    if driver_name == "overlay2":
        os.symlink("../gone/diff", home / "l" / "DANGLINGSHORTLINK")
    store.sweep()
    assert layer_dirs(store) == kept_dirs
    assert short_links(store) == kept_links
    assert orphan.new  # the staged object still names it, but its directory is gone
    for chain, data in zip(CHAINS[:2], LAYERS[:2]):
        assert export(store, chain) == data
    store.sweep()  # idempotent
    assert layer_dirs(store) == kept_dirs


def test_commit_of_a_layer_removed_meanwhile_fails(tmp_path: Path, db: Database) -> None:
    store = make_store(tmp_path, db, "vfs")
    with db.transaction():
        store.commit(store.stage(None, jobs_for([0])))
    staged = store.stage(None, jobs_for([0, 1]))  # reuses layer 0
    with db.transaction():
        assert [r.chain_id for r in db.release_layer(str(CHAINS[0]))] == [str(CHAINS[0])]  # another process removed it
    with pytest.raises(InvalidContentError), db.transaction():
        store.commit(staged)
    store.discard(staged)


def test_staged_layers_type() -> None:
    staged = StagedLayers()
    assert staged.layers == [] and staged.new == {} and staged.scratch == []

