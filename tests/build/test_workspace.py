"""Build workspaces: the change set of a step as an overlay upper directory holds it,
also where a step works on a full copy (vfs), both through the snapshotter."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.build.workspace import Workspace, drain
from dockyard.metadata import Database
from dockyard.oci.digest import Digest
from dockyard.storage.driver import DRIVERS, new_cache_id, snapshotter_for
from dockyard.storage.layers import LayerStoreImpl
from dockyard.storage.snapshotter import Committed


def _members(ws: Workspace) -> dict[str, tuple[bytes, int, bytes]]:
    buf = io.BytesIO()
    ws.diff(buf, None)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        return {m.name: (m.type, m.mode, tar.extractfile(m).read() if m.isreg() else b"") for m in tar}  # type: ignore[union-attr]


@pytest.mark.parametrize("driver_name", ["overlay2", "vfs"])
def test_change_set(tmp_path: Path, driver_name: str) -> None:
    driver = DRIVERS[driver_name](tmp_path / driver_name)
    (tmp_path / "tmp").mkdir()
    snapshotter = snapshotter_for(driver, LayerStoreImpl(Database(tmp_path / "db"), driver), tmp_path / "tmp")
    cache_id = new_cache_id()
    base = driver.create(cache_id, [])
    for name, data in (("etc/keep", b"k"), ("etc/change", b"old"), ("etc/drop", b"d"), ("gone/x", b"x")):
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(data)
    parent = Committed(Digest.parse("sha256:" + "a" * 64), (cache_id,))
    ws = Workspace(snapshotter, parent, tmp_path / "tmp").open()
    try:
        (ws.rootfs / "etc/change").write_bytes(b"new content")
        (ws.rootfs / "etc/drop").unlink()
        (ws.rootfs / "gone/x").unlink()
        (ws.rootfs / "gone").rmdir()
        (ws.rootfs / "new/dir").mkdir(parents=True)
        (ws.rootfs / "new/dir/file").write_bytes(b"f")
        os.symlink("keep", ws.rootfs / "etc/link")
        ws.close()
        members = _members(ws)
    finally:
        ws.remove()
        drain()
    assert members["etc/change"][2] == b"new content"
    assert members["etc/.wh.drop"][0] == tarfile.REGTYPE and ".wh.gone" in members
    assert members["new/dir/file"][2] == b"f" and members["etc/link"][0] == tarfile.SYMTYPE
    assert "etc/keep" not in members and "gone/.wh.x" not in members
