"""Bad input gets one clear error and leaves the store as it was; kill -9 leaves it consistent."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import Dockyard, needs_root, tree_digest
from tests.helpers import images

pytestmark = needs_root


def assert_consistent(root: Path) -> None:
    """Rows and directories agree, refcounts are what the rows imply, every image has its config."""
    db = sqlite3.connect(root / "dockyard.db")
    layers = {row[0]: row for row in db.execute("SELECT chain_id, parent, cache_id, refcount FROM layers")}
    images_ = db.execute("SELECT id, top_layer FROM images").fetchall()
    expected = {chain: 0 for chain in layers}
    for _, parent, _, _ in layers.values():
        if parent:
            expected[parent] += 1
    for image_id, top in images_:
        if top:
            expected[top] += 1
        assert (root / "content" / "blobs" / "sha256" / image_id[7:]).is_file()
    assert {c: row[3] for c, row in layers.items()} == expected
    driver = (root / "storage-driver").read_text().strip()
    dirs = {p.name for p in (root / driver).iterdir() if p.name != "l"}
    assert dirs == {row[2] for row in layers.values()}
    for (ref_image,) in db.execute("SELECT image_id FROM refs"):
        assert ref_image in {i for i, _ in images_}
    db.close()


def _archive_with_layer(tmp_path: Path, layer: bytes, name: str = "evil:1") -> Path:
    """A docker-archive of one layer, whatever that layer holds."""
    import hashlib
    import json

    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": "config.json", "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
    path = tmp_path / f"{name.replace(':', '_')}.tar"
    with tarfile.open(path, "w") as tar:
        for member, data in (("layer.tar", layer), ("config.json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def seeded(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> str:
    """A store with one image in it, and its checksum."""
    dockyard("import", str(busybox_tar), "seed:1")
    return tree_digest(store_root)


def _fails_cleanly(dockyard: Dockyard, store_root: Path, before: str, *args: str, input: bytes | None = None) -> str:
    result = dockyard(*args, input=input, check=False)
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert tree_digest(store_root) == before
    assert_consistent(store_root)
    return lines[0]


def test_truncated_archive(dockyard: Dockyard, store_root: Path, seeded: str, tmp_path: Path, busybox_tar: Path) -> None:
    other = Dockyard(tmp_path / "other")
    other("import", "-m", "other", str(busybox_tar), "other:1")
    archive = tmp_path / "full.tar"
    other("save", "-o", str(archive), "other:1")
    data = archive.read_bytes()
    for cut in (len(data) // 2, 1024 + 300):
        (tmp_path / "cut.tar").write_bytes(data[:cut])
        _fails_cleanly(dockyard, store_root, seeded, "load", "-i", str(tmp_path / "cut.tar"))
    _fails_cleanly(dockyard, store_root, seeded, "load", input=data[: len(data) // 3])


def test_corrupted_layer_digest_mismatch(dockyard: Dockyard, store_root: Path, seeded: str, tmp_path: Path, busybox_tar: Path) -> None:
    content = os.urandom(100_000)  # a layer the store does not have yet, so it is read
    archive = _archive_with_layer(tmp_path, images.layer_tar_bytes([images.file("blob", content)]))
    data = bytearray(archive.read_bytes())
    data[data.find(content) + 5000] ^= 0xFF  # the tar stays well-formed; its digest changes
    (tmp_path / "bad.tar").write_bytes(bytes(data))
    line = _fails_cleanly(dockyard, store_root, seeded, "load", "-i", str(tmp_path / "bad.tar"))
    assert "digest mismatch" in line


@pytest.mark.parametrize(
    "entries",
    [
        [images.file("../escape", b"x")],
        [images.file("a/../../escape", b"x")],
        [images.symlink("link", "/"), images.file("link/escape", b"x")],
        [images.symlink("up", "../../.."), images.file("ok", b"x")],
        [images.hardlink("passwd", "../../../../etc/passwd")],
    ],
    ids=["dotdot", "dotdot-inner", "through-symlink", "symlink-climbs", "hardlink-out"],
)
def test_layer_escapes_are_refused(dockyard: Dockyard, store_root: Path, seeded: str, tmp_path: Path, entries: list) -> None:  # type: ignore[type-arg]
    sentinel = tmp_path / "outside"
    sentinel.mkdir()
    archive = _archive_with_layer(tmp_path, images.layer_tar_bytes(entries))
    before_outside = sorted(os.listdir(tmp_path))
    line = _fails_cleanly(dockyard, store_root, seeded, "load", "-i", str(archive))
    assert "outside of the layer root" in line or "symlink" in line
    assert sorted(os.listdir(tmp_path)) == before_outside
    assert not Path("/escape").exists()


def test_absolute_member_names_stay_inside(dockyard: Dockyard, store_root: Path, tmp_path: Path) -> None:
    archive = _archive_with_layer(tmp_path, images.layer_tar_bytes([images.file("/etc/abs-name", b"inside")]), "abs:1")
    dockyard("load", "-i", str(archive))
    assert not Path("/etc/abs-name").exists()
    found = [p for p in (store_root / "overlay2").glob("*/diff/etc/abs-name")]
    assert len(found) == 1 and found[0].read_bytes() == b"inside"


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"this is not an archive at all" * 100, "invalid archive"),
        (b"", "invalid archive"),
    ],
)
def test_not_an_archive(dockyard: Dockyard, store_root: Path, seeded: str, payload: bytes, message: str) -> None:
    assert message in _fails_cleanly(dockyard, store_root, seeded, "load", input=payload)


def test_oci_layout_unknown_media_type(dockyard: Dockyard, store_root: Path, seeded: str, tmp_path: Path) -> None:
    import hashlib
    import json

    layer = images.layer_tar_bytes([images.file("f", b"x")])
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
    blobs = {hashlib.sha256(b).hexdigest(): b for b in (layer, config)}
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": len(config)},
        "layers": [{"mediaType": "application/x-unknown-layer", "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": len(layer)}],
    }).encode()  # fmt: skip
    blobs[hashlib.sha256(manifest).hexdigest()] = manifest
    index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(), "size": len(manifest)}]}).encode()
    path = tmp_path / "oci.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + [(f"blobs/sha256/{k}", v) for k, v in blobs.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert "unsupported layer media type" in _fails_cleanly(dockyard, store_root, seeded, "load", "-i", str(path))


def test_malformed_reference_in_archive(dockyard: Dockyard, store_root: Path, seeded: str, tmp_path: Path) -> None:
    archive = _archive_with_layer(tmp_path, images.layer_tar_bytes([images.file("f", b"x")]), "UPPER:case")
    assert "invalid reference format" in _fails_cleanly(dockyard, store_root, seeded, "load", "-i", str(archive))


def test_unknown_image_and_bad_reference(dockyard: Dockyard, store_root: Path, seeded: str) -> None:
    assert _fails_cleanly(dockyard, store_root, seeded, "rmi", "missing:tag") == "Error response from daemon: No such image: missing:tag"
    assert "invalid reference format" in _fails_cleanly(dockyard, store_root, seeded, "tag", "seed:1", "a//b")
    out = str(store_root.parent / "out.tar")
    assert _fails_cleanly(dockyard, store_root, seeded, "save", "-o", out, "missing") == "Error response from daemon: No such image: missing"
    assert _fails_cleanly(dockyard, store_root, seeded, "save", "-o", out, "missing:1") == "Error response from daemon: reference does not exist"
    assert not os.path.exists(out)


def test_full_disk(tmp_path: Path, busybox_tar: Path) -> None:
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mountpoint)], check=True)
    try:
        small = Dockyard(mountpoint / "root")
        small("import", "-m", "fits", str(busybox_tar), "fits:1")
        before = tree_digest(mountpoint / "root")
        big = tmp_path / "big.tar"
        images.busybox_rootfs_tar(big, extra={"big/blob": os.urandom(2 * 1024 * 1024)})
        result = small("import", str(big), "big:1", check=False)
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr
        assert tree_digest(mountpoint / "root") == before
        assert_consistent(mountpoint / "root")
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_kill_9_at_any_point_leaves_store_consistent(dockyard: Dockyard, store_root: Path, tmp_path: Path, busybox_tar: Path) -> None:
    """Kill loads and rmis at many points in time; every survivor state is the old one or the new one."""
    layers = [images.busybox_rootfs_tar(tmp_path / "base.tar")]
    archive_root = Dockyard(tmp_path / "src")
    archive_root("import", str(layers[0]), "multi:1")
    for i in range(4):
        extra = tmp_path / f"extra{i}.tar"
        images.layer_tar(extra, [images.file(f"data/{i}/{n}", os.urandom(2000)) for n in range(300)])
        archive_root("import", "-m", str(i), str(extra), f"extra:{i}")
    archive = tmp_path / "all.tar"
    archive_root("save", "-o", str(archive), "multi:1", "extra:0", "extra:1", "extra:2", "extra:3")
    cmd = [sys.executable, "-m", "dockyard", "--root", str(store_root)]
    for attempt, delay in enumerate([0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8]):
        proc = subprocess.Popen(cmd + ["load", "-i", str(archive)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        listing = dockyard("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()  # sweeps: alone
        assert_consistent(store_root)
        assert not os.listdir(store_root / "tmp")
        for name in listing:
            # whatever is listed is whole: it saves, and every layer re-hashes
            assert dockyard.raw("save", name).returncode == 0
        if attempt % 2:
            for name in listing:
                dockyard("rmi", name)
    dockyard("load", "-i", str(archive))
    assert_consistent(store_root)
