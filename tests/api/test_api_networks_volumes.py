"""Network and volume routes over a real ``dockyard system service``: the docker CLI and docker-py, raw HTTP for
Docker's shapes and status codes, and the dockyard CLI on the same store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.api.conftest import ApiService

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, overlay mounts and bridges")


def test_volume_create_list_inspect_use_and_remove(svc: ApiService) -> None:
    svc.docker("volume", "create", "--label", "team=a", "data")
    assert svc.docker("volume", "ls", "--format", "{{.Name}}").stdout.split() == ["data"]
    assert svc.docker("volume", "ls", "-q", "--filter", "label=team=b").stdout == ""
    doc = svc.request("GET", "/volumes/data").json()
    assert doc == json.loads(svc.cli("volume", "inspect", "data").stdout)[0]
    assert doc["Labels"] == {"team": "a"} and doc["Driver"] == "local"  # type: ignore[index]
    listed = svc.request("GET", "/volumes").json()
    assert listed["Warnings"] is None and [v["Name"] for v in listed["Volumes"]] == ["data"]  # type: ignore[index]
    svc.docker("run", "--rm", "-v", "data:/data", "bb", "sh", "-c", "echo kept > /data/f")
    assert svc.docker("run", "--rm", "-v", "data:/data", "bb", "cat", "/data/f").stdout == "kept\n"
    svc.docker("run", "-d", "--name", "user", "-v", "data:/data", "bb", "sleep", "100")
    busy = svc.request("DELETE", "/volumes/data")
    assert busy.status == 409
    svc.docker("rm", "-f", "user")
    svc.docker("volume", "rm", "data")
    missing = svc.request("GET", "/volumes/data")
    assert missing.status == 404 and "no such volume" in missing.json()["message"].lower()  # type: ignore[index]


def test_volume_create_and_prune_by_api(svc: ApiService) -> None:
    made = svc.request("POST", "/volumes/create", {"Name": "scratch", "Labels": {"tmp": "1"}})
    assert made.status == 201 and made.json()["Name"] == "scratch"  # type: ignore[index]
    assert "scratch" in svc.cli("volume", "ls", "-q").stdout
    pruned = svc.request("POST", '/volumes/prune?filters={"label":["tmp=1"]}').json()
    assert pruned["VolumesDeleted"] == ["scratch"] and pruned["SpaceReclaimed"] == 0  # type: ignore[index]
    bad = svc.request("GET", '/volumes?filters={"colour":["red"]}')
    assert (bad.status, bad.json()) == (400, {"message": "Invalid filter 'colour'"})


def test_network_create_list_inspect_connect_and_remove(svc: ApiService) -> None:
    net_id = svc.docker("network", "create", "--subnet", "10.231.0.0/24", "--label", "app=x", "apinet").stdout.strip()
    assert len(net_id) == 64
    names = svc.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert {"apinet", "bridge", "host", "none"} <= set(names)
    assert svc.docker("network", "ls", "-q", "--filter", "label=app=x").stdout.strip() == net_id[:12]
    doc = svc.request("GET", "/networks/apinet").json()
    assert doc["Id"] == net_id and doc["IPAM"]["Config"][0]["Subnet"] == "10.231.0.0/24"  # type: ignore[index]
    assert doc == json.loads(svc.cli("network", "inspect", "apinet").stdout)[0]
    svc.docker("run", "-d", "--name", "member", "--network", "apinet", "bb", "sleep", "100")
    members = svc.request("GET", "/networks/apinet").json()["Containers"]  # type: ignore[index]
    assert [m["Name"] for m in members.values()] == ["member"]  # type: ignore[union-attr]
    assert members[next(iter(members))]["IPv4Address"].startswith("10.231.0.")  # type: ignore[index]
    in_use = svc.request("DELETE", "/networks/apinet")
    assert in_use.status == 409
    svc.docker("rm", "-f", "member")
    svc.docker("create", "--name", "later", "bb", "true")
    private = svc.request("POST", "/networks/none/connect", {"Container": "later"})
    assert private.status == 409
    assert svc.request("POST", "/networks/apinet/connect", {"Container": "later"}).status == 200
    assert "apinet" in svc.request("GET", "/containers/later/json").json()["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert svc.request("POST", "/networks/apinet/disconnect", {"Container": "later"}).status == 200
    svc.docker("rm", "later")
    svc.docker("network", "rm", "apinet")
    gone = svc.request("GET", "/networks/apinet")
    assert gone.status == 404


def test_network_create_and_prune_by_docker_py(svc: ApiService) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=svc.host, version="1.45")
    try:
        net = client.networks.create("pynet", driver="bridge", labels={"made": "py"})
        assert client.networks.get(net.id).name == "pynet"
        assert [n.name for n in client.networks.list(filters={"label": "made=py"})] == ["pynet"]
        assert client.networks.prune(filters={"label": "made=py"}) == {"NetworksDeleted": ["pynet"]}
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("pynet")
        vol = client.volumes.create("pyvol")
        assert vol.attrs["Mountpoint"].endswith("/volumes/pyvol/_data")
        vol.remove()
    finally:
        client.close()


COMPOSE_PROJECT = """\
version: "3"
services:
  db:
    image: bb
    command: sh -c "echo db up > /data/ready; echo db up; while true; do sleep 1; done"
    volumes: ["data:/data"]
    networks: [app]
  web:
    image: bb
    command: sh -c "echo web up; while true; do sleep 1; done"
    depends_on: [db]
    ports: ["127.0.0.1:18093:80"]
    volumes: ["data:/shared"]
    networks: [app]
volumes:
  data:
networks:
  app:
"""


def test_docker_compose_up_ps_logs_exec_down(svc: ApiService, tmp_path: Path) -> None:
    """docker-compose 1.29 on a project with two services, a user network, a named volume, a published port
    and depends_on: all of it goes through the container, network and volume routes."""
    import shutil
    import subprocess

    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed")
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_PROJECT)

    def compose(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": svc.host, "DOCKER_CONFIG": str(svc.docker_config)}
        done = subprocess.run(["docker-compose", "-p", "cmp", *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"docker-compose {' '.join(args)}:\n{done.stderr}\n{svc.log_tail()}"
        return done

    compose("up", "-d")
    try:
        listed = compose("ps").stdout
        assert "cmp_db_1" in listed and "cmp_web_1" in listed and "127.0.0.1:18093->80/tcp" in listed
        assert "cmp_app" in svc.cli("network", "ls").stdout and "cmp_data" in svc.cli("volume", "ls").stdout
        logs = compose("logs", "--no-color").stdout
        assert "db up" in logs and "web up" in logs
        assert compose("exec", "-T", "web", "cat", "/shared/ready").stdout == "db up\n"  # the volume both mount
    finally:
        compose("down", "-v", "-t", "1")
    assert svc.docker("ps", "-aq", "--filter", "label=com.docker.compose.project=cmp").stdout == ""
    assert "cmp_app" not in svc.cli("network", "ls").stdout and "cmp_data" not in svc.cli("volume", "ls").stdout
