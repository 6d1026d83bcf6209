"""The typed container record: the stored JSON round-trips through it, and the containers table's SQL."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dockyard.errors import ConflictError, InvalidArgumentError, NotFoundError
from dockyard.metadata import Database, ImageRow, LayerRow
from dockyard.metadata.container_record import (
    ContainerRecord,
    HostConfig,
    MountRecord,
    NetworkRequest,
    RestartPolicyRecord,
)
from dockyard.metadata.containers import ContainerRecords

IMAGE = "sha256:" + "1" * 64
LAYER = "sha256:" + "2" * 64


def document(**config: object) -> dict[str, object]:
    """A record as ``create`` writes it: flags, isolation and networking fields merged in."""
    return {
        "Image": "busybox",
        "Process": {"args": ["sh", "-c", "true"], "env": ["PATH=/bin"], "cwd": "/", "user": ""},
        "Config": {
            "Hostname": "abc", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
            "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": ["PATH=/bin"],
            "Cmd": ["sh", "-c", "true"], "Image": "busybox", "Volumes": {"/data": {}}, "WorkingDir": "",
            "Entrypoint": None, "OnBuild": None, "Labels": {"a": "b"}, "StopSignal": None, **config,
            "ExposedPorts": {"80/tcp": {}},
        },
        "HostConfig": {
            "Binds": ["/src:/dst:ro"], "Mounts": [{"Type": "bind", "Spec": "type=bind,src=/a,dst=/b"}],
            "NetworkMode": "bridge", "AutoRemove": False, "SecurityOpt": None, "Memory": 1 << 26, "MemorySwap": -1,
            "NanoCpus": 0, "CpuShares": 0, "PidsLimit": None, "ReadonlyRootfs": False, "Privileged": False,
            "CapAdd": ["NET_ADMIN"], "CapDrop": None, "Init": None,
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}, "Runtime": "runc",
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "PublishAllPorts": False,
            "ExtraHosts": None, "ContainerIDFile": "/tmp/cid",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1k"}}, "Dns": ["1.1.1.1"], "DnsOptions": [],
            "DnsSearch": ["x"], "GroupAdd": ["10"], "IpcMode": "private", "PidMode": "host", "ShmSize": 1 << 27,
            "CpusetCpus": "0", "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rw"}],
            "MemoryReservation": 0, "Ulimits": [{"Name": "nofile", "Hard": 2, "Soft": 1}], "CgroupnsMode": "private",
            "UTSMode": "host", "DeviceCgroupRules": ["c 1:3 r"], "Isolation": "default", "VolumeDriver": "",
            "Sysctls": {"net.a": "1"}, "Links": ["b" * 64 + ":db"], "VolumesFrom": ["other:ro"],
        },
        "Volumes": [
            {"type": "volume", "destination": "/data", "readonly": False, "mode": "", "propagation": None,
             "source": "/v/x/_data", "name": "x", "driver": "local", "anonymous": True, "nocopy": False},
            {"type": "bind", "destination": "/dst", "readonly": True, "mode": "ro", "propagation": None,
             "source": "/src", "name": None},
            {"type": "tmpfs", "destination": "/run", "readonly": False, "mode": None, "propagation": None,
             "source": "", "name": None, "tmpfs_options": ["size=1m"]},
        ],
        "NoNewPrivileges": False,
        "Seccomp": "",
        "Networking": {"Aliases": ["web"], "IPv4Address": "10.1.0.5", "IPv6Address": "", "MacAddress": "02:42:0a:01:00:05",
                       "LinkLocalIPs": ["169.254.8.8"], "Links": ["db:data"], "DriverOpts": {"k": "v"}},
    }


def record(cid: str = "a" * 64, name: str = "one", **config: object) -> ContainerRecord:
    return ContainerRecord.parse(cid, name, IMAGE, "2024-01-01T00:00:00Z", document(**config))


def test_the_stored_document_round_trips() -> None:
    for extra in ({}, {"StopTimeout": 3}):
        doc = document(**extra)
        rec = ContainerRecord.parse("a" * 64, "one", IMAGE, "2024-01-01T00:00:00Z", doc)
        assert rec.document() == doc
        assert list(rec.document()["Config"]) == list(doc["Config"])  # inspect prints Config in this order
    rec = record()
    assert rec.host_config.restart_policy == RestartPolicyRecord("on-failure", 2)
    assert rec.mounts[0] == MountRecord("volume", "/v/x/_data", "/data", mode="", name="x", driver="local", anonymous=True)
    assert rec.config.volumes == ("/data",) and rec.networking.aliases == ("web",)


def test_an_older_row_without_the_later_keys_still_reads() -> None:
    doc = document()
    for key in ("Networking", "Seccomp"):
        del doc[key]
    rec = ContainerRecord.parse("a" * 64, "one", IMAGE, "x", doc)
    assert rec.seccomp == "" and rec.networking.aliases == ()
    doc["Networking"] = {"Aliases": ["web"], "IPv4Address": "10.1.0.5"}  # what the first rows held
    rec = ContainerRecord.parse("a" * 64, "one", IMAGE, "x", doc)
    assert rec.networking == NetworkRequest(("web",), "10.1.0.5")
    assert rec.networking.document()["DriverOpts"] is None and rec.networking.ipam_config() == {"IPv4Address": "10.1.0.5"}


@pytest.fixture
def records(tmp_path: Path) -> ContainerRecords:
    db = Database(tmp_path / "db")
    with db.transaction():
        db.insert_layer(LayerRow(LAYER, LAYER, None, "cache", 1, 1, 0, 1.0))
        db.insert_image(ImageRow(IMAGE, LAYER, None, "2024-01-01T00:00:00Z", 1, 1.0))
    return ContainerRecords(db)


def test_lookup_by_id_name_and_prefix(records: ContainerRecords) -> None:
    records.insert(record("ab" + "0" * 62, "one"), LAYER, "busybox")
    records.insert(record("ac" + "0" * 62, "two"), LAYER, "busybox")
    assert records.db.layer(LAYER).refcount == 3  # the image's reference and one per container
    assert records.lookup("two").id == "ac" + "0" * 62
    assert records.lookup("ab").name == "one"
    assert records.lookup("zz") is None
    with pytest.raises(InvalidArgumentError, match="multiple IDs found with provided prefix: a"):
        records.lookup("a")
    assert {r.name for r in records.all()} == {"one", "two"} and len(records.ids()) == 2


def test_rename_replace_and_delete(records: ContainerRecords) -> None:
    first, second = record("1" * 64, "one"), record("2" * 64, "two")
    records.insert(first, LAYER, "busybox")
    records.insert(second, LAYER, "busybox")
    with pytest.raises(ConflictError, match='"/two" is already in use by container "2222'):
        records.rename(first.id, "two")
    records.rename(first.id, "three")
    records.replace(dataclasses.replace(first, host_config=HostConfig(network_mode="host")))
    stored = records.lookup("three")
    assert stored is not None and stored.host_config.network_mode == "host" and stored.config == first.config
    freed, again = records.delete(first.id, IMAGE), records.delete(first.id, IMAGE)
    assert (freed.cache_ids, freed.content, again.cache_ids, again.content) == ([], [], [], [])
    assert records.db.layer(LAYER).refcount == 2


def test_insert_refuses_an_image_removed_meanwhile(records: ContainerRecords) -> None:
    gone = dataclasses.replace(record(), image_id="sha256:" + "9" * 64)
    with pytest.raises(NotFoundError, match="No such image: busybox"):
        records.insert(gone, None, "busybox")
