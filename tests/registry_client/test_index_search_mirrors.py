"""Multi-platform indexes and --platform, OCI manifests kept as OCI, search, registry mirrors."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import needs_root
from tests.registry_client.conftest import Client, docker_archive, layer_bytes, load, push_platform_images
from tests.registry_client.servers import Distribution, serve_json

pytestmark = [needs_root]

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def _http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request) as response:
        return response.status, dict(response.headers), response.read()


def _id(client: Client, name: str) -> str:
    return client("inspect", "-f", "{{.Id}}", name).stdout.strip()


@pytest.fixture
def multi_platform(registry: Distribution, client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> str:
    """An OCI index at REPO:multi over an amd64 and an arm64/v8 image."""
    entries = push_platform_images(client, registry.url, repo, busybox_layer, tmp_path)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}).encode()
    _http("PUT", f"{registry.url}/v2/{repo}/manifests/multi", index, {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    return f"{registry.host}/{repo}"


def test_index_resolves_for_the_platform(multi_platform: str, client: Client, other_client: Client) -> None:
    other_client("pull", "-q", f"{multi_platform}:multi")
    assert _id(other_client, f"{multi_platform}:multi") == _id(client, f"{multi_platform}:amd64")  # this host is amd64
    other_client("pull", "-q", "--platform", "linux/arm64", f"{multi_platform}:multi")
    assert _id(other_client, f"{multi_platform}:multi") == _id(client, f"{multi_platform}:arm64")
    digests = other_client("inspect", "-f", "{{json .RepoDigests}}", f"{multi_platform}:multi").stdout
    assert f"{multi_platform}@sha256:" in digests  # the index's digest, as Docker records it
    missing = other_client("pull", "--platform", "linux/s390x", f"{multi_platform}:multi", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error response from daemon: no matching manifest for linux/s390x in the manifest list entries"
    wrong = other_client("pull", "--platform", "linux/arm64", f"{multi_platform}:amd64", check=False)
    assert wrong.returncode == 1 and "does not match the specified platform: wanted linux/arm64, actual: linux/amd64" in wrong.stderr


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_oci_images_stay_oci(registry: Distribution, client: Client, other_client: Client, three_layer_archive: Path, repo: str) -> None:
    load(client, three_layer_archive)
    client("tag", "dyk/three:1", f"{registry.host}/{repo}:docker")
    client("push", "-q", f"{registry.host}/{repo}:docker")
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "oci",
         f"docker://{registry.host}/{repo}:docker", f"docker://{registry.host}/{repo}:oci"],
        check=True, capture_output=True,
    )  # fmt: skip
    other_client("pull", "-q", f"{registry.host}/{repo}:oci")
    layers = "{{json .RootFS.Layers}}"  # skopeo rewrites the config as an OCI config: same layers, another ID
    assert other_client("inspect", "-f", layers, f"{registry.host}/{repo}:oci").stdout == client("inspect", "-f", layers, "dyk/three:1").stdout
    other_client("tag", f"{registry.host}/{repo}:oci", f"{registry.host}/{repo}-again:oci")
    pushed = other_client("push", f"{registry.host}/{repo}-again:oci").stdout
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json, " + MANIFEST}
    _, source_headers, source = _http("GET", f"{registry.url}/v2/{repo}/manifests/oci", headers=accept)
    _, headers, ours = _http("GET", f"{registry.url}/v2/{repo}-again/manifests/oci", headers=accept)
    assert headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    assert ours == source  # the pulled manifest, byte for byte
    assert f"oci: digest: {source_headers['Docker-Content-Digest']} size: {len(source)}" in pushed


def test_search_falls_back_to_the_catalog(registry: Distribution, client: Client, busybox_tar: Path, repo: str) -> None:
    client("import", str(busybox_tar), f"{registry.host}/{repo}:1")
    client("push", "-q", f"{registry.host}/{repo}:1")
    out = client("search", f"{registry.host}/{repo.split('/')[1]}").stdout.splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in out[1:]] == [f"{registry.host}/{repo}"]


@pytest.fixture
def index_server() -> Iterator[str]:
    results = [
        {"name": "busybox", "description": "Busybox base image.", "star_count": 3000, "is_official": True, "is_automated": False},
        {"name": "someone/busybox-tools", "description": "A long description that goes on and on beyond forty-five characters", "star_count": 2, "is_official": False, "is_automated": True},
    ]
    seen: list[dict[str, Any]] = []

    def handler(query: dict[str, list[str]]) -> tuple[int, Any]:
        seen.append(query)
        n = int(query.get("n", ["25"])[0])
        return 200, {"num_results": len(results), "query": query["q"][0], "results": results[:n]}

    httpd, host = serve_json({"/v1/search": handler})
    yield host
    httpd.shutdown()
    httpd.server_close()


def test_search_v1_columns_filters_and_format(index_server: str, client: Client) -> None:
    out = client("search", f"{index_server}/busybox").stdout
    assert out == (
        "NAME                    DESCRIPTION                                     STARS     OFFICIAL\n"
        "busybox                 Busybox base image.                             3000      [OK]\n"
        "someone/busybox-tools   A long description that goes on and on beyon…   2         \n"
    )
    assert client("search", "--filter", "is-official=true", "--format", "{{.Name}}", f"{index_server}/busybox").stdout == "busybox\n"
    assert client("search", "--filter", "stars=3", "--format", "{{.Name}}", f"{index_server}/busybox").stdout == "busybox\n"
    assert client("search", "--limit", "1", "--format", "{{.Name}}", f"{index_server}/busybox").stdout == "busybox\n"
    long = client("search", "--no-trunc", "--format", "{{.Description}}", f"{index_server}/busybox-tools").stdout
    assert "beyond forty-five characters" in long
    bad = client("search", "--limit", "0", "x", check=False)
    assert bad.returncode == 1 and "limit 0 is outside the range of [1, 100]" in bad.stderr


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Distribution]:
    server = Distribution(tmp_path / "mirror")
    yield server
    server.stop()


def test_registry_mirror_serves_docker_hub_names(mirror: Distribution, client: Client, other_client: Client, busybox_tar: Path) -> None:
    client("import", str(busybox_tar), f"{mirror.host}/library/dykmirror:1")
    client("push", "-q", f"{mirror.host}/library/dykmirror:1")
    out = other_client("pull", "--registry-mirror", mirror.url, "dykmirror:1").stdout.splitlines()
    assert out[-2:] == ["Status: Downloaded newer image for dykmirror:1", "docker.io/library/dykmirror:1"]
    assert _id(other_client, "dykmirror:1") == _id(client, f"{mirror.host}/library/dykmirror:1")
    # the same from daemon.json in the root directory
    (other_client.root / "daemon.json").write_text(json.dumps({"registry-mirrors": [mirror.url]}))
    other_client("rmi", "dykmirror:1")
    other_client("pull", "-q", "dykmirror:1")


def test_per_registry_mirrors_with_fallback(registry: Distribution, mirror: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    client("import", str(busybox_tar), f"{mirror.host}/{repo}:only-on-mirror")
    client("push", "-q", f"{mirror.host}/{repo}:only-on-mirror")
    client("tag", f"{mirror.host}/{repo}:only-on-mirror", f"{registry.host}/{repo}:only-on-origin")
    client("push", "-q", f"{registry.host}/{repo}:only-on-origin")
    other_client("images")
    (other_client.root / "daemon.json").write_text(json.dumps({"registry-hosts": {registry.host: {"mirrors": [mirror.url]}}}))
    other_client("pull", "-q", f"{registry.host}/{repo}:only-on-mirror")  # the origin never had it
    other_client("pull", "-q", f"{registry.host}/{repo}:only-on-origin")  # the mirror lacks it: origin


def test_tls_registry_on_loopback(client: Client, other_client: Client, busybox_tar: Path, tmp_path: Path, repo: str) -> None:
    """HTTPS first, unverified for 127.0.0.0/8 as Docker does; a verifying transport trusts a certs.d CA."""
    from dockyard.registry.client.errors import ConnectionFailedError
    from dockyard.registry.client.hosts import RegistryOptions, tls_for
    from dockyard.registry.client.transport import TLSOptions, Transport
    from tests.registry_client.servers import self_signed

    work = tmp_path / "tls"
    work.mkdir()
    cert, key = self_signed(work)
    server = Distribution(work, tls=(cert, key))
    try:
        name = f"{server.host}/{repo}:1"
        client("import", str(busybox_tar), name)
        client("push", "-q", name)
        certs = other_client.root / "certs.d" / server.host
        certs.mkdir(parents=True)
        shutil.copy(cert, certs / "ca.crt")
        other_client("pull", "-q", name)
        found = tls_for(server.host, RegistryOptions(certs_dir=other_client.root / "certs.d"))
        assert found.ca_file == str(certs / "ca.crt")
        verifying = Transport(TLSOptions(verify=True, ca_file=found.ca_file))
        assert verifying.request("GET", f"https://{server.host}/v2/").status == 200
        with pytest.raises(ConnectionFailedError, match="certificate verify failed"):
            Transport(TLSOptions(verify=True)).request("GET", f"https://{server.host}/v2/")
    finally:
        server.stop()
