"""Fixtures of the registry-client tests: real Distribution registries, a token server, the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard, Result
from tests.helpers import images
from tests.registry_client.servers import REGISTRY, Distribution, TokenServer, htpasswd

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


class Client(Dockyard):
    """The dockyard CLI with its own Docker client config directory."""

    def __init__(self, root: Path, config_dir: Path) -> None:
        super().__init__(root)
        self.config_dir = config_dir

    def __call__(self, *args: str, input: bytes | None = None, check: bool = True, env: dict[str, str] | None = None) -> Result:
        return super().__call__(*args, input=input, check=check, env={"DOCKER_CONFIG": str(self.config_dir), **(env or {})})


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "root", tmp_path / "docker-config")


@pytest.fixture
def other_client(tmp_path: Path) -> Client:
    """A second store (pushes from one, pulls into the other)."""
    return Client(tmp_path / "root2", tmp_path / "docker-config")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry not installed")
    server = Distribution(tmp_path_factory.mktemp("registry"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Distribution]:
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry not installed")
    work = tmp_path_factory.mktemp("basic-registry")
    path = htpasswd(work / "htpasswd", {"alice": "wonderland"})
    server = Distribution(work, {"htpasswd": {"realm": "basic-realm", "path": str(path)}})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def token_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Distribution, TokenServer]]:
    if not os.access(REGISTRY, os.X_OK):
        pytest.skip("docker-registry not installed")
    work = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(work, {"bob": "builder", "reader": "only"}, readers={"reader"})
    server = Distribution(work, tokens.auth_config())
    yield server, tokens
    server.stop()
    tokens.stop()


@pytest.fixture
def repo() -> str:
    """A fresh repository name, so tests sharing a registry never meet."""
    return f"test/{uuid.uuid4().hex[:10]}"


# images -------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def docker_archive(path: Path, layers: list[bytes], tag: str, *, arch: str = "amd64") -> Path:
    """A ``docker save``-style archive of an image with these layer tars (for ``dockyard load``)."""
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "created": "2024-01-01T00:00:00Z",
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(layers))],
        "rootfs": {"type": "layers", "diff_ids": [_sha(layer) for layer in layers]},
    }
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_name = _sha(config_raw)[7:] + ".json"
    members = {config_name: config_raw}
    names = []
    for i, layer in enumerate(layers):
        names.append(f"{i:02d}/layer.tar")
        members[names[-1]] = layer
    members["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": names}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def layer_bytes(files: dict[str, bytes]) -> bytes:
    return images.layer_tar_bytes([images.file(name, data) for name, data in sorted(files.items())])


@pytest.fixture(scope="session")
def busybox_layer() -> bytes:
    return images.layer_tar_bytes(images.busybox_rootfs_entries())


@pytest.fixture(scope="session")
def three_layer_archive(tmp_path_factory: pytest.TempPathFactory, busybox_layer: bytes) -> Path:
    """busybox + a 2 MB random layer + a small layer with a whiteout (tag dyk/three:1)."""
    rand = os.urandom(2 * 1024 * 1024)
    second = layer_bytes({"data/random.bin": rand, "etc/motd": b"hello\n"})
    third = images.layer_tar_bytes([images.file("data/new.txt", b"new\n"), images.whiteout("etc/motd")])
    return docker_archive(tmp_path_factory.mktemp("three") / "three.tar", [busybox_layer, second, third], "dyk/three:1")


def load(client: Client, archive: Path) -> None:
    client("load", "-i", str(archive))


def push_platform_images(client: Client, registry_url: str, repo: str, base: bytes, work: Path) -> list[dict[str, object]]:
    """REPO:amd64 and REPO:arm64 (variant v8) pushed; their index entries (Docker manifests, as served)."""
    import urllib.request

    host = registry_url.split("://", 1)[1]
    entries: list[dict[str, object]] = []
    for arch, variant in (("amd64", ""), ("arm64", "v8")):
        name = f"{host}/{repo}:{arch}"
        load(client, docker_archive(work / f"{arch}.tar", [base, layer_bytes({"arch": arch.encode()})], name, arch=arch))
        client("push", "-q", name)
        request = urllib.request.Request(f"{registry_url}/v2/{repo}/manifests/{arch}", headers={"Accept": DOCKER_MANIFEST})
        with urllib.request.urlopen(request) as response:
            raw, digest = response.read(), response.headers["Docker-Content-Digest"]
        platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        entries.append({"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(raw), "platform": platform})
    return entries


__all__ = ["Client", "docker_archive", "layer_bytes", "load", "push_platform_images"]
