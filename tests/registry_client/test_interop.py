"""Both directions with the real tools: Docker 20.10 and skopeo push and pull what dockyard pulls and pushes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.registry_client.conftest import Client, load
from tests.registry_client.servers import Distribution

pytestmark = [needs_root, pytest.mark.docker]


def test_docker_push_then_dockyard_pull(dockerd, multilayer_archive: Path, registry: Distribution, client: Client, repo: str) -> None:  # type: ignore[no-untyped-def]
    name = f"{registry.host}/{repo}:1"
    dockerd.run("tag", "dyk-multilayer:latest", name)
    pushed = dockerd.run("push", name).stdout
    docker_digest = pushed.strip().splitlines()[-1].split()[2]
    out = client("pull", name).stdout
    assert f"Digest: {docker_digest}" in out
    ours = json.loads(client("inspect", name).stdout)[0]
    theirs = dockerd.inspect(name)
    assert ours["Id"] == theirs["Id"]
    assert ours["RootFS"] == theirs["RootFS"]
    assert ours["RepoDigests"] == [f"{registry.host}/{repo}@{docker_digest}"]
    assert ours["Size"] == theirs["Size"]
    dockerd.run("rmi", name)


def test_dockyard_push_then_docker_pull_and_run(dockerd, multilayer_archive: Path, registry: Distribution, client: Client, busybox_tar: Path, repo: str) -> None:  # type: ignore[no-untyped-def]
    simple = f"{registry.host}/{repo}:simple"
    image_id = client("import", "-c", 'CMD ["/bin/echo", "pushed by dockyard"]', str(busybox_tar), simple).stdout.strip()
    client("push", simple)
    load(client, multilayer_archive)
    multi = f"{registry.host}/{repo}:multi"
    client("tag", "dyk-multilayer:latest", multi)
    our_digest = client("push", multi).stdout.strip().splitlines()[-1].split()[2]
    dockerd.run("pull", simple)
    assert dockerd.image_id(simple) == image_id
    assert dockerd.run("run", "--rm", "--network", "none", simple).stdout == "pushed by dockyard\n"
    pulled = dockerd.run("pull", multi).stdout
    assert f"Digest: {our_digest}" in pulled
    assert dockerd.image_id(multi) == json.loads(client("inspect", multi).stdout)[0]["Id"]
    assert dockerd.run("run", "--rm", "--network", "none", multi).stdout == "multilayer\n"
    dockerd.run("rmi", simple, multi)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_skopeo_reads_what_we_push(registry: Distribution, client: Client, three_layer_archive: Path, tmp_path: Path, repo: str) -> None:
    load(client, three_layer_archive)
    name = f"{registry.host}/{repo}:1"
    client("tag", "dyk/three:1", name)
    digest = client("push", name).stdout.strip().splitlines()[-1].split()[2]
    inspected = json.loads(subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"], check=True, capture_output=True).stdout)
    assert inspected["Digest"] == digest
    assert inspected["Layers"] == [line for line in inspected["Layers"]] and len(inspected["Layers"]) == 3
    # a copy verifies every blob's digest on the way
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{name}", f"dir:{tmp_path / 'copy'}"], check=True, capture_output=True)
    config = json.loads(client("inspect", name).stdout)[0]["Id"]
    assert (tmp_path / "copy" / config.removeprefix("sha256:")).is_file()
