"""Volumes (named, anonymous, copy-up, --mount), rm -v, container prune, ps -s and inspect -s."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until

HEX64 = re.compile(r"[0-9a-f]{64}")


def test_volume_lifecycle_and_copy_up(dy: Dockyard) -> None:
    assert dy("volume", "create", "--label", "team=a", "named").stdout == "named\n"
    assert dy("volume", "create", "named").stdout == "named\n"  # an existing volume is returned as it is
    doc = json.loads(dy("volume", "inspect", "named").stdout)[0]
    assert doc == {"CreatedAt": doc["CreatedAt"], "Driver": "local", "Labels": {"team": "a"},
                   "Mountpoint": str(dy.root / "volumes" / "named" / "_data"), "Name": "named", "Options": None,
                   "Scope": "local"}  # Docker's CLI 28 sends no options: dockerd stores null
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["CreatedAt"])

    # first use copies the image's content at the mount path into the empty volume; later uses keep what is there
    assert dy("run", "--rm", "-v", "named:/etc", "bb", "sh", "-c", "cat /etc/group; echo added > /etc/mine").stdout.startswith("root:x:0:")
    assert sorted(os.listdir(dy.root / "volumes" / "named" / "_data")) == ["group", "mine", "passwd"]
    assert dy("run", "--rm", "-v", "named:/other", "bb", "cat", "/other/mine").stdout == "added\n"
    # a fresh volume over a path the image lacks starts empty; implicit volumes have no labels or options
    dy("run", "--rm", "-v", "fresh:/nothing", "bb", "true")
    assert json.loads(dy("volume", "inspect", "fresh").stdout)[0]["Labels"] is None

    assert dy("volume", "ls").stdout == "DRIVER    VOLUME NAME\nlocal     fresh\nlocal     named\n"
    assert dy("volume", "ls", "-q", "--filter", "label=team=a").stdout == "named\n"
    assert dy("volume", "ls", "-q", "--filter", "name=fre").stdout == "fresh\n"
    assert json.loads(dy("volume", "ls", "--format", "{{json .}}", "--filter", "name=named").stdout) == {
        "Driver": "local", "Labels": "team=a", "Links": "N/A", "Mountpoint": str(dy.root / "volumes" / "named" / "_data"),
        "Name": "named", "Scope": "local", "Size": "N/A"}
    dy("create", "--name", "user", "-v", "named:/data", "bb", "true")
    assert dy("volume", "ls", "-q", "--filter", "dangling=true").stdout == "fresh\n"

    r = dy("volume", "rm", "named", check=False)
    cid = inspect(dy, "user")["Id"]
    assert (r.returncode, r.stderr) == (1, f"Error response from daemon: remove named: volume is in use - [{cid}]\n")
    r = dy("volume", "rm", "nosuch", check=False)
    assert (r.returncode, r.stderr) == (1, "Error: No such volume: nosuch\n")
    r = dy("volume", "inspect", "nosuch", check=False)  # Docker's CLI 28 on the daemon's answer
    assert (r.returncode, r.stdout, r.stderr) == (1, "[]\n", "Error response from daemon: get nosuch: no such volume\n")
    r = dy("volume", "create", "x", check=False)
    assert r.returncode == 1 and "volume name is too short" in r.stderr
    r = dy("volume", "create", "-d", "nope", "vol", check=False)
    assert r.returncode == 1 and 'plugin "nope" not found' in r.stderr

    assert dy("volume", "prune", "-f").stdout == "Deleted Volumes:\nfresh\n\nTotal reclaimed space: 0B\n"
    dy("rm", "user")
    assert dy("volume", "rm", "named").stdout == "named\n"
    assert dy("volume", "ls", "-q").stdout == "" and os.listdir(dy.root / "volumes") == []


def test_anonymous_volumes_mount_flag_and_rm_v(dy: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    dy("import", "--change", "VOLUME /etc", str(busybox_tar), "withvol")
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    dy("create", "--name", "cc", "-v", "/scratch", "--mount", f"type=bind,source={host},target=/h,readonly",
       "--mount", "type=volume,source=mounted,target=/m", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m",
       "withvol", "sh", "-c", "cat /etc/group /h/in; grep ' /t ' /proc/mounts; echo x > /h/no")
    mounts = {m["Destination"]: m for m in inspect(dy, "cc")["Mounts"]}
    assert set(mounts) == {"/scratch", "/h", "/m", "/etc", "/t"}
    assert mounts["/t"] == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True, "Propagation": ""}
    anon = [m["Name"] for m in mounts.values() if m["Type"] == "volume" and m["Name"] != "mounted"]
    assert len(anon) == 2 and all(HEX64.fullmatch(n) for n in anon)
    assert mounts["/h"] == {"Type": "bind", "Source": str(host), "Destination": "/h", "Mode": "", "RW": False,
                            "Propagation": "rprivate"}
    assert mounts["/m"] == {"Type": "volume", "Name": "mounted", "Source": str(dy.root / "volumes" / "mounted" / "_data"),
                            "Destination": "/m", "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""}
    assert sorted(os.listdir(mounts["/etc"]["Source"])) == ["group", "passwd"]  # copied up at create, as Docker
    column = dy("ps", "-a", "--format", "{{.Mounts}}").stdout.strip().split(",")
    assert column[1:4] == [str(host)[:14] + "…", "mounted", ""] and column[0] == anon[0][:14] + "…"
    assert mounts["/scratch"]["Mode"] == "" and inspect(dy, "cc")["Config"]["Volumes"] == {"/scratch": {}, "/etc": {}}
    dy("start", "cc")
    assert wait_until(lambda: inspect(dy, "cc")["State"]["Status"] == "exited", timeout=60)
    logs = dy("logs", "cc")
    assert logs.stdout.startswith("root:x:0:") and "from host" in logs.stdout and "Read-only file system" in logs.stderr
    assert "tmpfs /t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k" in logs.stdout
    assert not (host / "no").exists()

    # rm without -v keeps the anonymous volumes, rm -v removes them (named ones stay)
    dy("create", "--name", "dd", "-v", "/keep", "bb", "true")
    kept = inspect(dy, "dd")["Mounts"][0]["Name"]
    dy("rm", "dd")
    dy("rm", "-v", "cc")
    assert dy("volume", "ls", "-q").stdout.split() == sorted([kept, "mounted"])
    dy("run", "--rm", "-v", "/gone", "bb", "true")  # --rm removes its anonymous volumes too
    assert dy("volume", "ls", "-q").stdout.split() == sorted([kept, "mounted"])

    # bad mounts: Docker's messages, exit 125, nothing left behind (no volume made for a create that failed)
    dy("create", "--name", "cc", "bb", "true")
    for flags, message in (
        (["--mount", "type=bind,source=/nonexistent-dir,target=/x"],
         'invalid mount config for type "bind": bind source path does not exist: /nonexistent-dir'),
        (["--mount", "type=foo,target=/x"], 'invalid mount config for type "foo": mount type unknown'),
        (["--mount", "type=tmpfs,source=a,target=/x"], 'invalid mount config for type "tmpfs": field Source must not be specified'),
        (["--mount", "source=x"], "target is required"),
        (["-v", "rel/path:/x"], "includes invalid characters for a local volume name"),
        (["-v", "/a:/b", "-v", "/c:/b"], "Duplicate mount point: /b"),
        (["--name", "cc", "-v", "made-for-nothing:/x"], 'The container name "/cc" is already in use'),
    ):
        r = dy("run", "--rm", *flags, "bb", "true", check=False)
        assert r.returncode == 125 and message in r.stderr, (flags, r.stderr)
    assert len(dy("ps", "-aq").stdout.split()) == 1 and dy("volume", "ls", "-q").stdout.split() == sorted([kept, "mounted"])


def test_local_bind_volume_names_a_host_directory(dy: Dockyard, tmp_path: Path) -> None:
    """``-o type=none -o o=bind -o device=DIR``, as Compose files write it: containers use DIR itself."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "seed").write_text("from-host\n")
    dy("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "hostdir")
    opts = json.loads(dy("volume", "inspect", "hostdir").stdout)[0]["Options"]
    assert opts == {"type": "none", "o": "bind", "device": str(host)}
    assert dy("run", "--rm", "-v", "hostdir:/d", "bb", "sh", "-c", "cat /d/seed; echo new > /d/made").stdout == "from-host\n"
    assert (host / "made").read_text() == "new\n"
    dy("volume", "rm", "hostdir")
    assert sorted(os.listdir(host)) == ["made", "seed"]  # removing the volume leaves the directory alone
    refused = dy("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "tv", check=False)
    assert refused.returncode == 1 and "not supported by dockyard's local driver" in refused.stderr


def test_sizes_and_container_prune(dy: Dockyard) -> None:
    dy("run", "--name", "wrote", "--label", "keep=no", "bb", "sh", "-c", "echo 12345 > /five")
    dy("create", "--name", "kept", "--label", "keep=yes", "bb", "true")
    ps = dy("ps", "-as").stdout
    header, *rows = ps.splitlines()
    assert header.split()[-1] == "SIZE"
    wrote = next(r for r in rows if " wrote " in r)
    assert wrote.endswith("6B (virtual 1.98MB)")
    doc = json.loads(dy("inspect", "-s", "wrote").stdout)[0]
    image_size = json.loads(dy("inspect", "bb").stdout)[0]["Size"]
    assert (doc["SizeRw"], doc["SizeRootFs"]) == (6, 6 + image_size)
    assert list(doc).index("SizeRw") == list(doc).index("GraphDriver") + 1
    assert "SizeRw" not in json.loads(dy("inspect", "wrote").stdout)[0]

    wrote_id = inspect(dy, "wrote")["Id"]
    # until=1h: only containers created more than an hour ago
    assert dy("container", "prune", "-f", "--filter", "until=1h").stdout == "Total reclaimed space: 0B\n"
    r = dy("container", "prune", "-f", "--filter", "dangling=true", check=False)
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: Invalid filter 'dangling'\n")
    out = dy("container", "prune", "-f", "--filter", "label=keep=no").stdout
    assert out == f"Deleted Containers:\n{wrote_id}\n\nTotal reclaimed space: 6B\n"
    assert dy("container", "ls", "-a", "--format", "{{.Names}}").stdout == "kept\n"
    assert json.loads(dy("container", "inspect", "kept").stdout)[0]["Name"] == "/kept"
    r = dy("container", "inspect", "bb", check=False)  # an image is not a container
    assert (r.returncode, r.stderr) == (1, "Error: No such container: bb\n")
    assert json.loads(dy("container", "inspect", "-s", "kept").stdout)[0]["SizeRw"] == 0
    assert dy("container", "prune", "-f").stdout.startswith("Deleted Containers:\n")
    assert dy("container", "prune", "-f").stdout == "Total reclaimed space: 0B\n"


def test_volume_and_mount_flag_grammar() -> None:
    import pytest

    from dockyard.errors import InvalidArgumentError
    from dockyard.runtime.volumes import MountSpec, parse_mount_flag, parse_volume_flag

    assert parse_volume_flag("/anon/") == MountSpec("volume", None, "/anon")
    assert parse_volume_flag("data:/d") == MountSpec("volume", "data", "/d", mode="z")
    assert parse_volume_flag("data:/d:ro,nocopy") == MountSpec("volume", "data", "/d", True, "ro,nocopy", True)
    assert parse_volume_flag("/h//x:/d:rslave") == MountSpec("bind", "/h/x", "/d", mode="rslave", propagation="rslave")
    assert parse_mount_flag("type=bind,src=/tmp,dst=/x,ro=false") == MountSpec("bind", "/tmp", "/x", propagation="rprivate")
    assert parse_mount_flag("target=/x,readonly,volume-nocopy") == MountSpec("volume", None, "/x", True, nocopy=True)
    assert parse_mount_flag("type=tmpfs,destination=/t,tmpfs-size=2k,tmpfs-mode=700") == MountSpec(
        "tmpfs", None, "/t", tmpfs_options=("size=2048", "mode=700"))
    for bad in ("rel", "/a:/b:bogus", "a:b", "/a:/", "x:/y:ro:extra"):
        with pytest.raises(InvalidArgumentError):
            parse_volume_flag(bad)
    for bad in ("type=bind,target=/x", "type=volume,target=/x,ro=maybe", "type=tmpfs,target=/t,tmpfs-size=lots",
                "type=volume,target=/x,color=red"):
        with pytest.raises(InvalidArgumentError):
            parse_mount_flag(bad)
