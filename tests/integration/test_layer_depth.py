"""Images deeper than overlay can stack are refused before any work, as Docker refuses them.

Docker's layer store stops at 125 layers ("max depth exceeded"). A 10,000-layer
archive or manifest is a few hundred KB; refusing it must not cost a pass over
its layers, let alone one per layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

from tests.conftest import Dockyard, needs_root

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.registry_client.conftest import docker_archive, layer_bytes, registry  # noqa: E402,F401

pytestmark = needs_root


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _deep_archive(path: Path, depth: int) -> None:
    """manifest.json names one small layer file ``depth`` times."""
    layer = layer_bytes({"f": b"x"})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(layer)] * depth}}).encode()
    members = {"layer.tar": layer, "config.json": config,
               "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["deep/img:1"],
                                             "Layers": ["layer.tar"] * depth}]).encode()}
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _layer_dirs(root: Path) -> list[str]:
    home = root / "overlay2"
    return [p.name for p in home.iterdir() if p.name != "l"] if home.is_dir() else []


def test_load_refuses_more_than_125_layers(tmp_path: Path, dockyard: Dockyard, store_root: Path) -> None:
    archive = tmp_path / "deep.tar"
    _deep_archive(archive, 10_000)
    dockyard("images")
    result = dockyard("load", "-i", str(archive), check=False)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("max depth exceeded"), result.stderr
    assert _layer_dirs(store_root) == []
    assert dockyard("images", "-q").stdout == ""


def test_load_of_125_layers_works(tmp_path: Path, dockyard: Dockyard) -> None:
    layers = [layer_bytes({f"f{i}": str(i).encode()}) for i in range(125)]
    archive = docker_archive(tmp_path / "l125.tar", layers, "deep/img:125")
    dockyard("load", "-i", str(archive))
    history = dockyard("history", "-q", "deep/img:125").stdout.split()
    assert len(history) == 125


def _put_blob(url: str, repo: str, data: bytes) -> str:
    digest = _sha(data)
    with urllib.request.urlopen(urllib.request.Request(f"{url}/v2/{repo}/blobs/uploads/", method="POST")) as resp:
        location = resp.headers["Location"]
    location = url + location if location.startswith("/") else location
    sep = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"})).close()
    return digest


def test_pull_refuses_a_10000_layer_manifest(store_root: Path, dockyard: Dockyard, registry: object) -> None:
    url = registry.url  # type: ignore[attr-defined]
    repo = "deep/pull"
    layer = layer_bytes({"f": b"x"})
    layer_digest = _put_blob(url, repo, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [_sha(layer)] * 10_000}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _put_blob(url, repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}] * 10_000,
    }).encode()
    urllib.request.urlopen(urllib.request.Request(
        f"{url}/v2/{repo}/manifests/1", data=manifest, method="PUT",
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})).close()
    result = dockyard("pull", f"{registry.host}/{repo}:1", check=False)  # type: ignore[attr-defined]
    assert result.returncode == 1
    assert result.stderr.strip().endswith("max depth exceeded"), result.stderr
    assert _layer_dirs(store_root) == []
    assert not list(store_root.glob("downloads/**/*.lock"))
