"""Smoke tests for tests/helpers: deterministic tars and a private dockerd."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # make `tests.helpers` importable

from tests.helpers import images  # noqa: E402
from tests.helpers.dockerd import (  # noqa: E402,F401  (dockerd_fixture -> `dockerd`)
    BUSYBOX_TAG, Dockerd, busybox_image, dockerd_fixture, multilayer_docker_archive,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dyk-smoke")


def test_busybox_tar_is_deterministic(tmp_path: Path) -> None:
    if not images.BUSYBOX.exists():
        pytest.skip("/bin/busybox missing")
    a = images.busybox_rootfs_tar(tmp_path / "a.tar", extra={"etc/hello": b"hi\n"})
    b = images.busybox_rootfs_tar(tmp_path / "b.tar", extra={"etc/hello": b"hi\n"})
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    names = images.tar_names(a)
    assert names == sorted(names)
    assert {"bin/busybox", "bin/sh", "tmp", "etc/passwd", "etc/group", "etc/hello"} <= set(names)
    # Compressed variants round-trip through tarfile / the CLI tools.
    assert images.tar_names(images.gzip_file(a)) == names
    assert images.gzip_file(a, tmp_path / "1.gz").read_bytes() == \
        images.gzip_file(a, tmp_path / "2.gz").read_bytes()
    for algo in ("xz", "bzip2", "zstd"):
        out = images.compress_file(a, algo)  # type: ignore[arg-type]
        assert out.suffix in (".xz", ".bz2", ".zst") and images.tar_names(out) == names


def test_layer_tar_crafts_odd_members(tmp_path: Path) -> None:
    import tarfile

    p = images.layer_tar(tmp_path / "evil.tar", [
        images.directory("etc"),
        images.whiteout("etc/motd"),
        images.opaque_whiteout("var"),
        images.file("../escape", b"x"),
        images.file("/abs", b"x"),
        images.symlink("link", "/etc"),
        images.file("link/passwd", b"pwned"),
        images.hardlink("hl", "../../etc/passwd"),
        images.chardev("dev/null", 1, 3),
        images.blockdev("dev/sda", 8, 0),
        images.fifo("fifo"),
        images.file("x", b"v", xattrs={"user.k": b"\xff\x00v", "security.capability": b"c"}),
    ])
    with tarfile.open(p) as tf:
        m = {t.name: t for t in tf.getmembers()}
    assert list(m)[:4] == ["etc", "etc/.wh.motd", "var/.wh..wh..opq", "../escape"]
    assert "/abs" in m and m["hl"].islnk() and m["hl"].linkname == "../../etc/passwd"
    assert m["dev/null"].ischr() and (m["dev/null"].devmajor, m["dev/null"].devminor) == (1, 3)
    assert m["dev/sda"].isblk() and m["fifo"].isfifo()
    assert m["x"].pax_headers["SCHILY.xattr.user.k"].encode("utf-8", "surrogateescape") \
        == b"\xff\x00v"


def test_import_and_run(dockerd: Dockerd, workdir: Path) -> None:
    busybox_image(dockerd, workdir)
    r = dockerd.run("run", "--rm", "--network", "none", BUSYBOX_TAG, "/bin/echo", "hi")
    assert r.stdout == "hi\n"


def test_multilayer_archive_has_whiteouts(dockerd: Dockerd, workdir: Path) -> None:
    archive = multilayer_docker_archive(dockerd, workdir)
    layers = images.docker_archive_layers(archive)
    assert len(layers) >= 5
    members = [t for ms in layers.values() for t in ms]
    names = {t.name for t in members}
    assert "data/.wh.delete-me.txt" in names
    assert "data/keep/.wh.delete-too.txt" in names
    assert "data/replace/.wh..wh..opq" in names
    by = {t.name: t for t in members}
    # Either name may come first in the layer; the second is the tar hardlink.
    links = {(t.name, t.linkname) for t in members if t.islnk()}
    assert links & {("data/links/hard", "data/links/target"),
                    ("data/links/target", "data/links/hard")}
    assert by["data/links/sym"].issym()
    assert by["data/suid"].mode & 0o4000 and by["data/sgid"].mode & 0o2000
    assert "SCHILY.xattr.security.capability" in by["data/xattrs/cap.bin"].pax_headers
    cfg = dockerd.inspect("dyk-multilayer:latest")["Config"]
    assert "DYK_ENV=hello" in cfg["Env"] and cfg["Labels"]["org.dockyard.test"] == "multilayer"
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo multilayer"]
