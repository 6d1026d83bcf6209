"""Bad registries and interrupted pulls: a lying registry, dropped connections, kill -9, two pulls at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import needs_root
from tests.registry_client.conftest import Client, docker_archive, layer_bytes, load
from tests.registry_client.servers import Distribution, FaultProxy, Faults

pytestmark = [needs_root]

BIG = 8 * 1024 * 1024


@pytest.fixture(scope="session")
def random_layer_archive(tmp_path_factory: pytest.TempPathFactory, busybox_layer: bytes) -> Path:
    layer = layer_bytes({"random.bin": os.urandom(BIG)})  # random: stays ~8 MB compressed
    return docker_archive(tmp_path_factory.mktemp("random") / "random.tar", [busybox_layer, layer], "dyk/random:1")


def _pushed(registry: Distribution, client: Client, archive: Path, repo: str, source: str = "dyk/random:1") -> str:
    load(client, archive)
    client("tag", source, f"{registry.host}/{repo}:1")
    client("push", "-q", f"{registry.host}/{repo}:1")
    return f"{repo}:1"


def _state(root: Path) -> tuple[list[str], list[str], list[str]]:
    """Content blobs, layer directories and partial downloads of a store."""
    blobs = sorted(p.name for p in (root / "content/blobs/sha256").glob("*")) if (root / "content/blobs/sha256").is_dir() else []
    driver = next((root / d for d in ("overlay2", "vfs") if (root / d).is_dir()), None)
    layers = sorted(p.name for p in driver.iterdir() if p.name != "l") if driver else []
    partials = sorted(p.name for p in (root / "downloads").rglob("*.partial")) if (root / "downloads").is_dir() else []
    return blobs, layers, partials


def test_lying_registry_leaves_the_store_unchanged(registry: Distribution, client: Client, other_client: Client, three_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, three_layer_archive, repo, "dyk/three:1")
    other_client("images")  # create the store
    before = _state(other_client.root)
    proxy = FaultProxy(registry.url, Faults(corrupt_blobs=True))
    try:
        result = other_client("pull", f"{proxy.host}/{name}", check=False)
    finally:
        proxy.stop()
    assert result.returncode == 1
    assert "digest mismatch" in result.stderr or "verification failed" in result.stderr, result.stderr
    assert other_client("images", "-q").stdout == ""
    assert _state(other_client.root) == before


def test_dropped_connection_resumes_with_range(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, random_layer_archive, repo)
    proxy = FaultProxy(registry.url, Faults(drop_blob_after=3 * 1024 * 1024))
    try:
        other_client("pull", "-q", f"{proxy.host}/{name}")
        ranges = [r[2].get("Range") for r in proxy.blob_requests() if r[2].get("Range")]
    finally:
        proxy.stop()
    assert any(r and r.startswith("bytes=") and r != "bytes=0-" for r in ranges), ranges
    assert other_client("inspect", "-f", "{{.Id}}", f"{proxy.host}/{name}").stdout == client("inspect", "-f", "{{.Id}}", "dyk/random:1").stdout


def test_registry_ignoring_range_still_gives_the_right_bytes(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, random_layer_archive, repo)
    proxy = FaultProxy(registry.url, Faults(drop_blob_after=3 * 1024 * 1024, ignore_range=True))
    try:
        other_client("pull", "-q", f"{proxy.host}/{name}")
    finally:
        proxy.stop()
    assert other_client("inspect", "-f", "{{.Id}}", f"{proxy.host}/{name}").stdout == client("inspect", "-f", "{{.Id}}", "dyk/random:1").stdout


def test_retry_after_is_honoured(registry: Distribution, client: Client, other_client: Client, busybox_tar: Path, repo: str) -> None:
    client("import", str(busybox_tar), f"{registry.host}/{repo}:1")
    client("push", "-q", f"{registry.host}/{repo}:1")
    proxy = FaultProxy(registry.url, Faults(fail_first=[(429, {"Retry-After": "1"}), (503, {})]))
    try:
        started = time.monotonic()
        other_client("pull", "-q", f"{proxy.host}/{repo}:1")
        elapsed = time.monotonic() - started
    finally:
        proxy.stop()
    assert elapsed >= 1.0


def test_oversized_manifest_is_refused(registry: Distribution, client: Client, repo: str) -> None:
    proxy = FaultProxy(registry.url)
    proxy.faults.override[f"/v2/{repo}/manifests/big"] = (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, b" " * (5 * 1024 * 1024))
    try:
        result = client("pull", f"{proxy.host}/{repo}:big", check=False)
    finally:
        proxy.stop()
    assert result.returncode == 1 and "larger than" in result.stderr


def test_schema1_is_refused_clearly(registry: Distribution, client: Client, repo: str) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": repo, "tag": "old", "architecture": "amd64", "fsLayers": [], "history": []}).encode()
    proxy = FaultProxy(registry.url)
    proxy.faults.override[f"/v2/{repo}/manifests/old"] = (200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, schema1)
    try:
        result = client("pull", f"{proxy.host}/{repo}:old", check=False)
    finally:
        proxy.stop()
    assert result.returncode == 1
    assert "Docker Image manifest version 2, schema 1 support is disabled" in result.stderr


def _pull_process(client: Client, name: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "dockyard", "--root", str(client.root), "pull", "-q", name]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "DOCKER_CONFIG": str(client.config_dir)})


def _processes_of(root: Path) -> list[int]:
    mine = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    mine.append(int(entry.name))
            except OSError:
                pass
    return mine


def test_kill_9_mid_pull_then_pull_again_resumes(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, random_layer_archive, repo)
    slow = FaultProxy(registry.url, Faults(rate=4 * 1024 * 1024))
    try:
        proc = _pull_process(other_client, f"{slow.host}/{name}")
        deadline = time.monotonic() + 30
        partial_size = 0
        while partial_size < BIG * 0.6 and time.monotonic() < deadline:
            time.sleep(0.05)
            partials = list((other_client.root / "downloads").rglob("*.partial")) if (other_client.root / "downloads").is_dir() else []
            partial_size = max((p.stat().st_size for p in partials), default=0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        slow.stop()
    assert partial_size >= BIG * 0.6
    deadline = time.monotonic() + 10  # its extraction workers notice and exit
    while _processes_of(other_client.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_of(other_client.root) == []
    counting = FaultProxy(registry.url)
    try:
        other_client("pull", "-q", f"{counting.host}/{name}")
        ranges = [r[2].get("Range") for r in counting.blob_requests()]
    finally:
        counting.stop()
    assert counting.blob_bytes < BIG * 0.5, counting.blob_bytes
    assert any(r and r.startswith("bytes=") for r in ranges), ranges
    assert _state(other_client.root)[2] == []  # no partial left once the blob is complete
    assert other_client("inspect", "-f", "{{.Id}}", f"{counting.host}/{name}").stdout == client("inspect", "-f", "{{.Id}}", "dyk/random:1").stdout


def test_two_pulls_at_once_download_each_blob_once(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, random_layer_archive, repo)
    other_client("images")
    slow = FaultProxy(registry.url, Faults(rate=8 * 1024 * 1024))
    try:
        first = _pull_process(other_client, f"{slow.host}/{name}")
        time.sleep(0.3)
        second = _pull_process(other_client, f"{slow.host}/{name}")
        outs = [p.communicate(timeout=60) for p in (first, second)]
    finally:
        slow.stop()
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    layer_requests = [r for r in slow.blob_requests()]
    assert slow.blob_bytes < BIG * 1.3, (slow.blob_bytes, layer_requests)


def test_ctrl_c_mid_pull_keeps_the_partial_blob(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    name = _pushed(registry, client, random_layer_archive, repo)
    slow = FaultProxy(registry.url, Faults(rate=4 * 1024 * 1024))
    try:
        argv = [sys.executable, "-m", "dockyard", "--root", str(other_client.root), "pull", "-q", f"{slow.host}/{name}"]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 30
        while not list((other_client.root / "downloads").rglob("*.partial")) if (other_client.root / "downloads").is_dir() else True:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        proc.communicate(timeout=30)
    finally:
        slow.stop()
    assert proc.returncode == 130
    assert other_client("images", "-q").stdout == ""
    assert _state(other_client.root)[2], "the partial blob is kept"
    assert _processes_of(other_client.root) == []
    other_client("pull", "-q", f"{registry.host}/{name}")


def test_redirect_to_a_non_http_url_fails_at_once(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    """A redirect no retry can follow is not retried: one blob request per layer, one error line, no locks left."""
    name = _pushed(registry, client, random_layer_archive, repo)
    other_client("images")
    before = _state(other_client.root)
    proxy = FaultProxy(registry.url, Faults(redirect_blobs_to="ftp://127.0.0.1:21"))
    try:
        result = other_client("pull", f"{proxy.host}/{name}", check=False)
        requested = [r[1] for r in proxy.blob_requests()]
    finally:
        proxy.stop()
    assert result.returncode == 1
    assert "redirected to an unsupported URL: ftp://127.0.0.1:21" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    config_and_layers = 3
    assert len(requested) <= config_and_layers and len(requested) == len(set(requested)), requested
    assert _state(other_client.root)[:2] == before[:2]
    assert not list(other_client.root.glob("downloads/**/*.lock"))


def test_failed_pull_leaves_no_lock_files(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    """The registry loses the big layer: the pull fails after its downloads began, and leaves no lock behind."""
    name = _pushed(registry, client, random_layer_archive, repo)
    request = urllib.request.Request(f"{registry.url}/v2/{repo}/manifests/1",
                                     headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request) as resp:
        layers = json.load(resp)["layers"]
    lost = max(layers, key=lambda layer: layer["size"])["digest"]
    unknown = json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]}).encode()
    proxy = FaultProxy(registry.url, Faults(override={f"/v2/{repo}/blobs/{lost}": (404, {"Content-Type": "application/json"}, unknown)}))
    try:
        result = other_client("pull", f"{proxy.host}/{name}", check=False)
    finally:
        proxy.stop()
    assert result.returncode == 1, result.stderr
    assert (other_client.root / "downloads").is_dir()
    assert not list(other_client.root.glob("downloads/**/*.lock"))


def test_a_stalled_blob_ends_with_an_error_after_the_read_timeout(registry: Distribution, client: Client, other_client: Client, random_layer_archive: Path, repo: str) -> None:
    """The registry sends a big layer's headers and then nothing: with daemon.json's registry-read-timeout
    of 1 s, the download resumes, stalls again, and the pull ends with one error line instead of waiting."""
    name = _pushed(registry, client, random_layer_archive, repo)
    other_client("images")
    (other_client.root / "daemon.json").write_text(json.dumps({"registry-read-timeout": 1}))
    proxy = FaultProxy(registry.url, Faults(stall_blobs_over=BIG // 2))
    try:
        result = other_client("pull", f"{proxy.host}/{name}", check=False)
        paths = [r[1] for r in proxy.blob_requests()]
    finally:
        proxy.stop()
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error response from daemon: ") and "timed out" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert max(paths.count(p) for p in paths) > 1, "the stalled download was tried again before the pull gave up"
    assert not list(other_client.root.glob("downloads/**/*.lock"))
    assert other_client("images", "-q").stdout == ""


def test_registry_read_timeout_must_be_a_positive_number(client: Client, repo: str) -> None:
    client("images")
    (client.root / "daemon.json").write_text(json.dumps({"registry-read-timeout": "soon"}))
    result = client("pull", f"127.0.0.1:1/{repo}:1", check=False)
    assert result.returncode == 1 and "registry-read-timeout must be a number of seconds above 0" in result.stderr, result.stderr
