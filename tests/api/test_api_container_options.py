"""``POST /containers/create`` with the HostConfig that docker-py's suite exercises beyond the common set:
legacy links (``DELETE ?link=1``), VolumesFrom, a volume's Subpath, CgroupnsMode, UTSMode, DeviceCgroupRules,
Isolation, VolumeDriver and the MAC address, each applied to a real container and read back from inspect."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ApiService

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc and overlay mounts")


def create(svc: ApiService, cmd: list[str], name: str | None = None, status: int = 201, **host: Any) -> Any:
    body: dict[str, Any] = {"Image": "bb", "Cmd": cmd, "HostConfig": {"NetworkMode": "none", **host}}
    for key in ("Env", "OpenStdin", "ExposedPorts", "MacAddress"):
        if key in host:
            body[key] = body["HostConfig"].pop(key)
    reply = svc.request("POST", "/containers/create" + (f"?name={name}" if name else ""), body)
    assert reply.status == status, reply.body
    return reply.json()["Id"] if status == 201 else reply.json()["message"]  # type: ignore[index]


def inspect(svc: ApiService, ref: str) -> Any:
    reply = svc.request("GET", f"/containers/{ref}/json")
    assert reply.status == 200, reply.body
    return reply.json()


def run(svc: ApiService, cid: str) -> tuple[int, str]:
    """Start, wait, and the output (a container without a terminal: the multiplexed frames' payloads)."""
    assert svc.request("POST", f"/containers/{cid}/start").status == 204, svc.log_tail()
    code = svc.request("POST", f"/containers/{cid}/wait").json()["StatusCode"]  # type: ignore[index]
    raw = svc.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1").body
    out = b""
    while raw:
        size = int.from_bytes(raw[4:8], "big")
        out, raw = out + raw[8 : 8 + size], raw[8 + size :]
    return int(code), out.decode()


def remove(svc: ApiService, *refs: str) -> None:
    for ref in refs:
        svc.request("DELETE", f"/containers/{ref}?force=1&v=1")


def test_links_give_env_and_hosts_lines_and_a_name_that_rm_link_removes(svc: ApiService) -> None:
    create(svc, ["sleep", "60"], "lchild", NetworkMode="bridge", Env=["FOO=1", "HOME=/h"],
           ExposedPorts={"80/tcp": {}, "53/udp": {}})
    assert svc.request("POST", "/containers/lchild/start").status == 204
    child = inspect(svc, "lchild")
    ip, hostname = child["NetworkSettings"]["Networks"]["bridge"]["IPAddress"], child["Config"]["Hostname"]
    parent = create(svc, ["sh", "-c", "env; cat /etc/hosts"], "lparent", NetworkMode="bridge",
                    Links=["lchild:db", "lchild"], ExtraHosts=["extra:1.2.3.4"])
    code, out = run(svc, parent)
    assert code == 0, out
    env = set(out.splitlines())
    # Docker 20.10's variables: the lowest port first (at the same number tcp), each port, the name, the env
    assert {f"DB_PORT=udp://{ip}:53", f"DB_PORT_80_TCP=tcp://{ip}:80", f"DB_PORT_80_TCP_ADDR={ip}",
            "DB_PORT_80_TCP_PORT=80", "DB_PORT_80_TCP_PROTO=tcp", f"DB_PORT_53_UDP=udp://{ip}:53",
            "DB_NAME=/lparent/db", "DB_ENV_FOO=1", "LCHILD_NAME=/lparent/lchild", "LCHILD_ENV_FOO=1"} <= env
    assert not any(v.startswith(("DB_ENV_PATH", "DB_ENV_HOME")) for v in env)
    hosts = out[out.index("127.0.0.1"):].splitlines()
    # after --add-host's line: alias, hostname, name (the name once when it is the alias), then its own line
    assert hosts[-4:-1] == ["1.2.3.4\textra", f"{ip}\tdb {hostname} lchild", f"{ip}\tlchild {hostname}"]
    assert sorted(inspect(svc, "lparent")["HostConfig"]["Links"]) == ["/lchild:/lparent/db", "/lchild:/lparent/lchild"]
    assert "Links" not in inspect(svc, "lparent")["Config"] and "DB_NAME" not in str(inspect(svc, "lparent")["Config"]["Env"])
    # the link's name names the child; the list shows it among the child's names
    assert inspect(svc, "lparent/db")["Id"] == child["Id"]
    listed = {c["Id"]: c["Names"] for c in svc.request("GET", "/containers/json?all=1").json()}  # type: ignore[union-attr]
    assert listed[child["Id"]] == ["/lchild", "/lparent/db", "/lparent/lchild"]
    assert svc.request("DELETE", "/containers/lparent/db?link=1").status == 204
    assert inspect(svc, "lparent")["HostConfig"]["Links"] == ["/lchild:/lparent/lchild"]
    gone = svc.request("DELETE", "/containers/lparent/db?link=1")
    assert (gone.status, gone.json()) == (404, {"message": "No such container: lparent/db"})
    default = svc.request("DELETE", "/containers/lchild?link=1")
    assert default.json() == {"message": "Conflict, cannot remove the default link name of the container"}
    assert inspect(svc, "lchild")["State"]["Running"] is True  # the containers stay
    # an exec in a running parent gets the links' variables too, as dockerd sets them up again for it
    create(svc, ["sleep", "30"], "lrunner", NetworkMode="bridge", Links=["lchild:db"])
    assert svc.request("POST", "/containers/lrunner/start").status == 204
    assert "DB_NAME=/lrunner/db" in svc.docker("exec", "lrunner", "env").stdout.splitlines()
    # a child that is down stops the parent's start, in dockerd's words
    assert svc.request("POST", "/containers/lchild/kill").status == 204
    refused = svc.request("POST", "/containers/lparent/start")
    assert refused.json() == {"message": "Cannot link to a non running container: /lchild AS /lparent/lchild"}
    remove(svc, "lparent", "lrunner", "lchild")


def test_links_refused_as_dockerd_refuses_them(svc: ApiService) -> None:
    assert create(svc, ["true"], status=400, Links=["nosuch:x"]) == "could not get container for nosuch: No such container: nosuch"
    create(svc, ["true"], "lhost", NetworkMode="host")
    assert create(svc, ["true"], status=400, NetworkMode="host", Links=["lhost:x"]).startswith(
        "conflicting options: host type networking can't be used with links")
    assert create(svc, ["true"], status=400, NetworkMode="bridge", Links=["lhost:x"]).startswith(
        "conflicting options: host type networking")  # a child in the host's network cannot be linked either
    assert create(svc, ["true"], status=400, Links=["a:b:c"]) == "bad format for links: a:b:c"
    remove(svc, "lhost")


def test_volumes_from_is_recorded_and_mounts_the_others_volumes(svc: ApiService, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("bound\n")
    create(svc, ["sh", "-c", "echo kept > /data/v"], "vsrc", Binds=["vfvol:/data", f"{tmp_path}:/host"])
    assert run(svc, "vsrc")[0] == 0
    reader = create(svc, ["sh", "-c", "cat /data/v /host/f; touch /data/w"], VolumesFrom=["vsrc:ro"])
    code, out = run(svc, reader)
    assert (code, out.splitlines()[:2]) == (1, ["kept", "bound"]) and "Read-only file system" in out
    doc = inspect(svc, reader)
    assert doc["HostConfig"]["VolumesFrom"] == ["vsrc:ro"] and "Mounts" not in doc["HostConfig"]
    mounts = {m["Destination"]: m for m in doc["Mounts"]}
    assert (mounts["/data"]["Name"], mounts["/data"]["RW"], mounts["/host"]["Source"]) == ("vfvol", False, str(tmp_path))
    assert create(svc, ["true"], status=404, VolumesFrom=["nosuch"]) == "No such container: nosuch"
    assert create(svc, ["true"], status=400, VolumesFrom=["vsrc:xx"]) == "invalid mode: xx"
    remove(svc, reader, "vsrc")
    svc.request("DELETE", "/volumes/vfvol")


def test_subpath_mounts_a_directory_of_the_volume(svc: ApiService) -> None:
    setup = create(svc, ["sh", "-c", "mkdir -p /v/sub && echo inside > /v/sub/f && ln -s / /v/escape"],
                   Binds=["subvol:/v"])
    assert run(svc, setup)[0] == 0
    mount = {"Type": "volume", "Source": "subvol", "Target": "/mnt", "ReadOnly": True,
             "VolumeOptions": {"Subpath": "sub"}}
    reader = create(svc, ["sh", "-c", "ls /mnt; cat /mnt/f"], Mounts=[mount])
    assert run(svc, reader) == (0, "f\ninside\n")
    assert inspect(svc, reader)["HostConfig"]["Mounts"][0]["VolumeOptions"]["Subpath"] == "sub"
    outside = create(svc, ["true"], status=400, Mounts=[{**mount, "VolumeOptions": {"Subpath": "../x"}}])
    assert outside == 'invalid mount config for type "volume": subpath must be a relative path within the volume'
    linked = create(svc, ["true"], Mounts=[{**mount, "VolumeOptions": {"Subpath": "escape"}}])
    refused = svc.request("POST", f"/containers/{linked}/start")
    assert refused.status != 204 and b"cannot access path" in refused.body  # a symbolic link is never followed
    remove(svc, setup, reader, linked)
    svc.request("DELETE", "/volumes/subvol")


def _spec(svc: ApiService, cid: str) -> Any:
    return json.loads((svc.root / "containers" / cid / "config.json").read_text())


def test_namespace_device_isolation_and_driver_fields(svc: ApiService) -> None:
    cid = create(svc, ["sh", "-c", "hostname; readlink /proc/self/ns/cgroup"], CgroupnsMode="private", UTSMode="host",
                 DeviceCgroupRules=["c 7:128 rwm", "b *:* r"], Isolation="default", VolumeDriver="foo")
    host = inspect(svc, cid)["HostConfig"]
    assert (host["CgroupnsMode"], host["UTSMode"], host["DeviceCgroupRules"], host["Isolation"], host["VolumeDriver"]) == (
        "private", "host", ["c 7:128 rwm", "b *:* r"], "default", "foo")
    code, out = run(svc, cid)
    name, ns = out.split()
    assert (code, name) == (0, socket.gethostname())  # the host's UTS namespace
    assert ns != os.readlink("/proc/self/ns/cgroup")  # a cgroup namespace of its own
    linux = _spec(svc, cid)["linux"]
    assert {"allow": True, "type": "c", "major": 7, "minor": 128, "access": "rwm"} in linux["resources"]["devices"]
    assert {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "r"} in linux["resources"]["devices"]
    assert [n["type"] for n in linux["namespaces"]].count("uts") == 0
    assert create(svc, ["true"], status=400, Isolation="hyperv") == "Invalid isolation: \"hyperv\" - linux only supports 'default'"
    assert create(svc, ["true"], status=400, CgroupnsMode="x") == "invalid cgroup namespace mode: x"
    assert create(svc, ["true"], status=400, DeviceCgroupRules=["x"]) == "invalid device cgroup rule format: 'x'"
    remove(svc, cid)


def test_mac_address_of_the_bridge_interface(svc: ApiService) -> None:
    cid = create(svc, ["sh", "-c", "cat /sys/class/net/eth0/address; sleep 30"], NetworkMode="bridge",
                 MacAddress="02:42:ac:11:00:0a")
    assert svc.request("POST", f"/containers/{cid}/start").status == 204
    assert inspect(svc, cid)["NetworkSettings"]["MacAddress"] == "02:42:ac:11:00:0a"
    deadline = time.monotonic() + 10
    logs = b""
    while b"02:42" not in logs and time.monotonic() < deadline:
        logs = svc.request("GET", f"/containers/{cid}/logs?stdout=1").body
        time.sleep(0.1)
    assert re.search(rb"02:42:ac:11:00:0a", logs)
    assert create(svc, ["true"], status=400, NetworkMode="bridge", MacAddress="zz") == "zz is not a valid mac address"
    remove(svc, cid)
