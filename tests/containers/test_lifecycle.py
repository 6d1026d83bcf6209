"""Detached containers: ps, logs, stop, start, rm, and what survives a killed CLI or monitor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import Dockyard
from tests.containers.conftest import (
    inspect,
    processes_under,
    runc_containers,
    wait_until,
)

LOOP = 'trap "echo bye; exit 0" TERM; echo up; while true; do sleep 0.05; done'


def test_detached_ps_logs_stop_rm(dy: Dockyard) -> None:
    started = time.monotonic()
    cid = dy("run", "-d", "--name", "web", "bb", "sh", "-c", LOOP).stdout.strip()
    assert time.monotonic() - started < 10 and len(cid) == 64
    assert wait_until(lambda: dy("logs", "web").stdout == "up\n")
    ps = dy("ps").stdout.splitlines()
    assert ps[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert ps[1].startswith(cid[:12]) and ps[1].endswith("web") and " Up " in ps[1]
    assert dy("ps", "-q").stdout == cid[:12] + "\n"
    assert dy("ps", "-q", "--no-trunc").stdout == cid + "\n"
    assert inspect(dy, "web")["State"]["Running"] is True
    r = dy("rm", "web", check=False)
    assert r.returncode == 1 and "You cannot remove a running container" in r.stderr
    assert dy("stop", "web").stdout == "web\n"
    state = inspect(dy, cid[:5])["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 0)
    assert dy("logs", "web").stdout == "up\nbye\n"
    assert dy("ps", "-q").stdout == ""
    log = inspect(dy, "web")["LogPath"]
    entries = [json.loads(line) for line in open(log)]
    assert [(e["log"], e["stream"]) for e in entries] == [("up\n", "stdout"), ("bye\n", "stdout")]
    assert all(e["time"].endswith("Z") for e in entries)
    assert dy("rm", "web").stdout == "web\n"
    r = dy("rm", "web", check=False)
    assert r.returncode == 1 and "No such container: web" in r.stderr


def test_stop_timeout_kills_a_process_that_ignores_term(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "stubborn", "bb", "sh", "-c", 'trap "" TERM; while true; do sleep 0.05; done')
    started = time.monotonic()
    dy("stop", "-t", "1", "stubborn")
    assert time.monotonic() - started < 8
    assert inspect(dy, "stubborn")["State"]["ExitCode"] == 137


def test_logs_follow_ends_with_the_container(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "counter", "bb", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done")
    assert dy("logs", "-f", "counter").stdout == "1\n2\n3\n"


def test_stop_start_keeps_the_writable_layer(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "keeper", "bb", "sh", "-c", "echo kept > /etc/mine; rm /bin/ls; " + LOOP)
    assert wait_until(lambda: "up" in dy("logs", "keeper").stdout)
    dy("stop", "keeper")
    assert dy("start", "keeper").stdout == "keeper\n"
    assert wait_until(lambda: dy("logs", "keeper").stdout.count("up") == 2)
    dy("stop", "keeper")
    dy("create", "--name", "other", "bb", "cat", "/etc/mine")
    dy("start", "other")
    assert wait_until(lambda: inspect(dy, "other")["State"]["Status"] == "exited")
    assert inspect(dy, "other")["State"]["ExitCode"] == 1  # a container's files are invisible to another's
    upper = inspect(dy, "keeper")["GraphDriver"]["Data"]["UpperDir"]
    assert open(os.path.join(upper, "etc/mine")).read() == "kept\n"


def test_rm_force_of_running_container(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "doomed", "bb", "sleep", "1000")
    dy("rm", "-f", "doomed")
    assert dy("ps", "-aq").stdout == ""
    assert not processes_under(dy.root) and runc_containers(dy.root) == []


def test_run_rm_detached_leaves_nothing(dy: Dockyard) -> None:
    dy("run", "-d", "--rm", "bb", "sh", "-c", "sleep 0.2")
    assert wait_until(lambda: dy("ps", "-aq").stdout == "")


def test_cli_killed_during_run_leaves_container_manageable(dy: Dockyard) -> None:
    argv = [sys.executable, "-m", "dockyard", "--root", str(dy.root), "run", "--name", "orphan", "bb", "sh", "-c", LOOP]
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert cli.stdout is not None and cli.stdout.readline() == b"up\n"
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    assert inspect(dy, "orphan")["State"]["Running"] is True
    dy("stop", "orphan")
    assert inspect(dy, "orphan")["State"]["ExitCode"] == 0
    dy("rm", "orphan")


def test_killed_monitor_is_noticed(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "lost", "bb", "sleep", "1000")
    state = json.loads(open(os.path.join(dy.root, "containers", inspect(dy, "lost")["Id"], "state.json")).read())
    os.kill(state["MonitorPid"], signal.SIGKILL)
    assert wait_until(lambda: inspect(dy, "lost")["State"]["Status"] == "exited")
    assert "lost" in dy("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert runc_containers(dy.root) == []
    dy("rm", "lost")


def test_inspect_tries_images_then_containers(dy: Dockyard) -> None:
    dy("create", "--name", "c1", "bb", "true")
    both = json.loads(dy("inspect", "bb", "c1").stdout)
    assert "RootFS" in both[0] and both[1]["Name"] == "/c1"
    assert dy("inspect", "-f", "{{.State.Status}}", "c1").stdout == "created\n"
    r = dy("inspect", "nothing", check=False)
    assert r.returncode == 1 and "No such object: nothing" in r.stderr


def test_vfs_driver_runs_containers(tmp_path, busybox_tar) -> None:  # type: ignore[no-untyped-def]
    vfs = Dockyard(tmp_path / "vfsroot", "vfs")
    vfs("import", str(busybox_tar), "bb")
    vfs("run", "-d", "--name", "vv", "bb", "sh", "-c", "echo data > /f; " + LOOP)
    assert wait_until(lambda: "up" in vfs("logs", "vv").stdout)
    vfs("stop", "vv")
    vfs("start", "vv")
    vfs("stop", "vv")
    vfs("run", "--rm", "bb", "test", "!", "-e", "/f")
    vfs("rm", "vv")
    assert not os.listdir(tmp_path / "vfsroot" / "containers")
    with open("/proc/mounts") as f:
        assert str(tmp_path / "vfsroot") not in f.read()
