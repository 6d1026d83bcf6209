"""``manifest inspect`` against a real Distribution registry, compared with docker CLI 28's output on the same names."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.registry_client.conftest import DOCKER_MANIFEST, Client, push_platform_images
from tests.registry_client.servers import Distribution

pytestmark = [needs_root]

DOCKER = shutil.which("docker")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _docker(config_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The docker CLI alone: ``manifest inspect`` needs no daemon."""
    if DOCKER is None:
        pytest.skip("docker CLI not installed")
    env = {"DOCKER_CONFIG": str(config_dir), "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(config_dir)}
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env, timeout=60)


def _put(url: str, body: bytes, media_type: str) -> None:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": media_type})
    with urllib.request.urlopen(request) as response:
        assert response.status == 201


@pytest.fixture
def pushed(registry: Distribution, client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> str:
    """REPO:amd64 and REPO:arm64 images, an OCI index REPO:oci and a Docker list REPO:list over both."""
    entries = [{**e, "annotations": {"a": "b"}} for e in push_platform_images(client, registry.url, repo, busybox_layer, tmp_path)]
    for tag, kind in (("oci", "application/vnd.oci.image.index.v1+json"), ("list", "application/vnd.docker.distribution.manifest.list.v2+json")):
        index = json.dumps({"schemaVersion": 2, "mediaType": kind, "manifests": entries}).encode()
        _put(f"{registry.url}/v2/{repo}/manifests/{tag}", index, kind)
    _put(f"{registry.url}/v2/{repo}/manifests/ocim", _as_oci(registry.url, repo, "amd64"), OCI_MANIFEST)
    return f"{registry.host}/{repo}"


def _as_oci(url: str, repo: str, tag: str) -> bytes:
    """REPO:TAG's manifest with OCI media types, an annotation Go would escape, and a trailing newline (kept by docker)."""
    with urllib.request.urlopen(urllib.request.Request(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": DOCKER_MANIFEST})) as r:
        manifest = json.loads(r.read())
    manifest["mediaType"] = OCI_MANIFEST
    manifest["config"]["mediaType"] = "application/vnd.oci.image.config.v1+json"
    for layer in manifest["layers"]:
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    manifest["annotations"] = {"org.example.note": "<a&b> \u00e9"}
    return json.dumps(manifest).encode() + b"\n"


@pytest.mark.parametrize("tag", ["amd64", "ocim", "oci", "list"])
@pytest.mark.parametrize("verbose", [False, True])
def test_output_is_dockers(pushed: str, client: Client, tag: str, verbose: bool) -> None:
    args = ["manifest", "inspect", "--insecure", *(["--verbose"] if verbose else []), f"{pushed}:{tag}"]
    ours = client(*args)
    theirs = _docker(client.config_dir, *args)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.stdout == theirs.stdout
    shown = json.loads(ours.stdout)
    if tag in ("oci", "list") and not verbose:  # an index becomes a Docker manifest list of its two platforms
        assert shown["mediaType"] == "application/vnd.docker.distribution.manifest.list.v2+json"
        assert [m["platform"]["architecture"] for m in shown["manifests"]] == ["amd64", "arm64"]


def test_a_missing_manifest_is_an_error(pushed: str, client: Client) -> None:
    for name in (f"{pushed}:nope", f"{pushed.rsplit('/', 1)[0]}/nothere:1"):
        ours = client("manifest", "inspect", "--insecure", name, check=False)
        theirs = _docker(client.config_dir, "manifest", "inspect", "--insecure", name)
        assert (ours.returncode, ours.stdout, ours.stderr) == (1, "", f"no such manifest: {name}\n")
        assert (theirs.returncode, theirs.stderr) == (ours.returncode, ours.stderr)


def test_bad_names_and_arguments(client: Client) -> None:
    bad = client("manifest", "inspect", "bad::x", check=False)
    assert (bad.returncode, bad.stderr) == (1, "invalid reference format\n")
    for args in ((), ("a", "b", "c")):
        wrong = client("manifest", "inspect", *args, check=False)
        assert wrong.returncode == 1 and "requires at least 1 and at most 2 arguments" in wrong.stderr


def test_a_manifest_of_a_local_list_is_never_found(pushed: str, client: Client) -> None:
    args = ("manifest", "inspect", "--insecure", f"{pushed}:list", f"{pushed}:amd64")
    ours, theirs = client(*args, check=False), _docker(client.config_dir, *args)
    assert (ours.returncode, ours.stdout, ours.stderr) == (1, "", f"No such manifest: {pushed}:amd64\n")
    assert (theirs.returncode, theirs.stderr) == (ours.returncode, ours.stderr)
