"""dockyard and the real Docker 20.10 / skopeo exchange images without loss."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard, needs_root

pytestmark = [needs_root, pytest.mark.docker]

STAT_SCRIPT = 'find /data | sort | while read f; do stat -c "%n %a %u %g %s %F %h" "$f"; done; cat /data/keep/a.txt /data/replace/new.txt'


@contextmanager
def mounted_image(root: Path, name: str, target: Path) -> Iterator[Path]:
    """The image's layers as one real read-only overlay mount."""
    from dockyard.engine import Engine
    from dockyard.oci.digest import Digest
    from dockyard.storage.mount import mount_all, unmount

    engine = Engine(root)
    try:
        row = engine.images.resolve(name)
        caches = engine.layers.cache_ids(Digest.parse(row.top_layer))
        target.mkdir(parents=True, exist_ok=True)
        mount_all(engine.driver.mounts(caches, None), target)
        try:
            yield target
        finally:
            unmount(target)
    finally:
        engine.close()


def _run_busybox_script(root: Path, script: str) -> str:
    """Run a shell script against a tree with the host's busybox, chrooted (no runtime needed)."""
    return subprocess.run(["chroot", str(root), "/bin/busybox", "sh", "-c", script], capture_output=True, text=True, check=True).stdout


def test_docker_loads_our_save_with_same_id(dockerd, dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image_id = dockyard("import", "-c", 'CMD ["/bin/echo", "hello from dockyard"]', str(busybox_tar), "dyk/interop:1").stdout.strip()
    archive = tmp_path / "ours.tar"
    dockyard("save", "-o", str(archive), "dyk/interop:1")
    out = dockerd.run("load", "-i", str(archive)).stdout
    assert "Loaded image: dyk/interop:1" in out
    assert dockerd.image_id("dyk/interop:1") == image_id
    assert dockerd.run("run", "--rm", "--network", "none", "dyk/interop:1").stdout == "hello from dockyard\n"
    dockerd.run("rmi", "dyk/interop:1")


def test_we_load_docker_save_with_same_ids_and_tree(dockerd, multilayer_archive: Path, dockyard: Dockyard, store_root: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docker_info = dockerd.inspect("dyk-multilayer:latest")
    assert dockyard("load", "-i", str(multilayer_archive)).stdout == "Loaded image: dyk-multilayer:latest\n"
    ours = json.loads(dockyard("inspect", "dyk-multilayer").stdout)[0]
    assert ours["Id"] == docker_info["Id"]
    assert ours["RepoTags"] == ["dyk-multilayer:latest"]
    assert ours["RootFS"]["Layers"] == docker_info["RootFS"]["Layers"]
    assert ours["Size"] == docker_info["Size"]
    expected = dockerd.run("run", "--rm", "--network", "none", "dyk-multilayer:latest", "sh", "-c", STAT_SCRIPT).stdout
    with mounted_image(store_root, "dyk-multilayer", tmp_path / "merged") as merged:
        assert _run_busybox_script(merged, STAT_SCRIPT) == expected
        assert not (merged / "data" / "delete-me.txt").exists()
        assert not (merged / "data" / "replace" / "old.txt").exists()
        capability = subprocess.run(["getfattr", "-n", "security.capability", "--only-values", str(merged / "data/xattrs/cap.bin")], capture_output=True)
        assert capability.returncode == 0 and capability.stdout


def test_resave_is_byte_identical_per_layer(dockerd, multilayer_archive: Path, dockyard: Dockyard, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dockyard("load", "-i", str(multilayer_archive))
    ours = tmp_path / "resaved.tar"
    dockyard("save", "-o", str(ours), "dyk-multilayer:latest")
    with tarfile.open(multilayer_archive) as theirs_tar, tarfile.open(ours) as ours_tar:
        theirs_manifest = json.load(theirs_tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        ours_manifest = json.load(ours_tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        assert len(theirs_manifest["Layers"]) == len(ours_manifest["Layers"])
        for theirs_name, ours_name in zip(theirs_manifest["Layers"], ours_manifest["Layers"]):
            assert theirs_tar.extractfile(theirs_name).read() == ours_tar.extractfile(ours_name).read()  # type: ignore[union-attr]
    # and Docker takes the re-saved archive back as the same image
    dockerd.run("rmi", "dyk-multilayer:latest")
    dockerd.run("load", "-i", str(ours))
    assert dockerd.run("run", "--rm", "--network", "none", "dyk-multilayer:latest").stdout == "multilayer\n"


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_reads_our_archive_and_we_read_its_oci_layout(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "sk:1").stdout.strip()
    archive = tmp_path / "ours.tar"
    dockyard("save", "-o", str(archive), "sk:1")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"], capture_output=True, text=True, check=True).stdout)
    assert info["Layers"] == json.loads(dockyard("inspect", "sk:1").stdout)[0]["RootFS"]["Layers"]
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci-dir'}:sk:1"], check=True)
    assert (tmp_path / "oci-dir" / "index.json").is_file()
    oci_archive = tmp_path / "oci.tar"
    subprocess.run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci-archive:{oci_archive}:docker.io/library/sk:2"], check=True)
    fresh = Dockyard(tmp_path / "fresh")
    out = fresh("load", "-i", str(oci_archive)).stdout
    assert out == "Loaded image: sk:2\n"
    # skopeo rewrites the config as an OCI config (a new image ID); the layers stay the same
    loaded = json.loads(fresh("inspect", "sk:2").stdout)[0]
    assert loaded["RootFS"]["Layers"] == info["Layers"]
    assert loaded["Id"] != image_id


def test_history_and_inspect_match_docker(dockerd, multilayer_archive: Path, dockyard: Dockyard) -> None:  # type: ignore[no-untyped-def]
    dockyard("load", "-i", str(multilayer_archive))
    fmt = "{{.CreatedBy}}|{{.Size}}|{{.Comment}}"
    ours = dockyard("history", "--no-trunc", "--format", fmt, "dyk-multilayer").stdout
    theirs = dockerd.run("history", "--no-trunc", "--format", fmt, "dyk-multilayer").stdout
    assert ours == theirs
    table = dockyard("history", "dyk-multilayer").stdout.splitlines()
    assert table[0].split()[:4] == ["IMAGE", "CREATED", "CREATED", "BY"]
    assert table[1].startswith(dockerd.image_id("dyk-multilayer")[7:19])
    assert all(line.startswith("<missing>") for line in table[2:])
    mine = json.loads(dockyard("inspect", "dyk-multilayer").stdout)[0]
    docker = dockerd.inspect("dyk-multilayer")
    for key in ("Id", "RepoTags", "Comment", "Created", "Container", "ContainerConfig", "DockerVersion",
                "Author", "Config", "Architecture", "Os", "Size", "VirtualSize", "RootFS"):  # fmt: skip
        assert mine[key] == docker[key], key
    row = "{{.Repository}} {{.Tag}} {{.ID}} {{.Size}} {{.VirtualSize}}"
    assert dockyard("images", "--format", row, "dyk-multilayer").stdout == dockerd.run("images", "--format", row, "dyk-multilayer").stdout


def test_several_images_in_one_archive_both_ways(dockerd, dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = dockyard("import", "-m", "one", str(busybox_tar), "dyk/multi:one").stdout.strip()
    second = dockyard("import", "-m", "two", str(busybox_tar), "dyk/multi:two").stdout.strip()
    untagged = dockyard("import", "-m", "three", str(busybox_tar)).stdout.strip()
    archive = tmp_path / "several.tar"
    dockyard("save", "-o", str(archive), "dyk/multi", untagged[7:19])
    out = dockerd.run("load", "-i", str(archive)).stdout
    assert "Loaded image: dyk/multi:one" in out and "Loaded image: dyk/multi:two" in out
    assert f"Loaded image ID: {untagged}" in out
    assert dockerd.image_id("dyk/multi:one") == first and dockerd.image_id("dyk/multi:two") == second
    theirs = tmp_path / "theirs.tar"
    dockerd.run("save", "-o", str(theirs), "dyk/multi:one", "dyk/multi:two", untagged)
    fresh = Dockyard(tmp_path / "fresh")
    lines = sorted(fresh("load", "-i", str(theirs)).stdout.splitlines())
    assert lines == sorted(["Loaded image: dyk/multi:one", "Loaded image: dyk/multi:two", f"Loaded image ID: {untagged}"])
    dockerd.run("rmi", "dyk/multi:one", "dyk/multi:two", untagged)
