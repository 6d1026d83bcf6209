"""Testcontainers for Python (PyPI ``testcontainers``, docker-py 7 inside) against ``dockyard system service``.

Ryuk, the reaper container Testcontainers starts first, needs the ``testcontainers/ryuk`` image from Docker
Hub, which an offline machine cannot pull: these tests disable it (``TESTCONTAINERS_RYUK_DISABLED=true``) and
rely on the context managers to remove what they started.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.api.conftest import ApiService

tc_container = pytest.importorskip("testcontainers.core.container", reason="pip install testcontainers")

HTTPD = ["sh", "-c", "mkdir -p /www && echo tc-ok > /www/index.html && exec httpd -f -p 8080 -h /www"]


@pytest.fixture
def tc_env(api_service: ApiService, api_busybox: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiService]:
    """Testcontainers reads its settings from the environment on first use."""
    monkeypatch.setenv("DOCKER_HOST", api_service.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(api_service.docker_config))
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    yield api_service
    assert api_service.cli("ps", "-a", "-q").stdout == "", "Testcontainers left a container behind"


def test_generic_container_answers_on_its_mapped_port(tc_env: ApiService) -> None:
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    web = (tc_container.DockerContainer("busybox:latest").with_command(HTTPD).with_exposed_ports(8080)
           .with_env("GREETING", "tc").waiting_for(HttpWaitStrategy(8080)))
    with web:
        host, port = web.get_container_host_ip(), web.get_exposed_port(8080)
        assert port != 8080
        with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5) as resp:
            assert resp.read() == b"tc-ok\n"
        result = web.exec(["sh", "-c", "echo $GREETING"])
        assert (result.exit_code, result.output) == (0, b"tc\n")
        assert f"0.0.0.0:{port}->8080/tcp" in tc_env.cli("ps", "--format", "{{.Ports}}").stdout


def test_containers_on_a_network_reach_each_other_by_alias(tc_env: ApiService) -> None:
    from testcontainers.core.network import Network
    from testcontainers.core.wait_strategies import HttpWaitStrategy, LogMessageWaitStrategy

    with Network() as net:
        web = (tc_container.DockerContainer("busybox:latest").with_command(HTTPD).with_exposed_ports(8080)
               .with_network(net).with_network_aliases("webby").waiting_for(HttpWaitStrategy(8080)))
        with web:
            client = (tc_container.DockerContainer("busybox:latest")
                      .with_command(["sh", "-c", "wget -qO- http://webby:8080/; echo done"])
                      .with_network(net).waiting_for(LogMessageWaitStrategy("done")))
            with client:
                assert client.get_logs()[0] == b"tc-ok\ndone\n"
        assert net.name in tc_env.cli("network", "ls", "--format", "{{.Name}}").stdout
    assert net.name not in tc_env.cli("network", "ls", "--format", "{{.Name}}").stdout


def test_volume_mapping_tmpfs_and_copies_both_ways(tc_env: ApiService, tmp_path: Path) -> None:
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "h.txt").write_text("from-host\n")
    box = (tc_container.DockerContainer("busybox:latest").with_command(["sh", "-c", "echo started; exec sleep 60"])
           .with_volume_mapping(str(tmp_path / "in"), "/h", "ro").with_tmpfs_mount("/scratch")
           .with_copy_into_container(b"copied-at-start\n", "/tmp/start.txt")
           .waiting_for(LogMessageWaitStrategy("started")))
    with box:
        assert box.exec("cat /h/h.txt /tmp/start.txt").output == b"from-host\ncopied-at-start\n"
        assert box.exec(["sh", "-c", "touch /h/x 2>/dev/null || echo ro"]).output == b"ro\n"
        assert box.exec(["sh", "-c", "grep ' /scratch ' /proc/mounts"]).output.startswith(b"tmpfs /scratch tmpfs")
        box.copy_into_container(b"later\n", "/tmp/later.txt")
        box.copy_from_container("/tmp/later.txt", tmp_path / "out.txt")
        assert (tmp_path / "out.txt").read_text() == "later\n"
