"""The real clients against the real server: skopeo both ways, Docker 20.10 push, pull and run."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Dockyard, needs_root
from tests.registry_server.conftest import Client, RegistryServer

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
DESCRIPTION = "a tiny busybox for registry tests"


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> tuple[Path, str]:
    """A docker-archive made by ``dockyard import`` + ``dockyard save``, and its image ID."""
    work = tmp_path_factory.mktemp("image")
    dockyard = Dockyard(work / "root")
    image_id = dockyard(
        "import", "-c", 'CMD ["/bin/echo", "hello from the registry"]',
        "-c", f'LABEL org.opencontainers.image.description="{DESCRIPTION}"',
        str(busybox_tar), "dyk/bb:1",
    ).stdout.strip()
    archive = work / "bb.tar"
    dockyard("save", "-o", str(archive), "dyk/bb:1")
    return archive, image_id


def skopeo(*args: str) -> str:
    result = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@needs_skopeo
def test_skopeo_round_trip_docker_archive(server: RegistryServer, image_archive: tuple[Path, str], tmp_path: Path) -> None:
    archive, image_id = image_archive
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{server.host}/skopeo/bb:1")
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{server.host}/skopeo/bb:1"))
    assert inspected["Labels"]["org.opencontainers.image.description"] == DESCRIPTION
    pulled = tmp_path / "pulled.tar"
    skopeo("copy", "--src-tls-verify=false", f"docker://{server.host}/skopeo/bb:1", f"docker-archive:{pulled}:dyk/bb:1")
    dockyard = Dockyard(tmp_path / "root")
    dockyard("load", "-i", str(pulled))
    assert json.loads(dockyard("inspect", "dyk/bb:1").stdout)[0]["Id"] == image_id


@needs_skopeo
def test_skopeo_oci_layout_copy_mount_and_delete(server: RegistryServer, image_archive: tuple[Path, str], tmp_path: Path) -> None:
    archive, _ = image_archive
    layout = tmp_path / "layout"
    skopeo("copy", f"docker-archive:{archive}", f"oci:{layout}:v1")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{server.host}/skopeo/oci:v1")
    client = Client(server.url)
    manifest = client.request("GET", "/v2/skopeo/oci/manifests/v1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert manifest.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    # registry to registry, same host: skopeo mounts the blobs from the source repository
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{server.host}/skopeo/oci:v1", f"docker://{server.host}/skopeo/copy:v2")
    assert json.loads(skopeo("list-tags", "--tls-verify=false", f"docker://{server.host}/skopeo/copy"))["Tags"] == ["v2"]
    back = tmp_path / "back"
    skopeo("copy", "--src-tls-verify=false", f"docker://{server.host}/skopeo/copy:v2", f"oci:{back}:v2")
    original = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    assert json.loads((back / "index.json").read_text())["manifests"][0]["digest"] == original
    skopeo("delete", "--tls-verify=false", f"docker://{server.host}/skopeo/copy:v2")
    assert client.request("GET", "/v2/skopeo/copy/manifests/v2").status == 404


@needs_root
@pytest.mark.docker
def test_docker_push_pull_run(dockerd, server: RegistryServer, image_archive: tuple[Path, str]) -> None:  # type: ignore[no-untyped-def]
    archive, image_id = image_archive
    dockerd.run("load", "-i", str(archive))
    remote = f"{server.host}/docker/bb:1"
    try:
        dockerd.run("tag", "dyk/bb:1", remote)
        pushed = dockerd.run("push", remote).stdout
        assert "digest: sha256:" in pushed
        dockerd.run("rmi", remote, "dyk/bb:1")
        assert dockerd.run("image", "inspect", remote, check=False).returncode != 0
        dockerd.run("pull", remote)
        assert dockerd.image_id(remote) == image_id
        assert dockerd.run("run", "--rm", "--network", "none", remote).stdout == "hello from the registry\n"
        # a second push of the same layers finds them all present
        assert "Layer already exists" in dockerd.run("push", remote).stdout
    finally:
        dockerd.run("rmi", "-f", remote, "dyk/bb:1", check=False)
