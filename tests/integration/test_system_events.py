"""``events``, ``info``, ``system df`` and ``system prune`` through the real CLI, and against a private dockerd."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.cli.units import human_size, human_size_with_precision
from tests.conftest import Dockyard, needs_root

pytestmark = needs_root

LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) (\w+) (\S+) (\S*)(?: \((.*)\))?")


def _events(dockyard: Dockyard, *args: str) -> list[tuple[str, str, str, str]]:
    """(type, action, actor, attributes) of each line ``events`` prints for the last minute."""
    out = dockyard("events", "--since", "1m", "--until", "0s", *args).stdout
    found = []
    for text in out.splitlines():
        match = LINE.fullmatch(text)
        assert match, text
        found.append((match.group(2), match.group(3), match.group(4), match.group(5) or ""))
    return found


def test_image_commands_append_dockers_events(dockyard: Dockyard, busybox_tar: Path, tmp_path: Path) -> None:
    image_id = dockyard("import", str(busybox_tar), "bb:1").stdout.strip()
    dockyard("tag", "bb:1", "bb:2")
    dockyard("rmi", "bb:2")
    dockyard("save", "-o", str(tmp_path / "bb.tar"), "bb:1")
    dockyard("load", "-i", str(tmp_path / "bb.tar"))
    dockyard("rmi", "bb:1")
    assert _events(dockyard) == [
        ("image", "tag", image_id, "name=bb:1"),
        ("image", "import", image_id, f"name={image_id}"),
        ("image", "tag", image_id, "name=bb:2"),
        ("image", "untag", image_id, f"name={image_id}"),  # Docker 20.10 names the image, not the tag
        ("image", "save", image_id, f"name={image_id}"),
        ("image", "load", image_id, f"name={image_id}"),
        ("image", "untag", image_id, f"name={image_id}"),
        ("image", "delete", image_id, f"name={image_id}"),
    ]
    assert [e[1] for e in _events(dockyard, "--filter", "event=tag")] == ["tag", "tag"]
    assert _events(dockyard, "--filter", "type=container") == []
    first = json.loads(dockyard("events", "--since", "1m", "--until", "0s", "--format", "{{json .}}").stdout.splitlines()[0])
    assert list(first) == ["status", "id", "Type", "Action", "Actor", "scope", "time", "timeNano"]
    assert first["Actor"] == {"ID": image_id, "Attributes": {"name": "bb:1"}} and first["scope"] == "local"
    assert first["time"] == first["timeNano"] // 10**9 and abs(first["time"] - time.time()) < 120
    templated = dockyard("events", "--since", "1m", "--until", "0s", "--format", "{{.Type}}/{{.Action}}").stdout
    assert templated.splitlines()[:2] == ["image/tag", "image/import"]


def test_events_follows_what_another_process_does(dockyard: Dockyard, store_root: Path, busybox_tar: Path) -> None:
    dockyard("import", str(busybox_tar), "bb:1")
    argv = [sys.executable, "-m", "dockyard", "--root", str(store_root), "events", "--filter", "event=tag",
            "--format", "{{.Action}} {{.Actor.Attributes.name}}"]  # fmt: skip
    follower = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        time.sleep(1.0)  # it has started and read where the log ends
        dockyard("tag", "bb:1", "bb:live")
        assert follower.stdout is not None
        assert follower.stdout.readline() == "tag bb:live\n"
    finally:
        follower.terminate()
        follower.wait(10)
    # --until ends a follow by itself
    started = time.monotonic()
    until = str(time.time() + 1.5)
    assert dockyard("events", "--until", until, "--filter", "type=network").stdout == ""
    assert 1.0 < time.monotonic() - started < 10


def test_info_counts_and_layout(dockyard: Dockyard, busybox_tar: Path, store_root: Path) -> None:
    dockyard("import", str(busybox_tar), "bb:1")
    out = dockyard("info").stdout
    assert out.startswith("Client:\n Context:    default\n Debug Mode: false\n\nServer:\n Containers: 0\n  Running: 0\n")
    assert " Images: 1\n" in out and f" Docker Root Dir: {store_root}\n" in out
    assert re.search(r"^ Storage Driver: (overlay2|vfs)$", out, re.M) and " Logging Driver: json-file\n" in out
    assert dockyard("system", "info", "--format", "{{.Images}} {{.OSType}} {{.DockerRootDir}}").stdout == f"1 linux {store_root}\n"
    engine_id = dockyard("info", "--format", "{{.ID}}").stdout.strip()
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", engine_id)
    assert dockyard("info", "--format", "{{.ID}}").stdout.strip() == engine_id  # made once per root
    # Docker 28: info and events exit 64 on a template they cannot parse, system df 1
    for argv, message, code in ((["info"], "template parsing error", 64), (["system", "df"], "template parsing error", 1),
                                (["events"], "Error parsing format", 64)):  # fmt: skip
        bad = dockyard(*argv, "--format", "{{.Nope", check=False)
        assert (bad.returncode, bad.stderr) == (code, f"{message}: template: :1: unclosed action\n")


def _summary(dockyard: Dockyard) -> dict[str, dict[str, str]]:
    rows = [json.loads(line) for line in dockyard("system", "df", "--format", "{{json .}}").stdout.splitlines()]
    return {row["Type"]: row for row in rows}


def test_df_agrees_with_images_and_ps(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard("import", str(busybox_tar), "bb:1")
    dockyard("create", "--name", "idle", "bb:1", "sh", "-c", "echo hi > /file")
    dockyard("start", "-a", "idle")
    dockyard("volume", "create", "vol1")
    table = dockyard("system", "df").stdout.splitlines()
    assert table[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in table[1:]] == ["Images", "Containers", "Local", "Build"]
    summary = _summary(dockyard)
    # df prints go-units' HumanSize (4 digits), images 3 digits: compare the bytes
    image_size = human_size(int(dockyard("image", "inspect", "-f", "{{.Size}}", "bb:1").stdout))
    assert dockyard("images", "--format", "{{.Size}}").stdout.strip() == human_size_with_precision(
        int(dockyard("image", "inspect", "-f", "{{.Size}}", "bb:1").stdout), 3)
    assert summary["Images"] == {"Type": "Images", "TotalCount": "1", "Active": "1", "Size": image_size,
                                 "Reclaimable": "0B (0%)"}  # fmt: skip
    rw = dockyard("ps", "-a", "-s", "--format", "{{.Size}}").stdout.split()[0]
    assert summary["Containers"]["TotalCount"] == "1" and summary["Containers"]["Active"] == "0"
    assert summary["Containers"]["Size"] == rw and summary["Containers"]["Reclaimable"].startswith(rw)
    assert (summary["Local Volumes"]["TotalCount"], summary["Local Volumes"]["Active"]) == ("1", "0")
    verbose = dockyard("system", "df", "-v").stdout
    assert verbose.startswith("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID ")
    assert re.search(r"^bb +1 +\w{12} .* 1$", verbose, re.M)
    assert re.search(r'^\w{12} +bb:1 +"sh -c echo hi > /fi…" +0 +3B +.* ago +Exited \(0\) .* idle$', verbose, re.M)
    assert re.search(r"^vol1 +0 +0B$", verbose, re.M) and "\nBuild cache usage: 0B\n\nCACHE ID " in verbose


def _sections(out: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for block in out.split("\n\n"):
        title, *lines = block.strip("\n").splitlines()
        sections[title] = lines
    return sections


def _prune_scenario(run, label: str, tar: Path) -> None:  # type: ignore[no-untyped-def]
    """A dangling image, a tagged one, a stopped container, a network and a volume, all labelled."""
    run("import", "-c", f"LABEL {label}", str(tar))
    run("import", "-c", f"LABEL {label}", "-c", "ENV KEEP=1", str(tar), "dyk-prune:tagged")
    run("create", "--name", "dyk-prune-c", "dyk-prune:tagged", "true")
    run("network", "create", "--label", label, "dyk-prune-n")
    run("volume", "create", "--label", label, "dyk-prune-v")


@pytest.mark.docker
def test_prune_removes_what_dockers_does(dockerd, dockyard: Dockyard, busybox_tar: Path) -> None:  # type: ignore[no-untyped-def]
    label = "dyk-test=prune"
    _prune_scenario(dockyard, label, busybox_tar)
    _prune_scenario(lambda *a: dockerd.run(*a).stdout, label, busybox_tar)
    for args in (["-f"], ["-f", "-a", "--volumes"]):
        ours = _sections(dockyard("system", "prune", *args, "--filter", f"label={label}").stdout)
        theirs = _sections(dockerd.run("system", "prune", *args, "--filter", f"label={label}").stdout)
        # the sizes differ: the session's dockerd holds other images that share the busybox layer
        # the session's dockerd may hold other tests' build cache, which its prune lists too
        titles = [[t.split(": ")[0] for t in found if t != "Deleted build cache objects:"] for found in (ours, theirs)]
        assert titles[0] == titles[1], (ours, theirs)
        for title in ("Deleted Networks:", "Deleted Volumes:"):
            assert ours.get(title) == theirs.get(title)
        assert len(ours.get("Deleted Containers:", [])) == len(theirs.get("Deleted Containers:", []))
        untagged = [[line for line in found.get("Deleted Images:", []) if line.startswith("untagged:")] for found in (ours, theirs)]
        assert untagged[0] == untagged[1]
    assert dockyard("images", "-q").stdout == "" and dockyard("ps", "-aq").stdout == ""
    assert "dyk-prune-v" not in dockyard("volume", "ls").stdout


def test_prune_prompt_filters_and_errors(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard("import", str(busybox_tar))  # dangling
    dockyard("import", str(busybox_tar), "bb:1")
    prompt = dockyard("system", "prune", input=b"n\n").stdout
    assert prompt == (
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
        "  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N] "
    )
    assert len(dockyard("images", "-aq").stdout.split()) == 2
    out = dockyard("system", "prune", input=b"y\n").stdout
    # the dangling image's one layer is bb:1's too: nothing freed
    assert re.search(r"\[y/N\] Deleted Images:\ndeleted: sha256:\w{64}\n\nTotal reclaimed space: 0B\n$", out)
    assert dockyard("images", "--format", "{{.Repository}}:{{.Tag}}").stdout == "bb:1\n"
    bad = dockyard("system", "prune", "-f", "--filter", "foo=1", check=False)
    assert (bad.returncode, bad.stderr) == (1, "Error response from daemon: Invalid filter 'foo'\n")
    bad = dockyard("system", "prune", "-f", "--volumes", "--filter", "until=1h", check=False)
    assert (bad.returncode, bad.stderr) == (1, 'ERROR: The "until" filter is not supported with "--volumes"\n')
    assert dockyard("system", "prune", "-f", "--filter", "until=1h").stdout == "Total reclaimed space: 0B\n"
    assert dockyard("images", "-q").stdout.strip() != ""


def test_container_network_and_volume_events(dockyard: Dockyard, busybox_tar: Path) -> None:
    dockyard("import", str(busybox_tar), "bb:1")
    net = dockyard("network", "create", "evnet").stdout.strip()
    dockyard("volume", "create", "evvol")
    cid = dockyard("create", "--name", "ev1", "--network", "evnet", "-v", "evvol:/data", "bb:1", "sh", "-c", "exit 3").stdout.strip()
    assert dockyard("start", "-a", "ev1", check=False).returncode == 3
    dockyard("rename", "ev1", "ev2")
    dockyard("rm", "ev2")
    dockyard("network", "rm", "evnet")
    dockyard("volume", "rm", "evvol")
    container = [(action, attrs) for kind, action, actor, attrs in _events(dockyard, "--filter", f"container={cid[:12]}")]
    assert container == [
        ("create", "image=bb:1, name=ev1"), ("attach", "image=bb:1, name=ev1"), ("start", "image=bb:1, name=ev1"),
        ("die", "exitCode=3, image=bb:1, name=ev1"),
        ("rename", "image=bb:1, name=ev2, oldName=/ev1"), ("destroy", "image=bb:1, name=ev2"),
    ]  # fmt: skip
    joined = f"container={cid}, name=evnet, type=bridge"
    assert _events(dockyard, "--filter", "type=network") == [
        ("network", "create", net, "name=evnet, type=bridge"), ("network", "connect", net, joined),
        ("network", "disconnect", net, joined), ("network", "destroy", net, "name=evnet, type=bridge"),
    ]  # fmt: skip
    assert _events(dockyard, "--filter", "volume=evvol") == [
        ("volume", "create", "evvol", "driver=local"), ("volume", "create", "evvol", "driver=local"),  # create -v too, as Docker
        ("volume", "mount", "evvol", f"container={cid}, destination=/data, driver=local, propagation=, read/write=true"),
        ("volume", "unmount", "evvol", f"container={cid}, driver=local"), ("volume", "destroy", "evvol", "driver=local"),
    ]  # fmt: skip
    assert [a for _, a, _, _ in _events(dockyard, "--filter", "container=ev2", "--filter", "event=die")] == []  # named ev1 then


def _messages(dockyard: Dockyard, *args: str) -> list[tuple[str, str, str, dict[str, str]]]:
    """(type, action, actor, attributes) of the last minute's events, read as JSON (actions may hold spaces)."""
    out = dockyard("events", "--since", "1m", "--until", "0s", "--format", "{{json .}}", *args).stdout
    return [(m["Type"], m["Action"], m["Actor"]["ID"], m["Actor"]["Attributes"]) for m in map(json.loads, out.splitlines())]


def test_exec_restart_commit_export_attach_build_and_prune_events(dockyard: Dockyard, busybox_tar: Path,
                                                                  tmp_path: Path) -> None:
    dockyard("import", str(busybox_tar), "bb:1")
    cid = dockyard("run", "-d", "--name", "ex", "--network", "none", "bb:1", "sleep", "60").stdout.strip()
    assert dockyard("exec", "ex", "sh", "-c", "exit 3", check=False).returncode == 3
    dockyard("exec", "ex", "true")
    assert dockyard("exec", "ex", "nonexistent", check=False).returncode == 126
    dockyard("restart", "-t", "0", "ex")
    image_id = dockyard("commit", "-m", "note", "ex", "snap:1").stdout.strip()
    dockyard("export", "-o", str(tmp_path / "ex.tar"), "ex")
    dockyard("rm", "-f", "ex")
    found = [(action, attrs) for _, action, _, attrs in _messages(dockyard, "--filter", f"container={cid}")]
    base = {"image": "bb:1", "name": "ex"}
    execs = [(action, {**attrs, "execID": len(attrs["execID"])}) for action, attrs in found if "exec" in action]
    assert execs == [
        ("exec_create: sh -c exit 3", {**base, "execID": 64}), ("exec_start: sh -c exit 3", {**base, "execID": 64}),
        ("exec_die", {**base, "execID": 64, "exitCode": "3"}),
        ("exec_create: true ", {**base, "execID": 64}),  # Docker's: the command, a space, its arguments
        ("exec_start: true ", {**base, "execID": 64}), ("exec_die", {**base, "execID": 64, "exitCode": "0"}),
        ("exec_create: nonexistent ", {**base, "execID": 64}),  # no exec_die when it cannot start
        ("exec_start: nonexistent ", {**base, "execID": 64}),
    ]  # fmt: skip
    actions = [action for action, _ in found if "exec" not in action]
    assert actions[actions.index("restart") - 1] == "start" and actions.count("restart") == 1
    assert ("commit", {**base, "comment": "note", "imageID": image_id, "imageRef": "snap:1"}) in found
    assert ("export", base) in found
    assert ("image", "tag", image_id, {"name": "snap:1"}) in _messages(dockyard, "--filter", "type=image")

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM bb:1\nLABEL built=yes\n")
    built = dockyard("build", "-q", "-t", "made:1", "-t", "made:2", str(ctx)).stdout.strip()
    assert _messages(dockyard, "--filter", "event=tag", "--filter", f"image={built}") == [
        ("image", "tag", built, {"built": "yes", "name": "made:1"}), ("image", "tag", built, {"built": "yes", "name": "made:2"})]

    for kind in ("container", "image", "network", "volume", "builder"):
        dockyard(kind, "prune", "-f")
    pruned = [(kind, actor, attrs) for kind, action, actor, attrs in _messages(dockyard) if action == "prune"]
    assert [k for k, _, _ in pruned] == ["container", "image", "network", "volume", "builder"]
    assert all(actor == "" and list(attrs) == ["reclaimed"] and attrs["reclaimed"].isdigit() for _, actor, attrs in pruned)
