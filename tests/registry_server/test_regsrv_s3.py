"""The registry on S3: three replicas over one bucket of a real Ceph RADOS Gateway.

The OCI conformance workflows run here unchanged, through a client that sends
each request to the next replica (so every chunked upload hops between
servers); docker and skopeo push and pull through a round-robin TCP balancer.
Faults: a replica killed in the middle of a large chunked push, radosgw
stopped during a pull, twenty pushers at once, GC of abandoned uploads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import urllib3

from dockyard.registry.server.s3client import S3Client, S3Config
from tests.conftest import needs_root
from tests.helpers.ceph import Ceph
from tests.helpers.tcpbalancer import TcpBalancer
from tests.registry_server import test_regsrv_conformance as conformance
from tests.registry_server.conftest import (
    Client,
    RegistryServer,
    Reply,
    digest_of,
    image_manifest,
)
from tests.registry_server.test_regsrv_clients import image_archive, skopeo  # noqa: F401  (fixture)

# The conformance workflows, run again against the replicas (the `client` fixture below).
# Two look at one server's own state (its files, its metrics) and have S3 versions here.
_LOCAL_ONLY = {"test_blobs_are_stored_once", "test_metrics"}
globals().update({n: f for n, f in vars(conformance).items() if n.startswith("test_") and n not in _LOCAL_ONLY})

MiB = 1 << 20


@pytest.fixture(scope="module")
def bucket(ceph: Ceph) -> str:
    return f"registry-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def s3(ceph: Ceph, bucket: str) -> S3Client:
    return S3Client(S3Config(ceph.endpoint, bucket, ceph.access_key, ceph.secret_key, prefix="dockyard"))


def write_config(path: Path, ceph: Ceph, bucket: str, **extra: Any) -> Path:
    path.write_text(ceph.config(bucket, prefix="dockyard", lockttl=2, **extra))
    return path


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory, ceph: Ceph, bucket: str) -> Path:
    return write_config(tmp_path_factory.mktemp("s3conf") / "registry.yaml", ceph, bucket)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory, config_file: Path) -> Iterator[list[RegistryServer]]:
    base = tmp_path_factory.mktemp("replicas")
    servers = [RegistryServer(base / f"r{i}", "--config", str(config_file)) for i in range(3)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


class RoundRobinClient(Client):
    """Each request to the next replica: sessions started on one continue on the others."""

    def __init__(self, bases: list[str]) -> None:
        super().__init__(bases[0], maxsize=32)
        self._bases = itertools.cycle(bases)
        self._lock = threading.Lock()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        with self._lock:
            self.base = next(self._bases)
        return super().request(method, path, body, headers, **kw)


@pytest.fixture(scope="module")
def client(replicas: list[RegistryServer]) -> Client:
    return RoundRobinClient([r.url for r in replicas])


@pytest.fixture(scope="module")
def balancer(replicas: list[RegistryServer]) -> Iterator[TcpBalancer]:
    lb = TcpBalancer([("127.0.0.1", int(r.url.rsplit(":", 1)[1])) for r in replicas]).start()
    try:
        yield lb
    finally:
        lb.close()


def blob_keys(s3: S3Client, digest: str) -> list[str]:
    objects, _ = s3.list("blobs/", delimiter="")
    return [o.key for o in objects if digest.split(":")[1] in o.key]


def multipart_uploads(s3: S3Client, prefix: str = "") -> list[str]:
    return [key for key, _, _ in s3.list_multipart(prefix)]


# layout and consistency -----------------------------------------------------------


def test_blobs_are_stored_once_even_when_pushed_at_once(client: Client, s3: S3Client, repo: str) -> None:
    data = os.urandom(2048)
    with ThreadPoolExecutor(6) as pool:
        digests = set(pool.map(lambda n: client.push_blob(f"{repo}/{n}", data), range(6)))
    assert digests == {digest_of(data)}
    keys = blob_keys(s3, digest_of(data))
    assert keys == [f"blobs/sha256/{digest_of(data)[7:9]}/{digest_of(data)[7:]}/data"]
    assert s3.get(keys[0]) == data
    assert multipart_uploads(s3, "repositories/" + repo) == []


def test_metrics_per_replica(replicas: list[RegistryServer]) -> None:
    for replica in replicas:
        one = Client(replica.url)
        assert one.request("GET", "/v2/").status == 200
        text = one.request("GET", "/metrics").data.decode()
        assert 'registry_http_requests_total{endpoint="base",method="GET",status="200"' in text


def test_large_chunked_upload_uses_multipart_parts(client: Client, s3: S3Client, repo: str) -> None:
    """Chunks of 6 MiB become parts; the session state survives replica hops; a bad digest leaves nothing."""
    data = os.urandom(20 * MiB + 123)
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    for start in range(0, len(data), 6 * MiB):
        chunk = data[start : start + 6 * MiB]
        r = client.request("PATCH", location, chunk, {"Content-Range": f"{start}-{start + len(chunk) - 1}"})
        assert r.status == 202 and r.headers["Range"] == f"0-{start + len(chunk) - 1}", r.data
        location = r.headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    assert len(multipart_uploads(s3, f"repositories/{repo}/_uploads/{upload_id}/")) == 1
    wrong = client.request("PUT", f"{location}?digest={digest_of(b'something else')}")
    assert wrong.status == 400 and wrong.error_codes == ["DIGEST_INVALID"]
    assert multipart_uploads(s3, f"repositories/{repo}/") == []  # aborted, nothing visible
    assert blob_keys(s3, digest_of(data)) == [] and blob_keys(s3, digest_of(b"something else")) == []
    # the same bytes again, finished on another replica
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    for start in range(0, len(data), 7 * MiB):
        location = client.request("PATCH", location, data[start : start + 7 * MiB]).headers["Location"]
    r = client.request("PUT", f"{location}?digest={digest_of(data)}")
    assert r.status == 201, r.data
    ranged = client.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}", headers={"Range": f"bytes={9 * MiB}-{9 * MiB + 99}"})
    assert ranged.status == 206 and ranged.data == data[9 * MiB : 9 * MiB + 100]
    assert ranged.headers["Content-Range"] == f"bytes {9 * MiB}-{9 * MiB + 99}/{len(data)}"
    assert hashlib.sha256(client.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}").data).hexdigest() == digest_of(data)[7:]


def test_tag_updates_are_atomic(client: Client, replicas: list[RegistryServer], repo: str) -> None:
    """Readers on every replica see the old manifest or the new one while the tag moves."""
    first, m1 = client.push_image(repo, "moving", [os.urandom(100)])
    m2 = image_manifest(client, repo, [os.urandom(100)])
    stop = threading.Event()
    seen: list[str] = []

    def reader() -> None:
        own = RoundRobinClient([r.url for r in replicas])
        while not stop.is_set():
            r = own.request("GET", f"/v2/{repo}/manifests/moving", headers={"Accept": conformance.OCI_MANIFEST})
            assert r.status == 200 and r.headers["Docker-Content-Digest"] == digest_of(r.data)
            seen.append(r.headers["Docker-Content-Digest"])

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(5):
        assert client.push_manifest(repo, "moving", m2).status == 201
        assert client.push_manifest(repo, "moving", m1).status == 201
    stop.set()
    for t in threads:
        t.join()
    assert set(seen) <= {first, digest_of(m2)} and len(seen) > 10


def test_redirect_to_presigned_url(tmp_path: Path, ceph: Ceph, bucket: str, client: Client, repo: str) -> None:
    data = os.urandom(3000)
    digest = client.push_blob(repo, data)
    config = write_config(tmp_path / "redirect.yaml", ceph, bucket, redirect=True)
    with RegistryServer(tmp_path / "storage", "--config", str(config)) as server:
        direct = Client(server.url)
        r = direct.request("GET", f"/v2/{repo}/blobs/{digest}")
        assert r.status == 307 and r.headers["Location"].startswith(ceph.endpoint)
        assert "X-Amz-Signature=" in r.headers["Location"]
        assert urllib3.request("GET", r.headers["Location"]).data == data
        head = direct.request("HEAD", f"/v2/{repo}/blobs/{digest}")  # HEAD answers itself
        assert head.status == 200 and head.headers["Content-Length"] == "3000"


# real clients ---------------------------------------------------------------------


def test_skopeo_through_the_balancer(balancer: TcpBalancer, image_archive: tuple[Path, str], tmp_path: Path) -> None:  # noqa: F811
    archive, _ = image_archive
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{balancer.host}/s3/skopeo:1")
    skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{balancer.host}/s3/skopeo:1", f"docker://{balancer.host}/s3/copied:1")
    layout = tmp_path / "layout"
    skopeo("copy", "--src-tls-verify=false", f"docker://{balancer.host}/s3/copied:1", f"oci:{layout}:1")
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / manifest_digest[7:]).read_bytes())
    for layer in manifest["layers"]:
        assert hashlib.sha256((layout / "blobs" / "sha256" / layer["digest"][7:]).read_bytes()).hexdigest() == layer["digest"][7:]


@needs_root
@pytest.mark.docker
def test_docker_push_pull_through_the_balancer(dockerd, balancer: TcpBalancer, image_archive: tuple[Path, str]) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    archive, image_id = image_archive
    dockerd.run("load", "-i", str(archive))
    remote = f"{balancer.host}/s3/docker:1"
    try:
        dockerd.run("tag", "dyk/bb:1", remote)
        assert "digest: sha256:" in dockerd.run("push", remote).stdout
        dockerd.run("rmi", remote, "dyk/bb:1")
        dockerd.run("pull", remote)
        assert dockerd.image_id(remote) == image_id
        assert dockerd.run("run", "--rm", "--network", "none", remote).stdout == "hello from the registry\n"
    finally:
        dockerd.run("rmi", "-f", remote, "dyk/bb:1", check=False)


# faults ---------------------------------------------------------------------------


def _send_chunk_and_die(url: str, chunk: bytes, victim: RegistryServer, after: int) -> None:
    """PATCHes ``chunk`` but SIGKILLs the server once ``after`` bytes of it went out."""
    import http.client

    address, path = url.split("://", 1)[1].split("/", 1)
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("PATCH", "/" + path)
    conn.putheader("Content-Length", str(len(chunk)))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    conn.send(chunk[:after])
    time.sleep(0.2)
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    try:
        conn.send(chunk[after:])
        conn.getresponse()
    except OSError:
        pass  # the server is gone: the chunk was never acknowledged
    conn.close()


def test_replica_killed_mid_chunked_push(tmp_path: Path, config_file: Path, replicas: list[RegistryServer], repo: str) -> None:
    data = os.urandom(120 * MiB)
    chunk = 16 * MiB
    victim = RegistryServer(tmp_path / "victim", "--config", str(config_file)).start()
    try:
        on_victim = Client(victim.url)
        location = on_victim.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        acknowledged = 0
        for _ in range(3):
            r = on_victim.request("PATCH", location, data[acknowledged : acknowledged + chunk])
            assert r.status == 202, r.data
            acknowledged += chunk
        _send_chunk_and_die(victim.url + location, data[acknowledged : acknowledged + chunk], victim, after=10 * MiB)
    finally:
        victim.stop()
    # the client resumes on the other replicas from what was acknowledged
    others = RoundRobinClient([r.url for r in replicas])
    status = others.request("GET", location)
    assert status.status == 204 and status.headers["Range"] == f"0-{acknowledged - 1}"
    while acknowledged < len(data):
        piece = data[acknowledged : acknowledged + chunk]
        r = others.request("PATCH", location, piece, {"Content-Range": f"{acknowledged}-{acknowledged + len(piece) - 1}"})
        assert r.status == 202, r.data
        acknowledged += len(piece)
    digest = digest_of(data)
    assert others.request("PUT", f"{location}?digest={digest}").status == 201
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": conformance.OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": others.push_blob(repo, config), "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": len(data)}]}
    assert others.push_manifest(repo, "big", json.dumps(manifest).encode()).status == 201
    pulled = json.loads(others.request("GET", f"/v2/{repo}/manifests/big", headers={"Accept": conformance.OCI_MANIFEST}).data)
    r = others.http.request("GET", f"{others.base}/v2/{repo}/blobs/{pulled['layers'][0]['digest']}", preload_content=False)
    hasher = hashlib.sha256()
    for piece in r.stream(MiB):
        hasher.update(piece)
    assert "sha256:" + hasher.hexdigest() == digest


def test_chunk_cut_by_the_client_is_not_kept(client: Client, replicas: list[RegistryServer], repo: str) -> None:
    """A PATCH that loses its client after a part went to the store leaves the session as it was."""
    import http.client

    data = os.urandom(30 * MiB)
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert client.request("PATCH", location, data[: 6 * MiB]).status == 202
    host, port = replicas[1].url.split("://", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("PATCH", location)
    conn.putheader("Content-Length", str(12 * MiB))
    conn.endheaders()
    conn.send(data[6 * MiB : 18 * MiB - 1])  # more than a part, one byte short of the chunk
    time.sleep(0.5)
    conn.close()
    deadline = time.monotonic() + 20
    while (status := client.request("GET", location)).headers.get("Range") != f"0-{6 * MiB - 1}" and time.monotonic() < deadline:
        time.sleep(0.2)  # the server notices the cut and rolls the chunk back
    assert status.status == 204 and status.headers["Range"] == f"0-{6 * MiB - 1}"
    r = client.request("PATCH", location, data[6 * MiB :], {"Content-Range": f"{6 * MiB}-{len(data) - 1}"})
    assert r.status == 202, r.data
    assert client.request("PUT", f"{location}?digest={digest_of(data)}").status == 201
    assert client.request("GET", f"/v2/{repo}/blobs/{digest_of(data)}").data == data


def _download(url: str, size: int, midway: threading.Event) -> tuple[bytes, int]:
    """GET with resumption by Range after every failure, as a pulling client does; returns (bytes, failures).

    Reads slowly and sets ``midway`` once a quarter has arrived, so the gateway can go away mid-stream.
    """
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=10))
    got = bytearray()
    failures = 0
    deadline = time.monotonic() + 90
    while len(got) < size:
        assert time.monotonic() < deadline, f"gave up after {failures} failures at {len(got)} bytes"
        headers = {"Range": f"bytes={len(got)}-"} if got else {}
        try:
            r = http.request("GET", url, headers=headers, preload_content=False)
            if r.status not in (200, 206):
                r.drain_conn()
                failures += 1
                time.sleep(0.3)
                continue
            for piece in r.stream(MiB):
                got += piece
                if len(got) >= size // 4:
                    midway.set()
                time.sleep(0.02)
        except (urllib3.exceptions.HTTPError, OSError):
            failures += 1
            time.sleep(0.3)
    return bytes(got), failures


def test_radosgw_restart_during_pull(ceph: Ceph, client: Client, replicas: list[RegistryServer], repo: str) -> None:
    data = os.urandom(64 * MiB)
    digest = client.push_blob(repo, data)
    url = f"{replicas[0].url}/v2/{repo}/blobs/{digest}"
    result: dict[str, Any] = {}
    midway = threading.Event()
    reader = threading.Thread(target=lambda: result.update(zip(("data", "failures"), _download(url, len(data), midway))))
    reader.start()
    assert midway.wait(60)
    ceph.stop_rgw()
    down = Client(replicas[1].url).request("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert down.status >= 500  # no store: an error, never a wrong answer
    time.sleep(1)
    ceph.start_rgw()
    reader.join(timeout=120)
    assert result["failures"] >= 1
    assert hashlib.sha256(result["data"]).hexdigest() == digest[7:]


def test_twenty_concurrent_pushers(client: Client, replicas: list[RegistryServer], s3: S3Client, repo: str) -> None:
    base = os.urandom(1 * MiB)

    def push(n: int) -> tuple[str, str]:
        own = RoundRobinClient([r.url for r in replicas[n % 3 :] + replicas[: n % 3]])
        name = f"{repo}/p{n}"
        layer = os.urandom(256 * 1024 + n)
        location = own.request("POST", f"/v2/{name}/blobs/uploads/").headers["Location"]
        for start in range(0, len(layer), 100_000):
            r = own.request("PATCH", location, layer[start : start + 100_000])
            assert r.status == 202, r.data
            location = r.headers["Location"]
        assert own.request("PUT", f"{location}?digest={digest_of(layer)}").status == 201
        digest, _ = own.push_image(name, "v1", [base, layer])
        return name, digest

    with ThreadPoolExecutor(20) as pool:
        pushed = list(pool.map(push, range(20)))
    for name, digest in pushed:
        manifest = json.loads(client.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": conformance.OCI_MANIFEST}).data)
        assert client.request("HEAD", f"/v2/{name}/manifests/{digest}").status == 200
        for layer in manifest["layers"]:
            assert digest_of(client.request("GET", f"/v2/{name}/blobs/{layer['digest']}").data) == layer["digest"]
    assert len(blob_keys(s3, digest_of(base))) == 1


def _gc(config: Path, tmp_path: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(tmp_path / "root"), "registry", "gc", "--config", str(config), *args],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gc_aborts_abandoned_uploads_and_spares_live_data(tmp_path: Path, ceph: Ceph, bucket: str, repo: str) -> None:
    # a registry of its own under another prefix of the bucket: GC walks everything it holds
    config_file = tmp_path / "gc.yaml"
    config_file.write_text(ceph.config(bucket, prefix="gc-test"))
    s3 = S3Client(S3Config(ceph.endpoint, bucket, ceph.access_key, ceph.secret_key, prefix="gc-test"))
    with RegistryServer(tmp_path / "storage", "--config", str(config_file)) as server:
        _gc_run(tmp_path, config_file, Client(server.url), s3, repo)


def _gc_run(tmp_path: Path, config_file: Path, client: Client, s3: S3Client, repo: str) -> None:
    location = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    assert client.request("PATCH", location, os.urandom(9 * MiB)).status == 202
    upload_id = location.rsplit("/", 1)[1]
    assert multipart_uploads(s3, f"repositories/{repo}/_uploads/{upload_id}/")
    client.push_image(repo, "kept", [os.urandom(500)])
    young = _gc(config_file, tmp_path, "--upload-ttl", "3600")
    assert upload_id not in young
    assert client.request("GET", location).status == 204  # young: kept
    time.sleep(1.1)
    out = _gc(config_file, tmp_path, "--upload-ttl", "1", "--grace", "3600")
    assert f"deleted upload {repo}/{upload_id}" in out
    assert multipart_uploads(s3, f"repositories/{repo}/_uploads/{upload_id}/") == []
    assert client.request("GET", location).status == 404
    manifest = json.loads(client.request("GET", f"/v2/{repo}/manifests/kept", headers={"Accept": conformance.OCI_MANIFEST}).data)
    for layer in manifest["layers"]:
        assert digest_of(client.request("GET", f"/v2/{repo}/blobs/{layer['digest']}").data) == layer["digest"]


def test_bad_s3_settings_are_one_error_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(tmp_path / "root"), "registry", "gc",
                             "--s3-endpoint", "ftp://nowhere", "--s3-bucket", "b", "--s3-access-key", "a", "--s3-secret-key", "s"],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "invalid S3 endpoint" in result.stderr


def test_gc_while_replicas_accept_pushes(tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    """Old garbage goes; images pushed through two replicas while GC runs stay whole."""
    config_file = tmp_path / "gc-live.yaml"
    config_file.write_text(ceph.config(bucket, prefix="gc-live"))
    s3 = S3Client(S3Config(ceph.endpoint, bucket, ceph.access_key, ceph.secret_key, prefix="gc-live"))
    with RegistryServer(tmp_path / "a", "--config", str(config_file)) as one, RegistryServer(tmp_path / "b", "--config", str(config_file)) as two:
        client = RoundRobinClient([one.url, two.url])
        base = os.urandom(4000)
        kept, _ = client.push_image("live/base", "v1", [base])
        garbage = client.push_blob("live/garbage", os.urandom(3000))
        time.sleep(4.5)  # older than the grace period below
        stop = threading.Event()
        pushed: list[tuple[str, str]] = []
        failed: list[BaseException] = []

        def pusher(n: int) -> None:
            i = 0
            try:
                while not stop.is_set():
                    name = f"live/p{n}"
                    digest, _ = client.push_image(name, f"t{i}", [base, os.urandom(2000)])
                    pushed.append((name, digest))
                    i += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                failed.append(exc)

        threads = [threading.Thread(target=pusher, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        try:
            out = _gc(config_file, tmp_path, "--grace", "4", "--delete-untagged")
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert f"deleted blob {garbage}" in out, out
        assert blob_keys(s3, garbage) == []
        assert pushed and not failed, failed
        for name, digest in [("live/base", kept), *pushed]:
            got = client.request("GET", f"/v2/{name}/manifests/{digest}", headers={"Accept": conformance.OCI_MANIFEST})
            assert got.status == 200, (name, digest, out)
            manifest = json.loads(got.data)
            for blob in [manifest["config"], *manifest["layers"]]:
                r = client.request("GET", f"/v2/{name}/blobs/{blob['digest']}")
                assert r.status == 200 and digest_of(r.data) == blob["digest"], (name, blob)


def test_serve_with_a_wrong_secret_fails_before_listening(tmp_path: Path, ceph: Ceph, bucket: str) -> None:
    result = subprocess.run([sys.executable, "-m", "dockyard", "--root", str(tmp_path / "root"), "registry", "serve",
                             "--addr", "127.0.0.1:0", "--s3-endpoint", ceph.endpoint, "--s3-bucket", bucket,
                             "--s3-access-key", ceph.access_key, "--s3-secret-key", "not-the-secret"],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("Error: storage: s3: ") and "403" in result.stderr and result.stderr.count("\n") == 1
