"""Decompression bombs: a layer of 1 GiB of zeros, a few KB compressed, in every codec.

Import, load and pull must decompress it in bounded memory and in time linear in
the output (a reader that decompresses a whole input chunk at once, or re-slices a
growing buffer on each read, runs for minutes and hundreds of MB here). Memory is
the peak RSS of the dockyard process, read from wait4; time is bounded by the
test timeout, not asserted.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import lzma
import os
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
import zstandard
from isal import igzip

from tests.conftest import needs_root

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.registry_client.conftest import docker_archive, registry  # noqa: E402,F401  (the session registry fixture)

PIECE = 64 << 20  # the bomb is 16 compressed streams of 64 MiB of zeros each, concatenated
PIECES = 16
MAX_RSS_KB = 200_000  # a whole 1 GiB layer in memory would be ~1,000,000 KB

pytestmark = needs_root


def _compress(codec: str, data: bytes) -> bytes:
    if codec == "gzip":
        return igzip.compress(data, compresslevel=1)
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if codec == "xz":
        return lzma.compress(data, preset=0)
    return bz2.compress(data, compresslevel=1)


@dataclass(frozen=True)
class Bomb:
    path: Path
    diff_id: str  # sha256 of the 1 GiB tar


@pytest.fixture(scope="session")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Bomb]:
    """Each codec accepts concatenated streams (gzip members, zstd frames, xz and bzip2 streams),
    so 64 MiB compressed once and repeated gives a 1 GiB tar: quick to make."""
    info = tarfile.TarInfo("zeros")
    info.size = PIECE * PIECES
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    zeros = bytes(PIECE)
    end = bytes(1024)  # two zero blocks close the archive
    h = hashlib.sha256(header)
    for _ in range(PIECES):
        h.update(zeros)
    h.update(end)
    diff_id = "sha256:" + h.hexdigest()
    work = tmp_path_factory.mktemp("bombs")
    made = {}
    for codec in ("gzip", "zstd", "xz", "bzip2"):
        first, middle, last = (_compress(codec, part) for part in (header + zeros, zeros, end))
        path = work / f"zeros.tar.{codec}"
        path.write_bytes(first + middle * (PIECES - 1) + last)
        made[codec] = Bomb(path, diff_id)
    return made


def _dockyard(root: Path, *args: str) -> tuple[int, int, str]:
    """Exit code, peak RSS in KB, stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "dockyard", "--root", str(root), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss, err


def _size(root: Path, image: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(root), "images", "--format", "{{.Size}}", image],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.parametrize("codec", ["gzip", "zstd", "xz", "bzip2"])
def test_import_of_a_bomb_is_bounded(tmp_path: Path, bombs: dict[str, Bomb], codec: str) -> None:
    code, rss, err = _dockyard(tmp_path / "root", "import", str(bombs[codec].path), f"bomb:{codec}")
    assert code == 0, err
    assert rss < MAX_RSS_KB, f"import of a {codec} bomb peaked at {rss} KB"
    assert _size(tmp_path / "root", f"bomb:{codec}") == "1.07GB"


@pytest.mark.parametrize("codec", ["gzip", "zstd", "xz", "bzip2"])
def test_load_of_a_bomb_layer_is_bounded(tmp_path: Path, bombs: dict[str, Bomb], codec: str) -> None:
    """A docker-archive whose layer file is compressed: load decompresses it while hashing."""
    archive = tmp_path / "bomb.tar"
    layer = bombs[codec].path.read_bytes()
    _archive_with_diff_id(archive, layer, bombs[codec].diff_id, docker_archive)
    code, rss, err = _dockyard(tmp_path / "root", "load", "-i", str(archive))
    assert code == 0, err
    assert rss < MAX_RSS_KB, f"load of a {codec} bomb layer peaked at {rss} KB"
    assert _size(tmp_path / "root", "dyk/bomb:1") == "1.07GB"


def _archive_with_diff_id(path: Path, layer: bytes, diff_id: str, make: Callable[..., Path]) -> None:
    """docker_archive hashes its layers as given; a compressed layer needs the tar's diff ID."""
    make(path, [layer], "dyk/bomb:1")
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = json.loads(members["manifest.json"])
    config = json.loads(members[manifest[0]["Config"]])
    config["rootfs"]["diff_ids"] = [diff_id]
    raw = json.dumps(config, separators=(",", ":")).encode()
    name = hashlib.sha256(raw).hexdigest() + ".json"
    del members[manifest[0]["Config"]]
    members[name] = raw
    manifest[0]["Config"] = name
    members["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _upload(registry_url: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.Request(f"{registry_url}/v2/{repo}/blobs/uploads/", method="POST")
    with urllib.request.urlopen(start) as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = registry_url + location
    sep = "&" if "?" in location else "?"
    put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put).close()
    return digest


@pytest.mark.parametrize("codec,media_type", [("gzip", "application/vnd.oci.image.layer.v1.tar+gzip"),
                                              ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd")])
def test_pull_of_a_bomb_layer_is_bounded(tmp_path: Path, bombs: dict[str, Bomb], registry: object, codec: str,
                                         media_type: str) -> None:
    url = registry.url  # type: ignore[attr-defined]
    repo = f"bombs/{codec}"
    layer = bombs[codec].path.read_bytes()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [bombs[codec].diff_id]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _upload(url, repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": media_type, "digest": _upload(url, repo, layer), "size": len(layer)}],
    }).encode()
    put = urllib.request.Request(f"{url}/v2/{repo}/manifests/1", data=manifest, method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(put).close()
    ref = f"{registry.host}/{repo}:1"  # type: ignore[attr-defined]
    code, rss, err = _dockyard(tmp_path / "root", "pull", "-q", ref)
    assert code == 0, err
    assert rss < MAX_RSS_KB, f"pull of a {codec} bomb layer peaked at {rss} KB"
    assert _size(tmp_path / "root", ref) == "1.07GB"
