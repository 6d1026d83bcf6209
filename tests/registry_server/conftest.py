"""The real registry server as a subprocess on 127.0.0.1, and a small raw-HTTP client for it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import urllib3

from tests.helpers.ceph import Ceph

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ceph() -> Iterator[Ceph]:
    """One Ceph cluster with its gateway for every S3 test of the session (it takes a while to start)."""
    # on disk, not tmpfs (/tmp may be one): BlueStore opens its block file with O_DIRECT; purged at the end
    cluster = Ceph(Path(tempfile.mkdtemp(prefix="dockyard-ceph-", dir="/var/tmp")))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


class RegistryServer:
    """``dockyard registry serve --addr 127.0.0.1:0`` on one storage directory.

    The server prints its URL once the socket listens; the port is the
    kernel's choice, so parallel runs never collide.
    """

    def __init__(self, storage: Path, *args: str, log: Path | None = None, env: dict[str, str] | None = None) -> None:
        self.storage = storage
        self.env = env  # None: this process's environment
        self.args = list(args)
        self.log_path = log or storage.parent / f"{storage.name}-server-{os.getpid()}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    def start(self, timeout: float = 30.0) -> RegistryServer:
        argv = [sys.executable, "-m", "dockyard", "--root", str(self.storage.parent / "dockyard-root"),
                "registry", "serve", "--root", str(self.storage), "--addr", "127.0.0.1:0", *self.args]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=self.env)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode() if ready else ""
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"registry did not start: {line!r}\n{self.log()}")
        self.url = line.split()[-1]
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Reply:
    status: int
    headers: Any
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data)

    @property
    def error_codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


class Client:
    """Raw HTTP against one registry: every status and header is the test's to check."""

    def __init__(self, base: str, **pool: Any) -> None:
        self.base = base
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60), **pool)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, **kw: Any) -> Reply:
        url = path if path.startswith("http") else self.base + path
        r = self.http.request(method, url, body=body, headers=headers or {}, redirect=False, **kw)
        return Reply(r.status, r.headers, r.data)

    # conveniences used by many tests
    def push_blob(self, name: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data, {"Content-Type": "application/octet-stream"})
        assert r.status == 201, (r.status, r.data)
        return digest

    def push_manifest(self, name: str, reference: str, manifest: bytes, media_type: str = "application/vnd.oci.image.manifest.v1+json") -> Reply:
        return self.request("PUT", f"/v2/{name}/manifests/{reference}", manifest, {"Content-Type": media_type})

    def push_image(self, name: str, tag: str, layers: list[bytes], config: dict[str, Any] | None = None,
                   media_type: str = "application/vnd.oci.image.manifest.v1+json", **extra: Any) -> tuple[str, bytes]:
        """Pushes config, layers and manifest; returns the manifest digest and bytes."""
        manifest = image_manifest(self, name, layers, config, media_type, **extra)
        r = self.push_manifest(name, tag, manifest, media_type)
        assert r.status == 201, (r.status, r.data)
        return r.headers["Docker-Content-Digest"], manifest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(client: Client, name: str, layers: list[bytes], config: dict[str, Any] | None = None,
                   media_type: str = "application/vnd.oci.image.manifest.v1+json", **extra: Any) -> bytes:
    docker = media_type.startswith("application/vnd.docker")
    config_bytes = json.dumps(config or {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_type = "application/vnd.docker.container.image.v1+json" if docker else "application/vnd.oci.image.config.v1+json"
    layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker else "application/vnd.oci.image.layer.v1.tar+gzip"
    document = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": client.push_blob(name, config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": layer_type, "digest": client.push_blob(name, layer), "size": len(layer)} for layer in layers],
        **extra,
    }
    return json.dumps(document).encode()


# auth helpers -------------------------------------------------------------------

SERVICE = "dockyard-registry"


def bcrypt_hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ACL = """
users:
  alice: "{alice}"
  bob: "{bob}"
acl:
  - {{account: alice, name: "alice/*", actions: [pull, push, delete]}}
  - {{account: "*", name: "${{account}}-home/*", actions: [pull, push]}}
  - {{account: "*", name: "shared/*", actions: [pull, push]}}
  - {{account: anonymous, name: "public/*", actions: [pull]}}
  - {{account: alice, name: "public/*", actions: [push]}}
  - {{account: alice, type: registry, name: catalog, actions: ["*"]}}
"""


def token(client: Client, *scopes: str, credentials: dict[str, str] | None = None) -> str:
    query = "&".join(f"scope={s}" for s in scopes)
    r = client.request("GET", f"/auth/token?service={SERVICE}&{query}", headers=credentials or {})
    assert r.status == 200, r.data
    return r.json()["token"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One plain registry per test module; tests use their own repository names."""
    with RegistryServer(tmp_path_factory.mktemp("registry") / "storage") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: RegistryServer) -> Client:
    return Client(server.url)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name of its own for each test."""
    return "test/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:80].strip("-")
