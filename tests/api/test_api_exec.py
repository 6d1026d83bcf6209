"""Exec routes over a real ``dockyard system service``: ``docker exec`` and docker-py's ``exec_run`` against runc
containers, raw HTTP for the exec record's document and Docker's status codes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.api.conftest import ApiService
from tests.helpers.network import delete_store_bridges

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc and overlay mounts")


@pytest.fixture(scope="module")
def svc(api_service: ApiService, busybox_tar: Path) -> Iterator[ApiService]:
    """``bb`` imported, and ``box`` running ``sleep`` for the execs."""
    api_service.cli("import", str(busybox_tar), "bb")
    api_service.docker("run", "-d", "--name", "box", "bb", "sleep", "1000")
    yield api_service
    api_service.docker("rm", "-f", "box", check=False)
    delete_store_bridges(api_service.root)


def test_docker_exec_output_exit_code_and_stdin(svc: ApiService) -> None:
    ran = svc.docker("exec", "-e", "X=from-exec", "-w", "/tmp", "box", "sh", "-c", 'echo "$X $(pwd)"; echo oops >&2; exit 4',
                     check=False)
    assert (ran.returncode, ran.stdout, ran.stderr) == (4, "from-exec /tmp\n", "oops\n")
    piped = svc.docker("exec", "-i", "box", "cat", input=b"through stdin\n")
    assert piped.stdout == "through stdin\n"
    missing = svc.docker("exec", "box", "no-such-command", check=False)
    assert missing.returncode == 126 and "executable file not found" in missing.stdout + missing.stderr


def test_detached_exec_is_collected_and_inspectable(svc: ApiService) -> None:
    svc.docker("exec", "-d", "box", "sh", "-c", "echo done > /tmp/detached; exit 7")
    deadline = time.monotonic() + 10
    while svc.docker("exec", "box", "cat", "/tmp/detached", check=False).stdout != "done\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert svc.docker("exec", "box", "cat", "/tmp/detached").stdout == "done\n"
    created = svc.request("POST", "/containers/box/exec", {"Cmd": ["sh", "-c", "exit 3"]})
    assert created.status == 201
    exec_id = created.json()["Id"]  # type: ignore[index]
    before = svc.request("GET", f"/exec/{exec_id}/json").json()
    assert before["Running"] is False and before["ExitCode"] is None  # type: ignore[index]
    assert before["ProcessConfig"] == {"arguments": ["-c", "exit 3"], "entrypoint": "sh", "privileged": False,  # type: ignore[index]
                                       "tty": False, "user": ""}
    assert svc.request("POST", f"/exec/{exec_id}/start", {"Detach": True}).status == 200
    deadline = time.monotonic() + 10
    while (doc := svc.request("GET", f"/exec/{exec_id}/json").json())["Running"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.05)
    assert doc["ExitCode"] == 3 and doc["ContainerID"] == svc.request("GET", "/containers/box/json").json()["Id"]  # type: ignore[index]
    again = svc.request("POST", f"/exec/{exec_id}/start", {"Detach": True})
    assert again.status == 409


def test_exec_status_codes(svc: ApiService) -> None:
    assert svc.request("GET", "/exec/nope/json").json() == {"message": "No such exec instance: nope"}
    assert svc.request("POST", "/exec/nope/start", {"Detach": True}).status == 404
    assert svc.request("POST", "/containers/nope/exec", {"Cmd": ["true"]}).status == 404
    assert svc.request("POST", "/containers/box/exec", {"Cmd": []}).status == 400
    svc.docker("create", "--name", "stopped", "bb", "true")
    refused = svc.request("POST", "/containers/stopped/exec", {"Cmd": ["true"]})
    assert refused.status == 409 and refused.json()["message"].endswith("is not running")  # type: ignore[index]
    svc.docker("rm", "stopped")


def test_docker_py_exec_run(svc: ApiService) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=svc.host, version="1.45")
    try:
        box = client.containers.get("box")
        result = box.exec_run(["sh", "-c", "echo py; exit 2"])
        assert (result.exit_code, result.output) == (2, b"py\n")
        split = box.exec_run(["sh", "-c", "echo out; echo err >&2"], demux=True)
        assert split.output == (b"out\n", b"err\n")
        tty = box.exec_run(["sh", "-c", "test -t 1 && echo tty"], tty=True)
        assert tty.output == b"tty\r\n"
    finally:
        client.close()
