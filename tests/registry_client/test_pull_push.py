"""Push to and pull from a real CNCF Distribution registry through the dockyard CLI."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs_root, tree_digest
from tests.registry_client.conftest import Client, docker_archive, layer_bytes, load
from tests.registry_client.servers import Distribution, FaultProxy

pytestmark = [needs_root]


def _inspect(client: Client, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(client("inspect", name).stdout)[0]


def _manifest(registry_url: str, repo: str, tag: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    request = urllib.request.Request(
        f"{registry_url}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read()), response.headers["Content-Type"]


def _merged_tree(client: Client, name: str, tmp: Path) -> str:
    from dockyard.engine import Engine
    from dockyard.oci.digest import Digest
    from dockyard.storage.mount import mount_all, unmount

    engine = Engine(client.root)
    try:
        row = engine.images.resolve(name)
        target = tmp / f"merged-{client.root.name}"
        target.mkdir()
        mount_all(engine.driver.mounts(engine.layers.cache_ids(Digest.parse(row.top_layer)), None), target)
        try:
            return tree_digest(target)
        finally:
            unmount(target)
    finally:
        engine.close()


def test_push_then_pull_gives_the_same_image(registry: Distribution, client: Client, other_client: Client, three_layer_archive: Path, repo: str, tmp_path: Path) -> None:
    load(client, three_layer_archive)
    name = f"{registry.host}/{repo}:1"
    client("tag", "dyk/three:1", name)
    pushed = client("push", name).stdout.splitlines()
    assert pushed[0] == f"The push refers to repository [{registry.host}/{repo}]"
    assert sum(line.endswith(": Pushed") for line in pushed) == 3
    assert pushed[-1].startswith("1: digest: sha256:") and pushed[-1].split()[-2] == "size:"
    digest = pushed[-1].split()[2]

    out = other_client("pull", name).stdout.splitlines()
    assert out[0] == f"1: Pulling from {repo}"
    assert out[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {name}", name]
    assert sum(line.endswith(": Pull complete") for line in out) == 3
    ours, theirs = _inspect(client, name), _inspect(other_client, name)
    assert theirs["Id"] == ours["Id"]
    assert theirs["RootFS"] == ours["RootFS"]
    assert theirs["RepoDigests"] == [f"{registry.host}/{repo}@{digest}"]
    assert _merged_tree(client, name, tmp_path) == _merged_tree(other_client, name, tmp_path)
    # each compressed blob is recorded against its diff ID, and kept
    manifest, content_type = _manifest(registry.url, repo, "1")
    assert content_type == "application/vnd.docker.distribution.manifest.v2+json"
    db = sqlite3.connect(other_client.root / "dockyard.db")
    recorded = dict(db.execute("SELECT digest, diff_id FROM blobs").fetchall())
    assert [recorded[layer["digest"]] for layer in manifest["layers"]] == theirs["RootFS"]["Layers"]
    for layer in manifest["layers"]:
        assert (other_client.root / "content/blobs/sha256" / layer["digest"][7:]).is_file()
    # and they go with the last image that holds their layers
    db.close()
    other_client("rmi", name)
    for layer in manifest["layers"]:
        assert not (other_client.root / "content/blobs/sha256" / layer["digest"][7:]).exists()
    with sqlite3.connect(other_client.root / "dockyard.db") as db:
        assert db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0] == 0


def test_pull_again_is_up_to_date(registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{registry.host}/{repo}:latest"
    client("import", str(busybox_tar), name)
    client("push", "-q", name)
    other_client("pull", "-q", name)
    out = other_client("pull", f"{registry.host}/{repo}").stdout.splitlines()
    assert out[0] == "Using default tag: latest"
    assert out[1] == f"latest: Pulling from {repo}"
    assert out[2].startswith("Digest: sha256:")
    assert out[3:] == [f"Status: Image is up to date for {name}", name]


def test_pull_quiet_prints_only_the_name(registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{registry.host}/{repo}:q"
    client("import", str(busybox_tar), name)
    assert client("push", "-q", name).stdout == f"{name}\n"
    assert other_client("pull", "-q", name).stdout == f"{name}\n"


def test_pull_by_digest_records_no_tag(registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{registry.host}/{repo}:d"
    client("import", str(busybox_tar), name)
    digest = client("push", name).stdout.splitlines()[-1].split()[2]
    by_digest = f"{registry.host}/{repo}@{digest}"
    out = other_client("pull", by_digest).stdout.splitlines()
    assert out[0] == f"{by_digest}: Pulling from {repo}"  # Docker names REPO@sha256:…
    assert out[-2:] == [f"Status: Downloaded newer image for {by_digest}", by_digest]
    info = _inspect(other_client, by_digest)
    assert info["RepoTags"] == [] and info["RepoDigests"] == [by_digest]


def test_layers_already_present_are_not_downloaded(registry: Distribution, client: Client, other_client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> None:
    base = docker_archive(tmp_path / "base.tar", [busybox_layer], f"{registry.host}/{repo}:base")
    child = docker_archive(tmp_path / "child.tar", [busybox_layer, layer_bytes({"x": b"child"})], f"{registry.host}/{repo}:child")
    load(client, base)
    load(client, child)
    client("push", "-a", f"{registry.host}/{repo}")
    other_client("pull", f"{registry.host}/{repo}:base")
    proxy = FaultProxy(registry.url)
    try:
        host = proxy.host
        out = other_client("pull", f"{host}/{repo}:child").stdout.splitlines()
    finally:
        proxy.stop()
    assert sum(line.endswith(": Already exists") for line in out) == 1
    assert len(proxy.blob_requests()) == 2  # the config and the new layer only


def test_pull_all_tags(registry: Distribution, client: Client, other_client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> None:
    for tag, extra in (("a", b"1"), ("b", b"2")):
        load(client, docker_archive(tmp_path / f"{tag}.tar", [busybox_layer, layer_bytes({"f": extra})], f"{registry.host}/{repo}:{tag}"))
    pushed = client("push", "--all-tags", f"{registry.host}/{repo}").stdout
    assert "a: digest: sha256:" in pushed and "b: digest: sha256:" in pushed
    out = other_client("pull", "-a", f"{registry.host}/{repo}").stdout.splitlines()
    assert out[-2:] == [f"Status: Downloaded newer image for {registry.host}/{repo}", f"{registry.host}/{repo}"]
    listed = other_client("images", "--format", "{{.Tag}}", f"{registry.host}/{repo}").stdout.split()
    assert sorted(listed) == ["a", "b"]


def test_unknown_tag_and_repository_in_dockers_words(registry: Distribution, client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{registry.host}/{repo}"
    missing_repo = client("pull", f"{name}:1", check=False)
    assert missing_repo.returncode == 1
    # Distribution 2.8 answers MANIFEST_UNKNOWN for a repository it never saw, and Docker says so
    assert missing_repo.stderr.strip() == f"Error response from daemon: manifest for {name}:1 not found: manifest unknown: manifest unknown"
    client("import", str(busybox_tar), f"{name}:1")
    client("push", "-q", f"{name}:1")
    missing_tag = client("pull", f"{name}:nope", check=False)
    assert missing_tag.returncode == 1
    assert missing_tag.stderr.strip() == f"Error response from daemon: manifest for {name}:nope not found: manifest unknown: manifest unknown"
    # Docker names the repository first, then prints the daemon's stream error as it is
    absent = client("push", f"{name}:absent", check=False)
    assert (absent.returncode, absent.stdout) == (1, f"The push refers to repository [{name}]\n")
    assert absent.stderr.strip() == f"tag does not exist: {name}:absent"
    unknown = client("push", f"{name}-never:1", check=False)
    assert unknown.stderr.strip() == f"An image does not exist locally with the tag: {name}-never"


def test_second_push_skips_blobs_and_mounts_across_repositories(registry: Distribution, client: Client, other_client: Client, three_layer_archive: Path, repo: str) -> None:
    load(client, three_layer_archive)
    first, second = f"{registry.host}/{repo}:1", f"{registry.host}/{repo}-copy:1"
    client("tag", "dyk/three:1", first)
    client("push", first)
    again = client("push", first).stdout
    assert again.count("Layer already exists") == 3
    client("tag", "dyk/three:1", second)
    mounted = client("push", second).stdout
    assert mounted.count(f"Mounted from {repo}") == 3, mounted
    # a store that pulled the image knows where its blobs live, too
    other_client("pull", "-q", first)
    other_client("tag", first, f"{registry.host}/{repo}-third:1")
    assert other_client("push", f"{registry.host}/{repo}-third:1").stdout.count("Mounted from") == 3


def test_large_layer_goes_up_in_chunks(registry: Distribution, client: Client, other_client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> None:
    import os

    big = layer_bytes({"big.bin": os.urandom(40 * 1024 * 1024)})  # random: gzip cannot shrink it under the chunk size
    name = f"{registry.host}/{repo}:big"
    load(client, docker_archive(tmp_path / "big.tar", [busybox_layer, big], name))
    proxy = FaultProxy(registry.url)
    try:
        via = f"{proxy.host}/{repo}:big"
        client("tag", name, via)
        client("push", via)
        patches = [r for r in proxy.requests if r[0] == "PATCH"]
    finally:
        proxy.stop()
    assert len(patches) == 2
    assert patches[0][2]["Content-Range"] == f"0-{32 * 1024 * 1024 - 1}"
    other_client("pull", "-q", name)
    assert _inspect(other_client, name)["Id"] == _inspect(client, name)["Id"]


def test_pushed_blob_needs_no_recompression(registry: Distribution, client: Client, busybox_tar: Path, repo: str) -> None:
    name = f"{registry.host}/{repo}:1"
    client("import", str(busybox_tar), name)
    client("push", "-q", name)
    db = sqlite3.connect(client.root / "dockyard.db")
    ((digest, media_type),) = db.execute("SELECT digest, media_type FROM blobs").fetchall()
    assert media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    client("tag", name, f"{registry.host}/{repo}-other:1")
    client("push", "-q", f"{registry.host}/{repo}-other:1")
    manifest, _ = _manifest(registry.url, f"{repo}-other", "1")
    assert manifest["layers"][0]["digest"] == digest


@pytest.mark.parametrize("count", [1])
def test_max_concurrent_downloads_is_validated(client: Client, count: int) -> None:
    result = client("pull", "--max-concurrent-downloads", "0", "busybox", check=False)
    assert result.returncode == 1 and "at least 1" in result.stderr


def test_a_blob_used_twice_in_one_image(registry: Distribution, client: Client, other_client: Client, busybox_layer: bytes, tmp_path: Path, repo: str) -> None:
    empty = layer_bytes({})  # old builders left identical empty layers for metadata steps
    name = f"{registry.host}/{repo}:1"
    load(client, docker_archive(tmp_path / "twice.tar", [busybox_layer, empty, layer_bytes({"a": b"a"}), empty], name))
    client("push", "-q", name)
    manifest, _ = _manifest(registry.url, repo, "1")
    assert manifest["layers"][1]["digest"] == manifest["layers"][3]["digest"]
    other_client("pull", "-q", name)
    assert _inspect(other_client, name)["Id"] == _inspect(client, name)["Id"]
