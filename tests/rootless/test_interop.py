"""Podman rootless (Debian ``podman``, as the same user, its own storage under the test's directory) loads
what dockyard saved, and dockyard loads what Podman saved: same image IDs, same owners on the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import images
from tests.helpers.rootless import RootlessUser
from tests.registry_client.conftest import docker_archive

pytestmark = pytest.mark.skipif(shutil.which("podman") is None, reason="needs Debian's podman")


class Podman:
    """``podman`` as the user, with its store in the test's directory (its runroot must be short: podman
    refuses one longer than 50 characters, so it lives in its own directory under /tmp)."""

    def __init__(self, user: RootlessUser, runroot: Path) -> None:
        self.user = user
        self.storage = user.dir / "podman"
        self.runroot = runroot

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["podman", "--root", str(self.storage), "--runroot", str(self.runroot), "--storage-driver", "overlay",
                "--events-backend", "none", "--cgroup-manager", "cgroupfs", *args]  # fmt: skip
        proc = subprocess.run(self.user.command(argv), capture_output=True, text=True, timeout=300, cwd=self.user.work)
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
        return proc


@pytest.fixture
def podman(rootless_user: RootlessUser) -> Iterator[Podman]:
    runroot = Path(tempfile.mkdtemp(prefix="dypod-"))
    os.chown(runroot, rootless_user.uid, rootless_user.gid)
    try:
        yield Podman(rootless_user, runroot)
    finally:
        for pid in rootless_user.processes():  # podman's pause process, before its runroot goes
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["umount", "-R", "-l", str(runroot)], capture_output=True)
        shutil.rmtree(runroot, ignore_errors=True)


def owned_archive(user: RootlessUser) -> Path:
    layers = [images.layer_tar_bytes(images.busybox_rootfs_entries()), images.layer_tar_bytes([
        images.directory("home"), images.directory("home/app", uid=1000, gid=1000),
        images.file("home/app/data", b"mine\n", uid=1000, gid=1000), images.whiteout("bin/ls"),
    ])]  # fmt: skip
    path = docker_archive(user.work / "app.tar", layers, "localhost/app:1")
    os.chown(path, user.uid, user.gid)
    return path


def files_named(top: Path, name: str) -> list[Path]:
    return [p for p in top.glob(f"**/diff/{name}") if not p.is_symlink()]


def test_podman_loads_what_dockyard_saved(rootless_user: RootlessUser, podman: Podman) -> None:
    user = rootless_user
    owned_archive(user)
    user.run(["load", "-i", "app.tar"], check=True)
    image_id = user.run(["image", "inspect", "--format", "{{.Id}}", "localhost/app:1"], check=True).stdout.strip()
    user.run(["save", "-o", "from-dockyard.tar", "localhost/app:1"], check=True)
    loaded = podman("load", "-i", "from-dockyard.tar")
    assert "localhost/app:1" in loaded.stdout
    assert podman("image", "inspect", "--format", "{{.Id}}", "localhost/app:1").stdout.strip() == image_id.removeprefix("sha256:")
    # Podman maps the same subordinate range: the uid-1000 file has the same host owner in both stores
    [mine] = files_named(user.store / "overlay2", "home/app/data")
    [theirs] = files_named(podman.storage, "home/app/data")
    assert os.stat(theirs).st_uid == os.stat(mine).st_uid == user.host_id(1000)


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_dockyard_loads_what_podman_saved(rootless_user: RootlessUser, podman: Podman, fmt: str) -> None:
    user = rootless_user
    owned_archive(user)
    podman("load", "-i", "app.tar")
    image_id = podman("image", "inspect", "--format", "{{.Id}}", "localhost/app:1").stdout.strip()
    podman("save", "--format", fmt, "-o", "from-podman.tar", "localhost/app:1")
    loaded = user.run(["load", "-i", "from-podman.tar"], check=True)
    assert loaded.returncode == 0
    listed = user.run(["images", "--no-trunc", "--format", "{{.ID}}"], check=True).stdout.split()
    # an OCI archive holds Podman's config converted to OCI's media type: the ID is that config's digest
    assert listed == [f"sha256:{image_id}" if fmt == "docker-archive" else oci_config_digest(user.work / "from-podman.tar")]
    [data] = files_named(user.store / "overlay2", "home/app/data")
    assert os.stat(data).st_uid == user.host_id(1000)
    user.run(["save", "-o", "again.tar", listed[0]], check=True)
    members = {m.name: m for ms in images.docker_archive_layers(user.work / "again.tar").values() for m in ms}
    assert members["home/app/data"].uid == 1000 and "bin/.wh.ls" in members


def oci_config_digest(archive: Path) -> str:
    with tarfile.open(archive) as tar:
        def blob(digest: str) -> dict[str, Any]:
            return json.load(tar.extractfile(f"blobs/sha256/{digest.removeprefix('sha256:')}"))  # type: ignore[arg-type]

        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        return str(blob(index["manifests"][0]["digest"])["config"]["digest"])
