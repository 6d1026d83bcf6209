"""The client's pure parts: challenges, Retry-After, platforms, config.json entries, manifests."""

from __future__ import annotations

import json

import pytest

from dockyard.oci.descriptor import Descriptor, Platform
from dockyard.oci.digest import Digest
from dockyard.registry.client import platform as platforms
from dockyard.registry.client.auth import Challenge, parse_challenges
from dockyard.registry.client.credentials import ConfigFile
from dockyard.registry.client.errors import InvalidPlatformError, PlatformNotFoundError
from dockyard.registry.client.hosts import (
    RegistryOptions,
    endpoints,
    is_insecure,
    normalize_server,
)
from dockyard.registry.client.layerblob import Blob
from dockyard.registry.client.push import build_manifest
from dockyard.registry.client.transport import retry_after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'],
         [Challenge("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/busybox:pull"})]),
        (['Basic realm="Registry Realm"'], [Challenge("basic", {"realm": "Registry Realm"})]),
        (['Basic realm="a", Bearer realm="b",service=c'], [Challenge("basic", {"realm": "a"}), Challenge("bearer", {"realm": "b", "service": "c"})]),
        (['Bearer realm="x",error="insufficient_scope",scope="repository:a:pull,push"'],
         [Challenge("bearer", {"realm": "x", "error": "insufficient_scope", "scope": "repository:a:pull,push"})]),
        (['Bearer realm="q\\"uote"'], [Challenge("bearer", {"realm": 'q"uote'})]),
        ([], []),
    ],
)  # fmt: skip
def test_challenges(headers: list[str], expected: list[Challenge]) -> None:
    assert parse_challenges(headers) == expected


def test_retry_after() -> None:
    assert retry_after("3") == 3.0
    assert retry_after("100000") == 120.0  # capped
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after("soon") is None and retry_after("") is None


def _entry(arch: str, variant: str = "", os_name: str = "linux") -> Descriptor:
    digest = Digest.of(f"{os_name}/{arch}/{variant}".encode())
    return Descriptor("application/vnd.oci.image.manifest.v1+json", digest, 1, platform=Platform(arch, os_name, variant))


def test_platform_normalisation_and_parsing() -> None:
    assert platforms.parse("linux/aarch64") == Platform("arm64", "linux")
    assert platforms.parse("linux/arm64/v8") == Platform("arm64", "linux")
    assert platforms.parse("linux/arm") == Platform("arm", "linux", "v7")
    assert platforms.parse("linux/armhf") == Platform("arm", "linux", "v7")
    assert platforms.parse("x86_64") == Platform("amd64", "linux")
    with pytest.raises(InvalidPlatformError):
        platforms.parse("linux//")


def test_platform_selection_follows_containerd_ranking() -> None:
    entries = (_entry("amd64"), _entry("arm", "v6"), _entry("arm", "v7"), _entry("arm64", "v8"), _entry("amd64", os_name="windows"))
    assert platforms.select(entries, Platform("arm64", "linux")) is entries[3]
    assert platforms.select(entries, Platform("arm", "linux", "v7")) is entries[2]
    assert platforms.select(entries[:2], Platform("arm", "linux", "v7")) is entries[1]  # v7 runs v6
    assert platforms.select(entries[1:3], Platform("arm64", "linux")) is entries[2]  # arm64 runs arm/v7 when nothing better
    assert platforms.select(entries, Platform("amd64", "linux")) is entries[0]
    with pytest.raises(PlatformNotFoundError, match="no matching manifest for linux/s390x in the manifest list entries"):
        platforms.select(entries, Platform("s390x", "linux"))
    with pytest.raises(PlatformNotFoundError):
        platforms.select((_entry("arm", "v7"),), Platform("arm", "linux", "v6"))  # v6 cannot run v7


def test_hosts() -> None:
    options = RegistryOptions(mirrors=("https://mirror.example",), insecure=("10.0.0.0/8", "myreg:5000"))
    assert is_insecure("localhost:5000", options) and is_insecure("127.0.0.2", options)
    assert is_insecure("10.1.2.3:443", options) and is_insecure("myreg:5000", options)
    assert not is_insecure("registry.example", options)
    assert [e.base_url for e in endpoints("docker.io", options)] == ["https://mirror.example", "https://registry-1.docker.io"]
    assert [e.base_url for e in endpoints("docker.io", options, push=True)] == ["https://registry-1.docker.io"]
    assert [e.base_url for e in endpoints("127.0.0.1:5000", options)] == ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
    assert normalize_server("") == normalize_server("docker.io") == normalize_server("index.docker.io") == "https://index.docker.io/v1/"
    assert normalize_server("https://myreg:5000/v2/") == "myreg:5000"


def test_config_file_entries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {"https://myreg:5000/v1/": {"auth": "dTpw"}, "tok": {"identitytoken": "T"}}}))
    config = ConfigFile(path)
    creds = config.get("myreg:5000")  # an older client's URL-style key still matches
    assert creds is not None and (creds.username, creds.password) == ("u", "p")
    tok = config.get("tok")
    assert tok is not None and tok.identity_token == "T"
    assert config.get("other") is None


def test_new_manifests_follow_dockers_layout() -> None:
    config = Digest.of(b"config")
    layer = Blob(Digest.of(b"layer"), "application/vnd.docker.image.rootfs.diff.tar.gzip", 5)
    raw, kind = build_manifest(config, 6, [layer])
    assert kind == "application/vnd.docker.distribution.manifest.v2+json"
    assert raw.decode() == (
        '{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n'
        f'   "config": {{\n      "mediaType": "application/vnd.docker.container.image.v1+json",\n      "size": 6,\n      "digest": "{config}"\n   }},\n'
        f'   "layers": [\n      {{\n         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",\n         "size": 5,\n         "digest": "{layer.digest}"\n      }}\n   ]\n}}'
    )
    zstd = Blob(Digest.of(b"z"), "application/vnd.oci.image.layer.v1.tar+zstd", 1)
    raw, kind = build_manifest(config, 6, [layer, zstd])
    assert kind == "application/vnd.oci.image.manifest.v1+json"
    assert [entry["mediaType"] for entry in json.loads(raw)["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+zstd",
    ]  # fmt: skip
