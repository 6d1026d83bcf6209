"""Snapshotters on both drivers: prepare, view, mounts, diff, commit, usage, remove, GraphDriver;
and overlay2's crash safety (link before short link, an empty link never costs ``l/``)."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.images import directory, file, layer_tar_bytes  # noqa: E402

from dockyard.metadata import Database  # noqa: E402
from dockyard.oci.digest import Digest, chain_ids  # noqa: E402
from dockyard.image.layerstore import LayerJob  # noqa: E402
from dockyard.storage.driver import DRIVERS, Overlay2, snapshotter_for  # noqa: E402
from dockyard.storage.layers import LayerStoreImpl  # noqa: E402
from dockyard.storage.mount import mount_all, unmount  # noqa: E402
from dockyard.storage.snapshotter import Snapshotter  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mounts")

BASE = layer_tar_bytes([directory("etc"), file("etc/keep", b"keep\n"), file("etc/drop", b"drop\n")])
TOP = layer_tar_bytes([file("etc/second", b"2\n")])
CHAIN = chain_ids([Digest.of(BASE), Digest.of(TOP)])[-1]


@pytest.fixture(params=["overlay2", "fuse-overlayfs", "vfs"])
def snap(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Snapshotter]:
    driver = DRIVERS[request.param](tmp_path / request.param)
    (tmp_path / "tmp").mkdir()
    db = Database(tmp_path / "db")
    layers = LayerStoreImpl(db, driver)
    staged = layers.stage(None, [LayerJob(lambda: io.BytesIO(BASE)), LayerJob(lambda: io.BytesIO(TOP))])
    with db.transaction():
        layers.commit(staged)
    yield snapshotter_for(driver, layers, tmp_path / "tmp")
    db.close()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    (tmp_path / "mnt").mkdir()
    return tmp_path / "mnt"


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isreg() else b"") for m in tar}  # type: ignore[union-attr]


def test_prepare_change_diff_commit(snap: Snapshotter, tmp_path: Path, target: Path) -> None:
    key = str(tmp_path / "active")
    parent = snap.committed(CHAIN)
    mount_all(snap.prepare(key, parent), target)
    try:
        assert (target / "etc/keep").read_bytes() == b"keep\n" and (target / "etc/second").exists()
        (target / "etc/drop").unlink()
        (target / "etc/new").write_bytes(b"new file\n")
    finally:
        unmount(target)
    out = io.BytesIO()
    assert snap.diff(key, parent, out) is True
    members = _members(out.getvalue())
    assert members["etc/new"] == b"new file\n" and "etc/.wh.drop" in members and "etc/keep" not in members
    usage = snap.usage(key, parent)
    assert usage.size == len(b"new file\n") and usage.inodes >= 1
    staged = snap.commit(key, CHAIN)
    assert staged.layers[-1].diff_id == Digest.of(out.getvalue()) and len(staged.layers) == 3
    snap.layers.discard(staged)  # type: ignore[attr-defined]
    snap.remove(key)
    snap.remove(key)  # idempotent
    assert not Path(key).exists()


def test_nothing_changed(snap: Snapshotter, tmp_path: Path) -> None:
    key = str(tmp_path / "idle")
    snap.prepare(key, CHAIN)
    assert snap.diff(key, CHAIN, io.BytesIO()) is False
    assert snap.usage(key, CHAIN).size == 0


def test_view_is_read_only(snap: Snapshotter, tmp_path: Path, target: Path) -> None:
    mount_all(snap.view(str(tmp_path / "view"), CHAIN), target)
    try:
        assert (target / "etc/second").read_bytes() == b"2\n"
        with pytest.raises(OSError):
            (target / "etc/x").write_bytes(b"x")
    finally:
        unmount(target)


def test_no_parent_is_an_empty_root(snap: Snapshotter, tmp_path: Path, target: Path) -> None:
    key = str(tmp_path / "scratch")
    mount_all(snap.prepare(key, None), target)
    try:
        assert os.listdir(target) == []
        (target / "f").write_bytes(b"f")
    finally:
        unmount(target)
    out = io.BytesIO()
    assert snap.diff(key, None, out) and _members(out.getvalue()) == {"f": b"f"}


def test_graph_driver(snap: Snapshotter, tmp_path: Path) -> None:
    image = snap.graph_driver(CHAIN).to_json()
    container = snap.graph_driver(CHAIN, key=str(tmp_path / "c"), merged=str(tmp_path / "rootfs")).to_json()
    assert image["Name"] == container["Name"] == snap.name
    data = container["Data"]
    assert isinstance(data, dict) and data["UpperDir"] == str(tmp_path / "c" / "diff")
    assert data["MergedDir"] == str(tmp_path / "rootfs")
    if snap.name in ("overlay2", "fuse-overlayfs"):  # the same layout
        assert isinstance(image["Data"], dict) and len(image["Data"]["LowerDir"].split(":")) == 1
        assert len(data["LowerDir"].split(":")) == 2
    else:
        assert image["Data"] is None


def test_overlay_link_is_written_before_its_short_link(tmp_path: Path) -> None:
    driver = Overlay2(tmp_path / "overlay2")
    driver.create("a" * 64, [])
    short = (tmp_path / "overlay2" / ("a" * 64) / "link").read_text()
    assert len(short) == 26 and os.readlink(tmp_path / "overlay2" / "l" / short) == f"../{'a' * 64}/diff"
    assert not any(n.startswith(".") for n in os.listdir(tmp_path / "overlay2" / ("a" * 64)))  # no temp file left


def test_overlay_remove_with_an_empty_link_keeps_l(tmp_path: Path) -> None:
    driver = Overlay2(tmp_path / "overlay2")
    kept = driver.create("b" * 64, [])
    (tmp_path / "overlay2" / "deadbeef" / "diff").mkdir(parents=True)
    (tmp_path / "overlay2" / "deadbeef" / "link").write_text("")
    driver.remove("deadbeef")
    driver.sweep({"b" * 64})
    assert (tmp_path / "overlay2" / "l").is_dir() and kept.is_dir()
    assert driver.layer_problems("b" * 64) == [] and not (tmp_path / "overlay2" / "deadbeef").exists()


def test_overlay_lower_names_every_layer_below_nearest_first(tmp_path: Path) -> None:
    """A layer's ``lower`` is built from its parent's (Docker's layout), so it must still name the whole stack."""
    driver = Overlay2(tmp_path / "overlay2")
    ids = [c * 64 for c in "abcd"]
    for n, cache_id in enumerate(ids):
        driver.create(cache_id, ids[:n])
    shorts = [driver.short_link(c) for c in ids]
    assert (tmp_path / "overlay2" / ids[3] / "lower").read_text() == ":".join(f"l/{s}" for s in reversed(shorts[:3]))
    assert (tmp_path / "overlay2" / ids[1] / "lower").read_text() == f"l/{shorts[0]}"
    assert not (tmp_path / "overlay2" / ids[0] / "lower").exists()
