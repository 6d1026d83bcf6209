"""dockyard answers as Docker does: the same command lines run against the docker CLI (28) on a private
dockerd and against dockyard, compared by exit code, stdout shape and the stderr line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard, Result, needs_root

pytestmark = [needs_root, pytest.mark.docker]

DOCKER_28 = "/usr/local/bin/docker"
if not os.access(DOCKER_28, os.X_OK):
    pytestmark.append(pytest.mark.skip(reason="docker CLI 28 not installed"))

IMAGES = ("answers/a:1", "answers/a:2", "ansbox:1")


class Both:
    """One command line for each tool; ``docker`` in Docker's messages reads ``dockyard`` in ours."""

    def __init__(self, dockerd, yard: Dockyard) -> None:  # type: ignore[no-untyped-def]
        self.dockerd = dockerd
        self.yard = yard

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[Result, Result]:
        theirs = subprocess.run([DOCKER_28, "-H", self.dockerd.host, *args], capture_output=True, text=True, timeout=300,
                                env={**self.dockerd.env, **(env or {})})  # fmt: skip
        ours = self.yard(*args, check=False, env=env)
        return Result(theirs.returncode, theirs.stdout, theirs.stderr.replace("docker", "dockyard")), ours


def _first(text: str) -> str:
    return text.splitlines()[0] if text else ""


def same_failure(theirs: Result, ours: Result) -> None:
    """Docker's exit code, nothing on stdout, Docker's first stderr line and its help hint."""
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert _first(ours.stderr) == _first(theirs.stderr)
    hint = theirs.stderr.rstrip().splitlines()[-1]
    if hint.startswith("Run 'dockyard"):
        assert ours.stderr.rstrip().endswith(hint)


@pytest.fixture(scope="module")
def both(dockerd, busybox_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Both]:  # type: ignore[no-untyped-def]
    yard = Dockyard(tmp_path_factory.mktemp("answers") / "root")
    pair = Both(dockerd, yard)
    for run in (lambda *a: dockerd.run(*a), lambda *a: yard(*a)):
        run("import", str(busybox_tar), IMAGES[0])
        for name in IMAGES[1:]:
            run("tag", IMAGES[0], name)
        run("volume", "create", "ansvol")
        run("create", "--name", "ans-c", "-l", "app=web", IMAGES[0], "sh")
    yield pair
    for name in ("ans-c",):
        dockerd.run("rm", "-f", name, check=False)
    dockerd.run("rmi", "-f", *IMAGES, check=False)
    dockerd.run("volume", "rm", "ansvol", check=False)


# images and their reference filter -----------------------------------------------------


@pytest.mark.parametrize(
    "args, listed",
    [
        (["images", "answers/a"], ["answers/a:1", "answers/a:2"]),
        (["images", "answers/a:1"], ["answers/a:1"]),
        (["images", "--digests", "answers/a:2"], ["answers/a:2"]),
        (["images", "--filter", "reference=answers/*"], ["answers/a:1", "answers/a:2"]),
        (["images", "--filter", "reference=ans*"], ["ansbox:1"]),  # * does not cross '/'
        (["images", "--filter", "reference=*/a:[^2]"], ["answers/a:1"]),
        (["images", "--filter", "reference=docker.io/library/ansbox"], []),  # only the familiar name matches
        (["images", "--filter", "reference=ansbox", "--filter", "reference=answers/a:2"], ["ansbox:1", "answers/a:2"]),
    ],
)
def test_images_list_only_the_names_matched(both: Both, args: list[str], listed: list[str]) -> None:
    theirs, ours = both(*args, "--format", "{{.Repository}}:{{.Tag}}")
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr) == (0, "")
    # Docker's CLI walks an image's repositories in Go map order: compare the names, not their order
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines()) == listed


def test_images_quiet_lists_one_id_per_matching_name(both: Both) -> None:
    theirs, ours = both("images", "-q", "answers/a")
    assert len(ours.stdout.splitlines()) == len(theirs.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["images", "-q", "--format", "{{.Repository}}:{{.Tag}}", "answers/a:1"],  # the user's template wins over -q
        ["history", "-q", "--format", "{{.Comment}}", "answers/a:1"],
        ["images", "--format", "table", "answers/a:1"],  # "table" alone is the default table
        ["images", "--digests", "--format", "table", "answers/a:1"],
        ["history", "--format", "table", "answers/a:1"],
        ["images", "-q", "--format", "table", "answers/a:1"],
    ],
)
def test_quiet_and_table_formats(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args)
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr) == (0, "")
    assert len(ours.stdout.splitlines()) == len(theirs.stdout.splitlines()) > 0
    if "-q" not in args or "table" not in args:  # image IDs differ between the two stores
        assert ours.stdout.split()[0] == theirs.stdout.split()[0]


def test_bad_reference_pattern_is_the_daemons_error(both: Both) -> None:
    same_failure(*both("images", "--filter", "reference=["))


# --format json and Go templates ----------------------------------------------------------


@pytest.mark.parametrize("args", [["images", "answers/a"], ["history", "answers/a:1"], ["ps", "-a", "--filter", "name=ans-c"]])
def test_format_json_prints_an_object_per_line(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args, "--format", "json")
    ours_rows = [json.loads(line) for line in ours.stdout.splitlines()]
    theirs_rows = [json.loads(line) for line in theirs.stdout.splitlines()]
    assert ours.returncode == theirs.returncode == 0
    assert len(ours_rows) == len(theirs_rows) > 0
    for row in ours_rows:
        assert list(row) == sorted(row)  # Docker marshals its contexts as maps: sorted keys
    assert set(ours_rows[0]) >= set(theirs_rows[0]) - {"LocalVolumes", "Platform"}  # the container fields are ps's own


@pytest.mark.parametrize("args", [["image", "inspect"], ["inspect"]])
def test_inspect_format_json_is_the_list_on_one_line(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args, "--format", "json", "answers/a:1", "ansbox:1")
    assert ours.returncode == theirs.returncode == 0
    assert len(ours.stdout.splitlines()) == len(theirs.stdout.splitlines()) == 1
    ours_list, theirs_list = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert len(ours_list) == len(theirs_list) == 2
    assert list(ours_list[0]) == list(theirs_list[0])


@pytest.mark.parametrize(
    "args",
    [
        ["inspect", "ans-nosuch"],
        ["inspect", "--type", "image", "ans-nosuch"],
        ["inspect", "--type", "container", "ans-nosuch"],
        ["inspect", "--type", "network", "ans-nosuch"],
        ["inspect", "--type", "volume", "ans-nosuch"],
        ["inspect", "--type", "plugin", "ans-nosuch"],
        ["inspect", "--type", "bogus", "ans-nosuch"],
    ],
)
def test_inspect_of_a_missing_object(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


def test_inspect_tries_a_container_then_an_image_a_network_a_volume(both: Both) -> None:
    """Docker's CLI order: a container named like an image is the container; networks and volumes answer too."""
    for run in (both.dockerd.run, both.yard):
        run("create", "--name", "ansbox", IMAGES[0], "sh")
    try:
        for tool, run in (("docker", both.dockerd.run), ("dockyard", both.yard)):
            container_id = run("inspect", "--type", "container", "--format", "{{.Id}}", "ansbox").stdout
            assert run("inspect", "--format", "{{.Id}}", "ansbox").stdout == container_id, tool
        theirs, ours = both("inspect", "--format", "{{.Name}}", "bridge", "ansvol")
        assert ours.returncode == theirs.returncode == 0
        assert ours.stdout == theirs.stdout == "bridge\nansvol\n"
    finally:
        for run in (both.dockerd.run, both.yard):
            run("rm", "ansbox")


@pytest.mark.parametrize(
    "args",
    [
        ["version", "--format", "{{.Bogus}}"],
        ["version", "--format", "{{.Server.Bogus}}"],
        ["version", "--format", "{{.Client.Bogus}}"],
        ["version", "--format", "{{.Server.Platform.Bogus}}"],
        ["version", "--format", "{{.Bogus"],
        ["info", "--format", "{{.Bogus}}"],
        ["info", "--format", "{{.Bogus"],
    ],
)
def test_version_and_info_templates_fail_on_an_unknown_field(both: Both, args: list[str]) -> None:
    """Their documents are Go structs: Go's error naming the type, exit 1 (64 when it does not parse)."""
    theirs, ours = both(*args)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert ours.stderr.replace("docker", "dockyard") == theirs.stderr


def test_json_of_a_context_escapes_html_as_docker(both: Both) -> None:
    theirs, ours = both("images", "answers/a:1", "--format", "{{json .Digest}}|{{json .}}")
    assert ours.stdout.split("|")[0] == theirs.stdout.split("|")[0] == '"<none>"'
    assert '"Digest":"\\u003cnone\\u003e"' in ours.stdout and '"Digest":"\\u003cnone\\u003e"' in theirs.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["images", "--format", "{{.Bogus}}"],
        ["images", "--format", "table {{.Repository}}\t{{.Bogus}}"],
        ["history", "answers/a:1", "--format", "{{.Bogus}}"],
        ["ps", "-a", "--format", "{{.Bogus}}"],
        ["network", "ls", "--format", "{{.Bogus}}"],
        ["volume", "ls", "--format", "{{.Bogus}}"],
        ["images", "--format", '{{"\\n"}}'],  # Docker replaces \n before it parses
        ["images", "--format", "{{.Repository"],
        ["images", "--format", "{{end}}"],
        ["ps", "-a", "--format", "{{.Names"],
        ["history", "answers/a:1", "--format", "{{end}}"],
        ["system", "df", "--format", "{{.Bogus"],
        ["system", "df", "--format", "{{.Bogus}}"],
        ["info", "--format", "{{.Bogus"],  # exits 64
        ["stats", "--no-stream", "--format", "{{.Bogus"],
        ["stats", "--no-stream", "-a", "--format", "{{.Bogus}}"],
    ],
)
def test_template_errors_are_dockers(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args)
    same_failure(theirs, ours)
    assert ours.returncode in (1, 64) and "Traceback" not in ours.stderr


def test_ps_label_method(both: Both) -> None:
    theirs, ours = both("ps", "-a", "--filter", "name=ans-c", "--format", '{{.Label "app"}}|{{.Label "none"}}|{{.Names}}')
    assert ours.stdout == theirs.stdout == "web||ans-c\n"
    theirs, ours = both("ps", "-a", "--filter", "name=ans-c", "--format", 'table {{.Label "com.x-y_z"}}|{{.Label "app"}}\t{{.Names}}')
    assert ours.stdout == theirs.stdout and ours.stdout.startswith("x y z|app")


# removal ----------------------------------------------------------------------------------


def test_rmi_force_of_an_image_a_stopped_container_uses(both: Both, busybox_tar: Path) -> None:
    lines = {}
    for name, run in (("docker", both.dockerd.run), ("dockyard", both.yard)):
        image_id = run("import", "-c", "ENV ANSWERS=rmi", str(busybox_tar), "ans-rmi:1").stdout.strip()
        run("create", "--name", "ans-rmi-c", "ans-rmi:1", "sh")
        removed = run("rmi", "-f", "ans-rmi:1")
        assert removed.stdout == f"Untagged: ans-rmi:1\nDeleted: {image_id}\n"
        assert run("images", "-q", "ans-rmi").stdout == ""
        assert run("inspect", "--format", "{{.Image}}", "ans-rmi-c").stdout.strip() == image_id
        assert run("image", "inspect", image_id, check=False).returncode == 1
        lines[name] = run("rm", "ans-rmi-c").stdout
    assert lines["docker"] == lines["dockyard"] == "ans-rmi-c\n"
    # the hidden image went with its last container: its config blob too, not only its row
    assert not (both.yard.root / "content" / "blobs" / "sha256" / image_id.removeprefix("sha256:")).exists()
    assert both.yard("system", "check").stdout == "store is clean\n"


@pytest.mark.parametrize("args", [["rmi", "-f", "ans-nosuch:1"], ["rm", "-f", "ans-nosuch"]])
def test_forced_removal_of_something_missing_is_no_failure(both: Both, args: list[str]) -> None:
    theirs, ours = both(*args)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.returncode == 0 and ours.stderr.startswith("Error response from daemon: No such ")


# exit codes and wording ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["images", "--filter", "dangling"],
        ["ps", "-f", "x"],
        ["volume", "ls", "--filter", "x"],
        ["network", "ls", "-f", "x"],
        ["image", "prune", "-f", "--filter", "x"],
        ["run"],
        ["create"],
        ["images", "a", "b"],
        ["save", "-o", "/ans-nonexistent/x.tar", "answers/a:1"],
        ["tag", "answers/a:1", f"a@sha256:{'0' * 64}"],
        ["image", "prune", "-f", "--filter", "until=bogus"],
        ["image", "inspect", "-f", "{{.Bogus}}", "answers/a:1"],
        ["inspect", "-f", "{{.Config.Bogus}}", "answers/a:1"],
        ["inspect", "-f", "{{.Bogus", "answers/a:1"],  # exits 64
        ["network", "inspect", "-f", "{{.Bogus}}", "none"],
        ["image", "rm"],
        ["image", "ls", "a", "b"],
        ["images", "--filter", "since=ans-nosuch"],
        ["load", "-i", "/ans-nonexistent.tar"],
        ["import", "/ans-nonexistent.tar"],
        ["pull", "--platform", "bogus", "answers/a:1"],
        ["tag", "answers/a:1"],
        ["image", "bogus"],
        ["container", "bogus"],
        ["tag", "answers/a:1", "Bad"],
        ["pull", "Bad"],
        ["rmi", "Bad"],
        ["rmi", "ans-nosuch"],
        ["history", "ans-nosuch"],
        ["image", "inspect", "ans-nosuch"],
        ["pull", "127.0.0.1:1/x:1"],
        ["pull", "ans-nosuch.invalid/x:1"],
        ["create", "Bad"],
        ["create", "answers/a:1"],  # no command: the daemon's answer, exit 1
        ["create", "-m", "1k", "answers/a:1", "sh"],
        ["run", "Bad"],
        ["run", "--rm", "-m", "1k", "answers/a:1", "sh"],
        ["run", "--rm", "-m", "abc", "answers/a:1", "sh"],
        # links, --volumes-from and the namespace, device, isolation and MAC flags
        ["create", "--link", "a:b:c", "answers/a:1", "true"],
        ["create", "--link", "ans-nosuch:x", "answers/a:1", "true"],
        ["create", "--network", "host", "--link", "ans-c:x", "answers/a:1", "true"],
        ["rm", "--link", "ans-c"],
        ["rm", "--link", "ans-c/nosuch"],
        ["create", "--volumes-from", "ans-nosuch", "answers/a:1", "true"],
        ["create", "--volumes-from", "ans-c:xx", "answers/a:1", "true"],
        ["create", "--cgroupns", "bad", "answers/a:1", "true"],
        ["create", "--uts", "bad", "answers/a:1", "true"],
        ["create", "--uts", "host", "-h", "named", "answers/a:1", "true"],
        ["create", "--device-cgroup-rule", "x 1:2 r", "answers/a:1", "true"],
        ["create", "--isolation", "hyperv", "answers/a:1", "true"],
        ["run", "--rm", "--mac-address", "zz", "answers/a:1", "true"],
    ],
)
def test_errors_are_dockers(both: Both, args: list[str]) -> None:
    same_failure(*both(*args))


def _masked(text: str, *addresses: str) -> str:
    for address in addresses:
        text = text.replace(address, "IP")
    return text


def test_links_give_dockers_variables_hosts_line_and_names(both: Both) -> None:
    """A child with variables and ports (a range too); the parent's link variables and hosts line as Docker's,
    addresses aside; ``rm --link`` drops the link from inspect."""
    results = []
    for run in (lambda *a: both.dockerd.run(*a).stdout, lambda *a: both.yard(*a).stdout):
        run("run", "-d", "--name", "ans-child", "-h", "kid", "-e", "FOO=1", "-e", "HOME=/h", "--expose", "80",
            "--expose", "53/udp", "--expose", "8000-8002", IMAGES[0], "sleep", "60")
        ip = run("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "ans-child").strip()
        out = run("run", "--name", "ans-parent", "--link", "ans-child:db", "--add-host", "extra:1.2.3.4", IMAGES[0],
                  "sh", "-c", "env | grep ^DB_ | sort; grep -v localhost /etc/hosts | grep -v ip6")
        links = run("inspect", "-f", "{{json .HostConfig.Links}}", "ans-parent") + run(
            "ps", "-a", "--no-trunc", "--filter", "name=ans-child", "--format", "{{.Names}}")
        removed = run("rm", "--link", "ans-parent/db") + run("inspect", "-f", "{{json .HostConfig.Links}}", "ans-parent")
        run("rm", "-f", "ans-parent", "ans-child")
        results.append((_masked(out, ip).splitlines()[:-1], links, removed))  # the last line: the parent's own
    assert results[1] == results[0]
    assert "DB_PORT_8000_TCP_START=tcp://IP:8000" in results[0][0]


def test_volumes_from_and_namespace_fields_in_inspect(both: Both) -> None:
    template = ("{{json .HostConfig.VolumesFrom}} {{.HostConfig.CgroupnsMode}} {{.HostConfig.UTSMode}} "
                "{{json .HostConfig.DeviceCgroupRules}} {{.HostConfig.Isolation}} {{.HostConfig.VolumeDriver}} "
                "{{len .Mounts}}")
    shown = []
    for run in (lambda *a: both.dockerd.run(*a).stdout, lambda *a: both.yard(*a).stdout):
        run("create", "--name", "ans-vsrc", "-v", "ansvol:/data", IMAGES[0], "true")
        run("create", "--name", "ans-vdst", "--volumes-from", "ans-vsrc:ro", "--cgroupns", "private", "--uts", "host",
            "--device-cgroup-rule", "c 7:128 rwm", "--isolation", "default", "--volume-driver", "foo", IMAGES[0], "true")
        shown.append(run("inspect", "-f", template, "ans-vdst"))
        run("rm", "ans-vdst", "ans-vsrc")
    assert shown[1] == shown[0]


def test_push_failure_is_a_stream_error(both: Both) -> None:
    target = "127.0.0.1:1/answers:1"
    both.dockerd.run("tag", IMAGES[0], target)
    both.yard("tag", IMAGES[0], target)
    try:
        theirs, ours = both("push", target)
        assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
        assert ours.stderr == 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused\n'
    finally:
        both.dockerd.run("rmi", target)
        both.yard("rmi", target)


def test_build_file_is_relative_to_the_working_directory(both: Both, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "sub.Dockerfile").write_text("FROM scratch\nCOPY sub.Dockerfile /\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    here = os.getcwd()
    legacy = {"DOCKER_BUILDKIT": "0"}
    try:
        os.chdir(elsewhere)
        theirs, ours = both("build", "-q", "-f", "sub.Dockerfile", str(context), env=legacy)
        assert ours.returncode == theirs.returncode == 1
        # Docker's legacy builder warns first; the error is its last line
        assert ours.stderr.splitlines()[-1] == theirs.stderr.splitlines()[-1]
        assert str(elsewhere / "sub.Dockerfile") in ours.stderr
        os.chdir(context)
        theirs, ours = both("build", "-q", "-f", "sub.Dockerfile", str(context), env=legacy)
        assert ours.returncode == theirs.returncode == 0
    finally:
        os.chdir(here)
