"""The container answers Docker gives, checked against Docker's CLI 28 on a private dockerd 20.10: the same
commands on the same image and flags, one container per group.

inspect's key set (every key Docker prints, in its order), Config.Env and commit's image, ``volume inspect`` of
a missing volume, ``cp CTR:/etc -``, and ps's columns and ``{{json .}}``.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect
from tests.helpers.dockerd import Dockerd

DOCKER28 = "/usr/local/bin/docker"  # the current CLI; /usr/bin/docker is Debian's 20.10
pytestmark = pytest.mark.skipif(not os.access(DOCKER28, os.X_OK), reason="Docker's CLI 28 is not installed")


class Docker:
    """Docker's CLI 28 against the private dockerd, with the container and volume names a test made."""

    def __init__(self, dockerd: Dockerd) -> None:
        self.dockerd = dockerd
        self.containers: list[str] = []
        self.volumes: list[str] = []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([DOCKER28, "-H", self.dockerd.host, *args], capture_output=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc

    def text(self, *args: str) -> str:
        return self(*args).stdout.decode()

    def inspect(self, name: str) -> dict[str, Any]:
        return json.loads(self.text("inspect", name))[0]


@pytest.fixture
def docker(dockerd: Dockerd, busybox_tar: Path) -> Iterator[Docker]:
    """The daemon holding ``bb`` (the same busybox tar dockyard's store imports); cleaned after each test."""
    d = Docker(dockerd)
    if d("image", "inspect", "bb", check=False).returncode != 0:
        d("import", str(busybox_tar), "bb")
    yield d
    if d.containers:
        d("rm", "-f", *d.containers, check=False)
    if d.volumes:
        d("volume", "rm", "-f", *d.volumes, check=False)


def both(dy: Dockyard, docker: Docker, *args: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``create --name N *args`` in both; their inspect documents (dockyard's, Docker's)."""
    name = "cpa-" + uuid.uuid4().hex[:10]
    docker.containers.append(name)
    docker("create", "--name", name, *args)
    dy("create", "--name", name, *args)
    return inspect(dy, name), docker.inspect(name)


def key_tree(value: Any) -> Any:
    """The keys of a document, recursively and in order (lists of objects element by element)."""
    if isinstance(value, dict):
        return [(k, key_tree(v)) for k, v in value.items()]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [key_tree(v) for v in value]
    return None


FLAG_SETS = [
    ("bb", "sh", "-c", "echo one; echo two"),
    ("--privileged", "--init", "-e", "FOO=1", "-v", "VOLUME:/data", "-p", "8080:80", "--read-only", "--memory", "64m",
     "--cap-add", "net_admin", "--cap-add", "ALL", "--cap-drop", "chown", "--restart", "on-failure:2", "--label", "a=b", "bb", "sh"),
    ("--mount", "type=volume,src=VOLUME,dst=/v,readonly", "--mount", "type=bind,src=BIND,dst=/h",
     "--mount", "type=volume,dst=/anon,volume-nocopy", "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m",
     "-w", "/tmp", "-u", "1:1", "--entrypoint", "sh", "bb", "-c", "true"),
]


@pytest.mark.parametrize("flags", FLAG_SETS, ids=["plain", "privileged-and-limits", "mounts"])
def test_inspect_prints_every_key_docker_does(dy: Dockyard, docker: Docker, tmp_path: Path,
                                              flags: tuple[str, ...]) -> None:
    volume = "cpa-v-" + uuid.uuid4().hex[:8]
    docker.volumes.append(volume)
    args = [a.replace("VOLUME", volume).replace("BIND", str(tmp_path)) for a in flags]
    ours, theirs = both(dy, docker, *args)
    for document in (ours, theirs):  # dockerd lists mounts from a map: in no fixed order
        document["Mounts"].sort(key=lambda m: m["Destination"])
    assert key_tree(ours) == key_tree(theirs)
    assert ours["HostConfig"] == theirs["HostConfig"]  # Docker's defaults, and the flags' values
    assert {**ours["Config"], "Hostname": ""} == {**theirs["Config"], "Hostname": ""}
    graph = ours["GraphDriver"]["Data"]
    assert os.path.isdir(graph["LowerDir"].split(":")[0]) and graph["UpperDir"].endswith("/diff")


def test_env_is_docker_merge_and_commit_keeps_it(dy: Dockyard, docker: Docker, busybox_tar: Path) -> None:
    image = "cpa-env-" + uuid.uuid4().hex[:8]
    docker("import", "--change", "ENV A=1 B=2", str(busybox_tar), image)
    dy("import", "--change", "ENV A=1 B=2", str(busybox_tar), image)
    try:
        ours, theirs = both(dy, docker, "-e", "C=4", "-e", "B=3", "-e", "C=5", image, "env")
        # dockerd merges through a Go map, so its order varies from run to run (seen in CI: B=3 first)
        assert ours["Config"]["Env"] == ["C=5", "B=3", "A=1"]
        assert sorted(theirs["Config"]["Env"]) == sorted(ours["Config"]["Env"])
        plain, docker_plain = both(dy, docker, "bb", "env")
        assert plain["Config"]["Env"] is docker_plain["Config"]["Env"] is None  # no PATH the user never set
        # the process still gets PATH, HOSTNAME and HOME, in Docker's order
        seen = [line.split("=", 1)[0] for line in dy("start", "-a", plain["Name"][1:]).stdout.splitlines()]
        docker_seen = [line.split("=", 1)[0] for line in docker.text("start", "-a", plain["Name"][1:]).splitlines()]
        assert seen == docker_seen == ["PATH", "HOSTNAME", "HOME"]

        committed = f"{image}-c"
        for run in (dy, docker):
            run("commit", "-m", "my change", "-c", "ENV X=1", plain["Name"][1:], committed)
        mine = json.loads(dy("image", "inspect", committed).stdout)[0]
        docker_image = json.loads(docker.text("image", "inspect", committed))[0]
        for key in ("Comment", "Author"):
            assert mine[key] == docker_image[key]
        assert mine["Comment"] == "my change"
        assert mine["Config"]["Env"] == docker_image["Config"]["Env"] == ["X=1"]
        assert mine["ContainerConfig"]["Env"] is docker_image["ContainerConfig"]["Env"] is None
        assert list(mine["Config"]) == list(docker_image["Config"])
    finally:
        docker("rm", "-f", *docker.containers, check=False)
        docker.containers.clear()
        docker("rmi", "-f", image, f"{image}-c", check=False)


def test_volume_inspect_of_a_missing_volume(dy: Dockyard, docker: Docker) -> None:
    volume = "cpa-v-" + uuid.uuid4().hex[:8]
    docker.volumes.append(volume)
    docker("volume", "create", volume)
    dy("volume", "create", volume)
    for args in (["nosuch"], ["-f", "{{.Name}}", "nosuch"], [volume, "nosuch"], ["-f", "{{.Name}}", volume, "nosuch"]):
        theirs = docker("volume", "inspect", *args, check=False)
        ours = dy("volume", "inspect", *args, check=False)
        expected = theirs.stdout.decode().replace(str(docker.dockerd.data_root), str(dy.root))
        stamp = '"CreatedAt": "'
        strip = [line for line in expected.splitlines() if stamp not in line]
        assert [line for line in ours.stdout.splitlines() if stamp not in line] == strip, args
        assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr.decode()), args


def _listing(tar_bytes: bytes) -> list[tuple[str, bytes, str, int]]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        # permission bits only: Go's tar headers carry the file type bits too, Python's tarfile drops them
        return [(m.name, m.type, m.linkname, m.mode & 0o7777) for m in tar.getmembers()]


def test_cp_of_etc_lists_what_docker_lists(dy: Dockyard, docker: Docker) -> None:
    ours, _ = both(dy, docker, "bb", "true")
    name = ours["Name"][1:]
    theirs = _listing(docker("cp", f"{name}:/etc", "-").stdout)
    assert ("etc/mtab", tarfile.SYMTYPE, "/proc/mounts", 0o777) in theirs
    assert _listing(dy.raw("cp", f"{name}:/etc", "-").stdout) == theirs


PS_FIELDS = "{{.Command}}|{{.LocalVolumes}}|{{.Labels}}|{{.Mounts}}|{{.Networks}}|{{.Platform}}|{{.State}}|{{.Status}}"


def test_ps_columns_and_json_as_docker(dy: Dockyard, docker: Docker, tmp_path: Path) -> None:
    volume = "cpa-v-" + uuid.uuid4().hex[:8]
    docker.volumes.append(volume)
    ours, _ = both(dy, docker, "--label", "tier=db", "--label", "app=web", "-v", f"{volume}:/data",
                   "-v", f"{tmp_path}:/hostdir", "bb", "sh", "-c", "echo one; echo two", "a b", 'say "hi"\there')
    name = ours["Name"][1:]

    def ps(*args: str) -> tuple[str, str]:
        mine = dy("ps", "-a", "--filter", f"name={name}", *args, check=False)
        theirs = docker("ps", "-a", "--filter", f"name={name}", *args, check=False)
        return mine.stdout + mine.stderr, (theirs.stdout + theirs.stderr).decode()

    for args in (["--format", PS_FIELDS], ["--no-trunc", "--format", PS_FIELDS]):
        mine, theirs = (line.rstrip("\n").split("|") for line in ps(*args))
        for fields in (mine, theirs):  # dockerd lists mounts from a map: in no fixed order
            fields[3] = ",".join(sorted(fields[3].split(",")))
        assert mine == theirs, args
    for args in (["--format", '{{.Label "app"}}/{{.Label "none"}}'], ["--format", "{{.Bogus}}"],
                 ["--format", "table {{.Command}}\t{{.LocalVolumes}}\t{{.Platform}}\t{{.Labels}}"]):
        mine, theirs = ps(*args)
        assert mine == theirs, args
    mine, theirs = ps("--format", "{{json .}}")
    ours_json, theirs_json = json.loads(mine), json.loads(theirs)
    assert list(ours_json) == list(theirs_json)
    assert sorted(ours_json["Mounts"].split(",")) == sorted(theirs_json["Mounts"].split(","))
    for key in ("Command", "Labels", "LocalVolumes", "Platform", "State", "Status"):
        assert ours_json[key] == theirs_json[key], key
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \w+", ours_json["CreatedAt"])  # Go's time.String
    assert ours_json["Size"].startswith("0B (virtual ")
    assert ps("--format", "table {{.ID}}\t{{.Command}}")[0].splitlines()[1].split(None, 1)[1].startswith(
        "\"sh -c 'echo one; ec…\"")


def test_ps_networks_column_by_network_mode(dy: Dockyard, docker: Docker) -> None:
    """A container in another's network namespace (container:NAME) is on no network: the column is empty."""
    base, _ = both(dy, docker, "bb", "sleep", "100")
    names = {"base": base["Name"][1:]}
    for mode in ("none", "host", "container:" + names["base"]):
        ours, _ = both(dy, docker, "--network", mode, "bb", "true")
        names[mode] = ours["Name"][1:]
    for name in names.values():
        fmt = ("--format", "{{.Networks}}|{{.Ports}}")
        mine = dy("ps", "-a", "--filter", f"name=^{name}$", *fmt).stdout
        theirs = docker("ps", "-a", "--filter", f"name=^{name}$", *fmt).stdout.decode()
        assert mine == theirs, name


def test_command_column_and_env_rules_as_pure_functions() -> None:
    from dockyard.cli.containers import ellipsis, ps_command
    from dockyard.runtime.spec import DEFAULT_PATH, config_env, process_env

    assert ps_command(("sh", "-c", "echo one; echo two"), False) == "\"sh -c 'echo one; ec…\""
    assert ps_command(("echo", "a\tb"), True) == '"echo a\\tb"'  # strconv.Quote, not JSON
    assert ellipsis("日本語のコマンド", 7) == "日本語…"  # wide runes take two columns
    assert config_env(["PATH=/x", "A=1", "A=2"], ()) == ("PATH=/x", "A=1", "A=2")  # the image's, as it is
    assert config_env([], ()) == ()
    assert process_env(["A=1", "HOSTNAME=mine"], "h", True) == [
        f"PATH={DEFAULT_PATH}", "HOSTNAME=mine", "TERM=xterm", "A=1"]
