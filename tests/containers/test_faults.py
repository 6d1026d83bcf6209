"""Faults: rm -f and kill -9 leave nothing behind, a crash's orphans are swept at the next start, exec errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from dockyard.runtime import resources
from tests.conftest import Dockyard
from tests.containers.conftest import (
    inspect,
    processes_under,
    runc_containers,
    wait_until,
)


def _cgroups(cid: str) -> list[str]:
    return [c for c in resources.controllers() if resources.cgroup_dir(c, cid).exists()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _state(dy: Dockyard, cid: str) -> dict:  # type: ignore[type-arg]
    return json.loads((dy.root / "containers" / cid / "state.json").read_text())


def test_rm_force_of_running_container_leaves_nothing(dy: Dockyard) -> None:
    cid = dy("run", "-d", "--name", "busy", "-m", "64m", "--pids-limit", "50", "bb", "sh", "-c",
             "sleep 1000 & sleep 1000 & wait").stdout.strip()
    pids = resources.pids(cid)
    assert len(pids) == 3 and _cgroups(cid)
    assert dy("rm", "-f", "busy").stdout == "busy\n"
    assert not any(_alive(p) for p in pids) and _cgroups(cid) == []
    assert dy("ps", "-aq").stdout == "" and not (dy.root / "containers" / cid).exists()


def test_killed_monitor_leaves_nothing_and_ps_tells_the_truth(dy: Dockyard) -> None:
    cid = dy("run", "-d", "--name", "lost", "bb", "sh", "-c", "sleep 1000 & wait").stdout.strip()
    pids = resources.pids(cid)
    os.kill(_state(dy, cid)["MonitorPid"], signal.SIGKILL)
    assert wait_until(lambda: not _alive(_state(dy, cid)["MonitorPid"]))
    ps = dy("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout
    assert ps.startswith("lost Exited (137)"), ps
    assert not any(_alive(p) for p in pids) and _cgroups(cid) == [] and runc_containers(dy.root) == []
    with open("/proc/mounts") as f:
        assert str(dy.root / "containers" / cid) not in f.read()
    assert inspect(dy, "lost")["State"]["Error"] == "monitor exited unexpectedly"
    dy("start", "lost")  # it can run again
    assert inspect(dy, "lost")["State"]["Running"] is True
    dy("rm", "-f", "lost")


def test_orphans_of_a_crash_are_swept_at_start(dy: Dockyard) -> None:
    """A container whose row is gone (a crash between the row and the files) with its process still running."""
    cid = dy("run", "-d", "--name", "ghost", "bb", "sh", "-c", "sleep 1000 & wait").stdout.strip()
    pids = resources.pids(cid)
    monitor = _state(dy, cid)["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    assert wait_until(lambda: not _alive(monitor))
    with sqlite3.connect(dy.root / "dockyard.db") as conn:
        conn.execute("DELETE FROM containers WHERE id=?", (cid,))
    assert any(_alive(p) for p in pids)
    assert dy("ps", "-aq").stdout == ""  # the first command to open the root alone sweeps
    assert not any(_alive(p) for p in pids) and _cgroups(cid) == []
    assert runc_containers(dy.root) == [] and not (dy.root / "containers" / cid).exists()
    with open("/proc/mounts") as f:
        assert str(dy.root) not in f.read()
    assert not processes_under(dy.root)


def test_exec_errors_have_dockers_codes_and_words(dy: Dockyard) -> None:
    prefix = "dockyard: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: "
    r = dy("run", "--name", "nf", "bb", "nosuchcmd", check=False)
    assert r.returncode == 127 and r.stderr == (
        prefix + 'unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown.\n')
    r = dy("run", "--rm", "bb", "/etc/passwd", check=False)
    assert r.returncode == 126 and 'exec: "/etc/passwd": permission denied: unknown.' in r.stderr
    r = dy("run", "--rm", "bb", "/etc", check=False)
    assert r.returncode == 126
    state = inspect(dy, "nf")["State"]  # as Docker: the container stays, created, with the exit code
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("created", 127, False)
    assert dy("ps", "-a", "--format", "{{.Names}}").stdout == "nf\n"  # the --rm ones are gone
    r = dy("start", "nf", check=False)
    assert r.returncode == 1 and "executable file not found" in r.stderr
    dy("rm", "nf")
    assert runc_containers(dy.root) == []
