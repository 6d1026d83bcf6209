"""Container routes over a real ``dockyard system service`` with runc containers: the docker CLI and docker-py
as people use them, raw HTTP for Docker's exact status codes and bodies, and the dockyard CLI on the same store."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from tests.api.conftest import ApiService

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc and overlay mounts")


def _id(svc: ApiService, name: str) -> str:
    reply = svc.request("GET", f"/containers/{name}/json")
    assert reply.status == 200, reply.body
    return str(reply.json()["Id"])  # type: ignore[index]


def test_docker_run_prints_the_output_and_its_exit_code(svc: ApiService) -> None:
    hello = svc.docker("run", "--rm", "bb", "echo", "hi")
    assert hello.stdout == "hi\n"
    both = svc.docker("run", "--name", "split", "bb", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (both.returncode, both.stdout, both.stderr) == (3, "out\n", "err\n")
    listed = svc.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert "split Exited (3)" in listed
    assert "hi" not in listed  # --rm: removed once it ended
    svc.docker("rm", "split")


def test_detached_container_logs_ps_stop_and_remove(svc: ApiService) -> None:
    cid = svc.docker("run", "-d", "--name", "web", "-l", "app=web", "bb", "sh", "-c",
                     "echo out; echo err >&2; sleep 100").stdout.strip()
    assert len(cid) == 64
    deadline = time.monotonic() + 10
    while "out" not in svc.docker("logs", "web").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    logs = svc.docker("logs", "web")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    stamped = svc.docker("logs", "-t", "--tail", "1", "web")
    assert stamped.stdout == "" and stamped.stderr.endswith("Z err\n")
    assert svc.docker("ps", "--filter", "label=app=web", "--format", "{{.ID}} {{.Names}}").stdout == f"{cid[:12]} web\n"
    assert "web" in svc.cli("ps").stdout  # the dockyard CLI sees what the API made
    top = svc.request("GET", "/containers/web/top").json()
    assert "PID" in top["Titles"] and any("sleep 100" in row[-1] for row in top["Processes"])  # type: ignore[index]
    svc.docker("stop", "-t", "1", "web")
    assert svc.docker("inspect", "-f", "{{.State.Status}}", "web").stdout == "exited\n"
    svc.docker("rm", "web")
    assert svc.request("GET", "/containers/web/json").status == 404


def test_status_codes_and_bodies_as_dockerd_answers(svc: ApiService) -> None:
    missing = svc.request("GET", "/containers/nope/json")
    assert (missing.status, missing.json()) == (404, {"message": "No such container: nope"})
    created = svc.request("POST", "/containers/create?name=codes", {"Image": "bb", "Cmd": ["sleep", "100"]})
    assert created.status == 201 and set(created.json()) == {"Id", "Warnings"}  # type: ignore[arg-type]
    again = svc.request("POST", "/containers/create?name=codes", {"Image": "bb", "Cmd": ["true"]})
    assert again.status == 409 and "is already in use" in again.json()["message"]  # type: ignore[index]
    no_image = svc.request("POST", "/containers/create", {"Image": "no-such-image", "Cmd": ["true"]})
    assert no_image.status == 404
    assert svc.request("POST", "/containers/codes/stop").status == 304  # not running
    assert svc.request("POST", "/containers/codes/start").status == 204
    assert svc.request("POST", "/containers/codes/start").status == 304  # running already
    busy = svc.request("DELETE", "/containers/codes")
    assert busy.status == 409
    assert svc.request("POST", "/containers/codes/pause").status == 204
    assert svc.request("GET", "/containers/codes/json").json()["State"]["Status"] == "paused"  # type: ignore[index]
    assert svc.request("POST", "/containers/codes/unpause").status == 204
    assert svc.request("POST", "/containers/codes/kill?signal=KILL").status == 204
    waited = svc.request("POST", "/containers/codes/wait")
    assert waited.status == 200 and waited.json() == {"StatusCode": 137, "Error": None}
    assert svc.request("POST", "/containers/codes/kill").status == 409  # not running
    assert svc.request("POST", "/containers/codes/wait?condition=bogus").status == 400
    assert svc.request("DELETE", "/containers/codes?force=1").status == 204


def test_create_maps_host_config(svc: ApiService, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("bound\n")
    body = {
        "Image": "bb", "Cmd": ["sleep", "100"], "Env": ["A=1"], "Labels": {"k": "v"}, "WorkingDir": "/tmp",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000},
        "HostConfig": {"Binds": [f"{tmp_path}:/host:ro"], "Memory": 64 << 20, "PidsLimit": 50,
                       "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "CapDrop": ["NET_RAW"],
                       "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "Dns": ["9.9.9.9"],
                       "ExtraHosts": ["h1:10.1.2.3"], "Tmpfs": {"/scratch": "size=1m"}, "ReadonlyRootfs": False,
                       "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}, "NetworkMode": "none",
                       "Mounts": [{"Type": "volume", "Source": "apivol", "Target": "/vol"}]},
    }
    created = svc.request("POST", "/containers/create?name=mapped", body)
    assert created.status == 201, created.body
    doc = json.loads(svc.cli("inspect", "mapped").stdout)[0]  # as the dockyard CLI sees it
    host = doc["HostConfig"]
    assert host["Binds"] == [f"{tmp_path}:/host:ro"] and host["Memory"] == 64 << 20 and host["PidsLimit"] == 50
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert host["CapDrop"] == ["CAP_NET_RAW"] and host["Dns"] == ["9.9.9.9"] and host["ExtraHosts"] == ["h1:10.1.2.3"]
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 200, "Soft": 100}] and host["Tmpfs"] == {"/scratch": "size=1m"}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert doc["Config"]["Labels"] == {"k": "v"} and "A=1" in doc["Config"]["Env"] and doc["Config"]["WorkingDir"] == "/tmp"
    assert doc["Config"]["Healthcheck"]["Test"] == ["CMD", "true"]
    assert {m["Destination"] for m in doc["Mounts"]} == {"/host", "/vol"}
    assert svc.request("POST", "/containers/mapped/start").status == 204
    read = svc.docker("exec", "mapped", "cat", "/host/in.txt")
    assert read.stdout == "bound\n"
    api_doc = svc.request("GET", "/containers/mapped/json").json()
    assert api_doc["HostConfig"] == json.loads(svc.cli("inspect", "mapped").stdout)[0]["HostConfig"]  # type: ignore[index]
    svc.docker("rm", "-f", "mapped")
    svc.docker("volume", "rm", "apivol")


def test_list_shows_containers_the_dockyard_cli_made(svc: ApiService) -> None:
    svc.cli("create", "--name", "fromcli", "-l", "made=cli", "bb", "echo", "a b")
    listed = svc.request("GET", '/containers/json?all=1&filters={"label":["made=cli"]}').json()
    assert isinstance(listed, list) and len(listed) == 1
    entry = listed[0]
    assert entry["Names"] == ["/fromcli"] and entry["Command"] == "echo 'a b'" and entry["State"] == "created"
    assert entry["Status"] == "Created" and entry["Image"] == "bb" and entry["Labels"] == {"made": "cli"}
    assert svc.request("GET", '/containers/json?filters={"label":["made=cli"]}').json() == []  # running only
    bad = svc.request("GET", '/containers/json?filters={"colour":["red"]}')
    assert (bad.status, bad.json()) == (400, {"message": "Invalid filter 'colour'"})
    svc.request("DELETE", "/containers/fromcli")


def test_docker_py_run_logs_wait_remove(svc: ApiService) -> None:
    docker = pytest.importorskip("docker")
    client = docker.DockerClient(base_url=svc.host, version="1.45")
    try:
        assert client.containers.run("bb", ["echo", "hello"], remove=True) == b"hello\n"
        c = client.containers.run("bb", ["sh", "-c", "echo one; sleep 0.3; echo two; exit 5"], detach=True)
        assert c.wait(timeout=30) == {"StatusCode": 5, "Error": None}
        assert c.logs() == b"one\ntwo\n"
        assert b"two" in b"".join(c.logs(stream=True, follow=True))
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 5
        c.rename("pyrenamed")
        assert client.containers.get("pyrenamed").id == c.id
        c.remove()
        with pytest.raises(docker.errors.NotFound):
            client.containers.get(c.id)
    finally:
        client.close()


def test_docker_cp_both_ways_and_export(svc: ApiService, tmp_path: Path) -> None:
    svc.docker("run", "-d", "--name", "files", "bb", "sleep", "100")
    src = tmp_path / "hello.txt"
    src.write_text("from host\n")
    svc.docker("cp", str(src), "files:/tmp/")
    assert svc.docker("exec", "files", "cat", "/tmp/hello.txt").stdout == "from host\n"
    out = tmp_path / "back.txt"
    svc.docker("cp", "files:/tmp/hello.txt", str(out))
    assert out.read_text() == "from host\n"
    head = svc.request("HEAD", "/containers/files/archive?path=/tmp/hello.txt")
    assert head.status == 200
    import base64

    stat = json.loads(base64.b64decode(head.headers["x-docker-container-path-stat"]))
    assert (stat["name"], stat["size"], stat["mode"] & 0o777) == ("hello.txt", 10, 0o644)
    assert svc.request("HEAD", "/containers/files/archive?path=/nowhere").status == 404
    exported = svc.request("GET", "/containers/files/export")
    with tarfile.open(fileobj=io.BytesIO(exported.body)) as tar:
        names = tar.getnames()
    assert "tmp/hello.txt" in names and "bin/busybox" in names
    changes = svc.request("GET", "/containers/files/changes").json()
    assert {"Path": "/tmp/hello.txt", "Kind": 1} in changes  # type: ignore[operator]
    svc.docker("rm", "-f", "files")


def test_stats_restart_update_and_prune(svc: ApiService) -> None:
    svc.docker("run", "-d", "--name", "busy", "bb", "sleep", "100")
    shown = svc.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "busy").stdout
    assert shown.strip() == "busy 1"
    one = svc.request("GET", "/containers/busy/stats?stream=false&one-shot=true").json()
    assert one["name"] == "/busy" and one["pids_stats"] == {"current": 1}  # type: ignore[index]
    assert one["memory_stats"]["usage"] > 0 and one["cpu_stats"]["online_cpus"] >= 1  # type: ignore[index]
    started = svc.request("GET", "/containers/busy/json").json()["State"]["StartedAt"]  # type: ignore[index]
    assert svc.request("POST", "/containers/busy/restart?t=0").status == 204
    state = svc.request("GET", "/containers/busy/json").json()["State"]  # type: ignore[index]
    assert state["Running"] and state["StartedAt"] != started
    updated = svc.request("POST", "/containers/busy/update", {"Memory": 32 << 20, "MemorySwap": 64 << 20})
    assert updated.status == 200 and updated.json() == {"Warnings": []}
    assert svc.request("GET", "/containers/busy/json").json()["HostConfig"]["Memory"] == 32 << 20  # type: ignore[index]
    svc.docker("create", "--name", "leftover", "bb", "true")
    pruned = svc.request("POST", "/containers/prune").json()
    assert _id(svc, "busy") not in pruned["ContainersDeleted"]  # type: ignore[index]
    assert svc.request("GET", "/containers/leftover/json").status == 404
    svc.docker("rm", "-f", "busy")
