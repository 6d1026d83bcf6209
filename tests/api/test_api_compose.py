"""Docker Compose 1.29 (Debian's ``docker-compose``, docker-py 5 inside) against ``dockyard system service``.

One project, brought up once for the module: ``web`` (busybox httpd on a named volume, an env var, a label, a
published port, on the default network and on ``back`` with the alias ``www-alias``) and ``client`` (built
from a Dockerfile, ``depends_on: web``, on ``back`` only, fetching from ``web`` by service name and alias),
and ``reader`` (``volumes_from: web:ro``, a volume binding a host directory, no network).
The tests then drive ``ps``, ``logs``, ``exec -T``, a second ``up`` and, last, ``stop`` and ``down -v``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.api.conftest import ApiService
from tests.conftest import Result

pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                reason="docker-compose missing (scripts/install installs Debian's docker-compose)")

PROJECT = "dycompose"
SERVICES = ("web", "client", "reader")

COMPOSE_FILE = """\
version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello-$$GREETING > /www/index.html && exec httpd -f -p 80 -h /www"]
    environment:
      GREETING: compose
    labels:
      dockyard.test: web-label
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - www:/www
    networks:
      default:
      back:
        aliases: [www-alias]
  client:
    build: ./client
    depends_on: [web]
    networks: [back]
  reader:
    image: busybox:latest
    command: ["sh", "-c", "exec sleep 3600"]
    volumes_from: ["web:ro"]
    volumes: ["hostdir:/host"]
    network_mode: none
volumes:
  www:
  hostdir:
    driver_opts: {{type: none, o: bind, device: "{hostdir}"}}
networks:
  back:
"""

CLIENT_DOCKERFILE = """\
FROM busybox:latest
ENV TARGET=http://web/
CMD ["sh", "-c", "while true; do wget -qO- $TARGET; sleep 1; done"]
"""


@dataclass
class Project:
    service: ApiService
    dir: Path
    port: int
    name: str = PROJECT

    def compose(self, *args: str, check: bool = True, timeout: float = 60, api: str | None = None) -> Result:
        env = {**os.environ, "DOCKER_HOST": self.service.host, "DOCKER_CONFIG": str(self.service.docker_config)}
        if api:
            env["COMPOSE_API_VERSION"] = api
        proc = subprocess.run(["docker-compose", "-p", self.name, *args], cwd=self.dir, capture_output=True,
                              timeout=timeout, env=env)
        result = Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
        if check and proc.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {proc.returncode}:\n{result.stdout}\n"
                                 f"{result.stderr}\n{self.service.log_tail()}")
        return result

    def exec(self, service: str, script: str) -> str:
        return self.compose("exec", "-T", service, "sh", "-c", script).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, deadline: float = 15) -> bytes:
    """The body at ``url``, retried while the server in the container is still starting."""
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read()
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def wait_for(predicate: Callable[[], bool], what: str, deadline: float = 15) -> None:
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def project(api_service: ApiService, api_busybox: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    base = tmp_path_factory.mktemp("compose")
    port = free_port()
    (base / "hostdir").mkdir()
    (base / "docker-compose.yml").write_text(COMPOSE_FILE.format(port=port, hostdir=base / "hostdir"))
    (base / "client").mkdir()
    (base / "client" / "Dockerfile").write_text(CLIENT_DOCKERFILE)
    proj = Project(api_service, base, port)
    up = proj.compose("up", "-d", "--build", timeout=120)
    assert all(f"Creating {PROJECT}_{s}_1" in up.stderr for s in SERVICES), up.stderr
    try:
        yield proj
    finally:
        proj.compose("down", "-v", "-t", "1", check=False)


def test_published_port_answers_from_the_host(project: Project) -> None:
    assert http_get(f"http://127.0.0.1:{project.port}/") == b"hello-compose\n"


def test_ps_lists_both_services_up_with_the_port(project: Project) -> None:
    out = project.compose("ps").stdout
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert set(rows) == {f"{PROJECT}_{s}_1" for s in SERVICES}, out
    assert " Up " in rows[f"{PROJECT}_web_1"] and f"127.0.0.1:{project.port}->80/tcp" in rows[f"{PROJECT}_web_1"]
    assert " Up" in rows[f"{PROJECT}_client_1"] and " Up" in rows[f"{PROJECT}_reader_1"]
    assert project.compose("ps", "-q", "web").stdout.strip() == project.service.docker(
        "ps", "-q", "--no-trunc", "--filter", "label=dockyard.test=web-label").stdout.strip()


def test_client_reaches_web_by_service_name_in_its_logs(project: Project) -> None:
    wait_for(lambda: "hello-compose" in project.compose("logs", "--no-color", "client").stdout, "the client's wget")
    logs = project.compose("logs", "--no-color", "client").stdout
    assert "client_1  | hello-compose" in logs, logs


def test_exec_sees_env_volume_and_the_alias(project: Project) -> None:
    assert project.exec("web", "echo $GREETING; cat /www/index.html") == "compose\nhello-compose\n"
    assert project.exec("client", "wget -qO- http://www-alias/; wget -qO- http://web/") == "hello-compose\n" * 2


def test_volumes_from_shares_the_volume_read_only(project: Project) -> None:
    script = "cat /www/index.html; touch /www/x 2>/dev/null || echo read-only"
    wait_for(lambda: project.exec("reader", script) == "hello-compose\nread-only\n", "the shared volume")


def test_a_bind_volume_writes_to_the_host_directory(project: Project) -> None:
    project.exec("reader", "echo from-reader > /host/out")
    assert (project.dir / "hostdir" / "out").read_text() == "from-reader\n"


def test_labels_name_the_project_and_service(project: Project) -> None:
    out = project.service.docker("ps", "--format", "{{.Names}}", "--filter",
                                 f"label=com.docker.compose.project={PROJECT}",
                                 "--filter", "label=com.docker.compose.service=web").stdout
    assert out.split() == [f"{PROJECT}_web_1"]
    vol = project.service.docker("volume", "inspect", "-f", "{{index .Labels \"com.docker.compose.volume\"}}",
                                 f"{PROJECT}_www").stdout
    assert vol.strip() == "www"


def test_second_up_finds_the_running_containers(project: Project) -> None:
    again = project.compose("up", "-d")
    assert f"{PROJECT}_web_1 is up-to-date" in again.stderr and f"{PROJECT}_client_1 is up-to-date" in again.stderr


def test_stop_then_down_removes_containers_network_and_volume(project: Project) -> None:
    project.compose("stop", "-t", "1")
    states = project.service.docker("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout.split("\n")
    assert sorted(s for s in states if s) == sorted(f"{PROJECT}_{s}_1 exited" for s in SERVICES)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{project.port}/", timeout=2)

    down = project.compose("down", "-v", "-t", "1")
    assert f"Removing volume {PROJECT}_www" in down.stderr, down.stderr
    cli = project.service.cli
    assert cli("ps", "-a", "-q").stdout == ""
    assert f"{PROJECT}_www" not in cli("volume", "ls", "-q").stdout
    assert (project.dir / "hostdir" / "out").exists()  # down -v removes the volume, not the directory it names
    assert PROJECT not in cli("network", "ls", "--format", "{{.Name}}").stdout
    # Compose hangs up on its /events stream after each command: a client leaving is not a server error
    assert "dockyard api:" not in project.service.log.read_text(errors="replace")


HEALTH_FILE = """\
version: "2.4"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 60"]
    healthcheck: {test: ["CMD", "test", "-f", "/tmp/ready"], interval: 1s, timeout: 1s, retries: 20}
  job:
    image: busybox:latest
    command: ["sh", "-c", "test -f /never || echo job-ran; exit 3"]
    depends_on: {db: {condition: service_healthy}}
"""


def test_attached_up_waits_for_health_and_returns_the_exit_code(api_service: ApiService, api_busybox: str,
                                                                 tmp_path: Path) -> None:
    """``up --exit-code-from``: attach to both, start ``job`` once ``db`` is healthy, stop all when it exits."""
    (tmp_path / "docker-compose.yml").write_text(HEALTH_FILE)
    proj = Project(api_service, tmp_path, 0, "dyhealth")
    try:
        up = proj.compose("up", "--no-color", "--abort-on-container-exit", "--exit-code-from", "job", "-t", "1",
                          check=False)
        assert up.returncode == 3, up.stderr
        assert "job_1  | job-ran" in up.stdout, up.stdout
        db = json.loads(api_service.docker("inspect", "dyhealth_db_1").stdout)[0]["State"]
        assert db["Status"] == "exited"  # stopped when job exited
        assert 0 in [probe["ExitCode"] for probe in db["Health"]["Log"]]  # a probe passed before job started
    finally:
        proj.compose("down", "-t", "1", check=False)


RECREATE_FILE = """\
version: "3.8"
services:
  s:
    image: busybox:latest
    command: ["sh", "-c", "exec sleep 600"]
    volumes: ["/anon"]
    environment: {{V: "{v}"}}
"""


def test_changed_service_is_recreated_keeping_its_anonymous_volume(api_service: ApiService, api_busybox: str,
                                                                   tmp_path: Path) -> None:
    """Compose 1.29 reads the image's ``ContainerConfig`` to recreate, a field API 1.45 omits (as dockerd 26+
    does, where Compose 1.29 fails the same way with KeyError 'ContainerConfig'): it must ask for 1.44."""
    proj = Project(api_service, tmp_path, 0, "dyrecreate")
    (tmp_path / "docker-compose.yml").write_text(RECREATE_FILE.format(v=1))
    try:
        proj.compose("up", "-d", api="1.44")
        proj.exec("s", "echo kept > /anon/f")
        (tmp_path / "docker-compose.yml").write_text(RECREATE_FILE.format(v=2))
        up = proj.compose("up", "-d", "-t", "1", api="1.44")
        assert "Recreating dyrecreate_s_1" in up.stderr, up.stderr
        assert proj.compose("exec", "-T", "s", "sh", "-c", "echo $V; cat /anon/f", api="1.44").stdout == "2\nkept\n"
    finally:
        proj.compose("down", "-v", "-t", "1", check=False)
