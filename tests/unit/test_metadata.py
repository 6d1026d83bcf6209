"""The metadata database: migrations, refcounts, refs, transactions and crash safety."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dockyard.errors import StorageError
from dockyard.metadata import Database, ImageRow, LayerRow
from dockyard.metadata.db import MIGRATIONS
from dockyard.oci.digest import Digest, chain_ids


def digest(n: int) -> str:
    return str(Digest.of(f"layer {n}".encode()))


def layer(chain: str, parent: str | None = None, cache: str | None = None, size: int = 10) -> LayerRow:
    return LayerRow(chain, chain, parent, cache or f"cache-{chain[-12:]}", size, size + 512, 0, 1.0)


def image(image_id: str, top: str | None, parent: str | None = None) -> ImageRow:
    return ImageRow(image_id, top, parent, "2024-01-01T00:00:00Z", 10, 2.0)


def refcounts(db: Database) -> dict[str, int]:
    return {row.chain_id: row.refcount for row in db.layers()}


def raw_query(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# --- schema ------------------------------------------------------------------------


def test_migrations_set_user_version(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Database(path).close()
    assert raw_query(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    tables = {r[0] for r in raw_query(path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"layers", "images", "refs", "blobs", "containers"} <= tables
    assert raw_query(path, "PRAGMA journal_mode") == [("wal",)]
    # reopening runs no migration twice (a second CREATE TABLE would fail)
    again = Database(path)
    again.close()
    assert raw_query(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]


def test_open_failure_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError):
        Database(tmp_path / "not-a-db")


# --- layers and refcounts ----------------------------------------------------------------


def test_layer_refcounts_follow_parents_and_images(db: Database) -> None:
    diff_ids = [Digest.of(f"diff {i}".encode()) for i in range(3)]
    base, mid, top = (str(c) for c in chain_ids(diff_ids))
    with db.transaction():
        db.insert_layer(layer(base))
        db.insert_layer(layer(mid, base))
        db.insert_layer(layer(top, mid))
    assert refcounts(db) == {base: 1, mid: 1, top: 0}
    assert db.layer(mid) == dataclasses.replace(layer(mid, base), refcount=1)
    row = db.layer(mid)
    assert row is not None and (row.parent, row.refcount, row.diff_id) == (base, 1, mid)

    with db.transaction():
        db.insert_image(image("sha256:" + "a" * 64, top))
        db.insert_image(image("sha256:" + "b" * 64, top))
        db.insert_image(image("sha256:" + "c" * 64, mid))
    assert refcounts(db) == {base: 1, mid: 2, top: 2}

    with db.transaction():
        assert db.delete_image("sha256:" + "a" * 64) == []
    assert refcounts(db) == {base: 1, mid: 2, top: 1}

    with db.transaction():
        removed = db.delete_image("sha256:" + "b" * 64)
    assert [r.chain_id for r in removed] == [top]  # mid is still held by image c
    assert refcounts(db) == {base: 1, mid: 1}

    with db.transaction():
        removed = db.delete_image("sha256:" + "c" * 64)
    assert [r.chain_id for r in removed] == [mid, base]  # the cascade, top down
    assert all(r.refcount == 0 for r in removed)
    assert [r.cache_id for r in removed] == [layer(mid).cache_id, layer(base).cache_id]
    assert db.layers() == [] and db.images() == []


def test_release_cascade_stops_at_a_shared_parent(db: Database) -> None:
    base, left, right = digest(1), digest(2), digest(3)
    with db.transaction():
        db.insert_layer(layer(base))
        db.insert_layer(layer(left, base))
        db.insert_layer(layer(right, base))
        db.acquire_layer(left)
        db.acquire_layer(right)
    assert refcounts(db) == {base: 2, left: 1, right: 1}
    with db.transaction():
        removed = db.release_layer(left)
    assert [r.chain_id for r in removed] == [left]
    assert refcounts(db) == {base: 1, right: 1}
    with db.transaction():
        db.acquire_layer(right)
        assert db.release_layer(right) == []
        removed = db.release_layer(right)
    assert [r.chain_id for r in removed] == [right, base]
    assert db.layers() == []


def test_release_of_unknown_layer_removes_nothing(db: Database) -> None:
    with db.transaction():
        assert db.release_layer(digest(99)) == []


def test_image_on_unknown_layer_is_refused(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError), db.transaction():
        db.insert_image(image("sha256:" + "d" * 64, digest(42)))
    assert db.images() == []


def test_delete_image_drops_refs_and_orphans_children(db: Database) -> None:
    base = digest(1)
    parent_id, child_id = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    with db.transaction():
        db.insert_layer(layer(base))
        db.insert_image(image(parent_id, base))
        db.insert_image(image(child_id, base, parent=parent_id))
        db.set_ref("docker.io/library/p:latest", parent_id, "tag")
        db.set_ref("docker.io/library/c:latest", child_id, "tag")
    assert db.children(parent_id) == [child_id]
    with db.transaction():
        assert db.delete_image(parent_id) == []
    assert db.ref("docker.io/library/p:latest") is None
    assert db.ref("docker.io/library/c:latest") is not None
    child = db.image(child_id)
    assert child is not None and child.parent is None
    assert refcounts(db) == {base: 1}
    with db.transaction():
        assert db.delete_image("sha256:" + "f" * 64) == []  # unknown: nothing


# --- refs ---------------------------------------------------------------------------


def test_set_ref_returns_the_previous_image(db: Database) -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    with db.transaction():
        db.insert_image(image(a, None))
        db.insert_image(image(b, None))
        assert db.set_ref("docker.io/library/x:1", a, "tag") is None
        assert db.set_ref("docker.io/library/x:1", a, "tag") is None  # same image: nothing replaced
        assert db.set_ref("docker.io/library/x:1", b, "tag") == a
        assert db.set_ref(f"docker.io/library/x@{a}", a, "digest") is None
    ref = db.ref("docker.io/library/x:1")
    assert ref is not None and (ref.image_id, ref.kind) == (b, "tag")
    assert [r.name for r in db.refs()] == ["docker.io/library/x:1", f"docker.io/library/x@{a}"]
    assert [r.name for r in db.refs(a)] == [f"docker.io/library/x@{a}"]
    with db.transaction():
        db.delete_ref("docker.io/library/x:1")
    assert db.ref("docker.io/library/x:1") is None


def test_ref_kind_is_checked(db: Database) -> None:
    a = "sha256:" + "a" * 64
    with db.transaction():
        db.insert_image(image(a, None))
    with pytest.raises(sqlite3.IntegrityError), db.transaction():
        db.set_ref("docker.io/library/x:1", a, "label")
    assert db.refs() == []


def test_images_with_prefix_and_blobs(db: Database) -> None:
    ids = ["sha256:" + c * 64 for c in "abc"] + ["sha256:ab" + "0" * 62]
    with db.transaction():
        for i in ids:
            db.insert_image(image(i, None))
        db.record_blob("sha256:" + "9" * 64, "sha256:" + "8" * 64, "application/vnd.oci.image.layer.v1.tar+gzip", 123)
        db.record_blob("sha256:" + "9" * 64, "sha256:" + "8" * 64, "application/vnd.oci.image.layer.v1.tar+gzip", 124)
    assert sorted(r.id for r in db.images_with_prefix("sha256:ab")) == sorted(["sha256:" + "ab" + "0" * 62])
    assert sorted(r.id for r in db.images_with_prefix("sha256:a")) == sorted([ids[0], ids[3]])
    assert db.blob_for_diff_id("sha256:" + "8" * 64) == [
        ("sha256:" + "9" * 64, "application/vnd.oci.image.layer.v1.tar+gzip", 124)]


# --- transactions ----------------------------------------------------------------------


def _populate(db: Database) -> None:
    with db.transaction():
        db.insert_layer(layer(digest(1)))
        db.insert_image(image("sha256:" + "a" * 64, digest(1)))
        db.set_ref("docker.io/library/old:latest", "sha256:" + "a" * 64, "tag")


def _state(db: Database) -> tuple:
    return (db.layers(), db.images(), db.refs(), db.blob_for_diff_id("sha256:" + "8" * 64))


def test_a_transaction_that_raises_rolls_back_everything(db: Database) -> None:
    _populate(db)
    before = _state(db)
    with pytest.raises(RuntimeError), db.transaction():
        db.insert_layer(layer(digest(2), digest(1)))
        db.insert_image(image("sha256:" + "b" * 64, digest(2)))
        db.set_ref("docker.io/library/old:latest", "sha256:" + "b" * 64, "tag")
        db.delete_image("sha256:" + "a" * 64)
        db.record_blob("sha256:" + "9" * 64, "sha256:" + "8" * 64, "t", 1)
        raise RuntimeError("fail in the middle")
    assert _state(db) == before
    # the connection is usable afterwards
    with db.transaction():
        db.insert_layer(layer(digest(3)))
    assert digest(3) in refcounts(db)


def test_a_nested_transaction_that_raises_rolls_back_the_outer_one(db: Database) -> None:
    _populate(db)
    before = _state(db)
    with pytest.raises(KeyboardInterrupt), db.transaction():
        db.insert_layer(layer(digest(2)))
        with db.transaction():
            db.insert_layer(layer(digest(3)))
            raise KeyboardInterrupt  # BaseException too
    assert _state(db) == before


def test_uncommitted_writes_are_invisible_to_other_connections(tmp_path: Path) -> None:
    writer = Database(tmp_path / "m.db")
    reader = Database(tmp_path / "m.db")
    try:
        with writer.transaction():
            writer.insert_layer(layer(digest(1)))
            assert reader.layer(digest(1)) is None  # WAL: readers see the last commit
        assert reader.layer(digest(1)) is not None
    finally:
        writer.close()
        reader.close()


def test_process_killed_mid_transaction_leaves_the_old_state(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    db = Database(path)
    _populate(db)
    before = _state(db)
    db.close()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from dockyard.metadata import Database, ImageRow, LayerRow
        db = Database(Path({str(path)!r}))
        with db.transaction() as conn:
            for i in range(2000):  # enough to spill pages to the WAL before the kill
                db.insert_layer(LayerRow(f"sha256:{{i:064x}}", "d", None, f"cache{{i}}", 1, 1, 0, 0.0))
            db.insert_image(ImageRow("sha256:" + "b" * 64, "sha256:" + "0" * 64, None, "t", 1, 0.0))
            db.set_ref("docker.io/library/old:latest", "sha256:" + "b" * 64, "tag")
            db.delete_image("sha256:" + "a" * 64)
            conn.execute("PRAGMA user_version=99")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert raw_query(path, "PRAGMA integrity_check") == [("ok",)]
    db = Database(path)
    try:
        assert _state(db) == before
        assert raw_query(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
        # nothing is left locked: a new write transaction goes through
        with db.transaction():
            db.insert_layer(layer(digest(5)))
        assert db.layer(digest(5)) is not None
    finally:
        db.close()


def test_process_killed_after_commit_keeps_the_new_state(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    Database(path).close()
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from dockyard.metadata import Database, LayerRow
        db = Database(Path({str(path)!r}))
        with db.transaction():
            db.insert_layer(LayerRow("sha256:" + "c" * 64, "d", None, "cache", 1, 1, 0, 0.0))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    db = Database(path)
    try:
        assert db.layer("sha256:" + "c" * 64) is not None
    finally:
        db.close()
