"""The Engine API service as the tests meet it: ``dockyard system service`` as a real process on a unix
socket over a temporary root, and small clients for it (raw HTTP, the docker CLI, the dockyard CLI).

``api_service`` runs one service per test module (starting one costs a few hundred milliseconds);
``api_socket`` is its socket path, for clients such as docker-py (``base_url=f"unix://{api_socket}"``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard, Result
from tests.helpers.processes import stop_gently
from tests.registry_client.conftest import basic_registry, registry  # noqa: F401 - fixtures used here


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix socket (the host name only fills the Host header)."""

    def __init__(self, path: Path, timeout: float = 60) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)

    def json_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


@dataclass
class ApiService:
    socket: Path
    root: Path
    process: subprocess.Popen[bytes]
    docker_config: Path
    log: Path
    cli: Dockyard = field(init=False)

    def __post_init__(self) -> None:
        self.cli = Dockyard(self.root)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def request(self, method: str, path: str, body: bytes | object | None = None,
                headers: dict[str, str] | None = None, timeout: float = 120) -> Reply:
        """One request on a fresh connection; a body that is not bytes is sent as JSON."""
        conn = UnixHTTPConnection(self.socket, timeout)
        try:
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            hdrs = dict(headers or {})
            if data is not None and not isinstance(body, bytes):
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def docker(self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 120) -> Result:
        """The docker CLI on the machine, talking to this service."""
        env = {**os.environ, "DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.docker_config)}
        env.pop("DOCKER_BUILDKIT", None)
        proc = subprocess.run(["docker", *args], input=input, capture_output=True, timeout=timeout, env=env)
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}:\n{result.stderr}\n{self.log_tail()}")
        return result

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


def start_service(base: Path, *extra: str) -> ApiService:
    """``dockyard --root BASE/root system service --time 0 unix://BASE/d.sock``, ready when ``/_ping`` answers."""
    sock = base / "d.sock"
    root = base / "root"
    log = base / "service.log"
    config = base / "docker-config"
    config.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "dockyard", "--root", str(root), "system", "service", "--time", "0", *extra,
            f"unix://{sock}"]
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    service = ApiService(sock, root, process, config, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dockyard system service exited {process.returncode}:\n{service.log_tail()}")
        if sock.exists():
            try:
                if service.request("GET", "/_ping", timeout=5).status == 200:
                    return service
            except OSError:
                pass
        time.sleep(0.05)
    stop_service(service)
    raise AssertionError(f"dockyard system service did not answer /_ping:\n{service.log_tail()}")


def stop_service(service: ApiService) -> int:
    """SIGTERM, as systemd stops it; the exit code."""
    return stop_gently(service.process)


@pytest.fixture(scope="module")
def api_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiService]:
    service = start_service(tmp_path_factory.mktemp("api"))
    try:
        yield service
    finally:
        code = stop_service(service)
        assert code == 0, f"the service exited {code} on SIGTERM:\n{service.log_tail()}"


@pytest.fixture(scope="module")
def api_socket(api_service: ApiService) -> Path:
    return api_service.socket


@pytest.fixture(scope="module")
def api_busybox(api_service: ApiService, busybox_tar: Path) -> str:
    """``busybox:latest`` in the service's store, imported through the API (``POST /images/create?fromSrc=-``)."""
    api_service.docker("import", str(busybox_tar), "busybox:latest")
    return "busybox:latest"


@pytest.fixture(scope="module")
def svc(api_service: ApiService, busybox_tar: Path) -> Iterator[ApiService]:
    """The service's store holds ``bb`` (busybox), imported by the dockyard CLI while the service runs; its
    bridge goes at the end (it outlives the containers, as docker0 does)."""
    from tests.helpers.network import delete_store_bridges

    api_service.cli("import", str(busybox_tar), "bb")
    yield api_service
    delete_store_bridges(api_service.root)


# the registry-client tests' Distribution registries (session-wide): plain HTTP on 127.0.0.1, and one
# that wants alice/wonderland
api_registry = registry
api_basic_registry = basic_registry
