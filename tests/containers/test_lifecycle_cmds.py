"""kill, pause/unpause, top, stats, rename, update, wait, restart; restart policies; stop signal/timeout; --init; labels."""

from __future__ import annotations

import json
import time
from pathlib import Path

from dockyard.runtime.restart import RestartPolicy, next_delay
from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until

# a service that says when it is up and exits 0 on TERM (PID 1 ignores signals it has no handler for)
SERVICE = 'trap "echo term; exit 0" TERM; trap "echo usr1" USR1; echo up; while true; do sleep 0.05; done'


def _log(dy: Dockyard, cid: str) -> str:
    """The json-file log as it stands (no CLI process per look)."""
    return (dy.root / "containers" / cid / f"{cid}-json.log").read_text()


def _state(dy: Dockyard, cid: str) -> dict:  # type: ignore[type-arg]
    """The monitor's state file: cheap to poll (no CLI process per look)."""
    return json.loads((dy.root / "containers" / cid / "state.json").read_text())


def test_restart_policy_rules() -> None:
    assert RestartPolicy.parse("on-failure:2") == RestartPolicy("on-failure", 2)
    on_failure = RestartPolicy("on-failure", 2)
    assert on_failure.should_restart(1, 1, False) and not on_failure.should_restart(1, 2, False)
    assert not on_failure.should_restart(0, 0, False)
    assert RestartPolicy("always").should_restart(0, 99, False) and not RestartPolicy("always").should_restart(0, 0, True)
    assert [round(next_delay(d, 1), 1) for d in (0, 0.1, 0.2, 40)] == [0.1, 0.2, 0.4, 60]
    assert next_delay(3.2, 11) == 0.1  # a run of 10 s or more starts the back-off over


def test_kill_signals_and_wait(dy: Dockyard) -> None:
    svc = dy("run", "-d", "--name", "svc", "bb", "sh", "-c", SERVICE).stdout.strip()
    assert wait_until(lambda: '"up\\n"' in _log(dy, svc))
    assert dy("kill", "-s", "USR1", "svc").stdout == "svc\n"
    assert wait_until(lambda: '"usr1\\n"' in _log(dy, svc))
    assert inspect(dy, "svc")["State"]["Running"] is True
    assert dy("kill", "--signal", "SIGTERM", "svc").stdout == "svc\n"
    assert dy("wait", "svc").stdout == "0\n"
    r = dy("kill", "svc", check=False)
    assert r.returncode == 1 and "Cannot kill container: svc: Container" in r.stderr and "is not running" in r.stderr
    dy("run", "-d", "--name", "victim", "bb", "sleep", "1000")
    dy("kill", "victim")
    assert dy("wait", "victim").stdout == "137\n"
    r = dy("kill", "-s", "FOO", "svc", check=False)
    assert r.returncode == 1 and "Invalid signal: FOO" in r.stderr


def test_pause_unpause_top_stats(dy: Dockyard) -> None:
    cid = dy("run", "-d", "--name", "ticker", "-m", "32m", "bb", "sh", "-c", "while true; do date +%s%N > /t; sleep 0.02; done").stdout.strip()
    top = dy("top", "ticker").stdout.splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert top[0].startswith("UID" + " " * 17) and any("while true" in line for line in top[1:])
    aux = dy("top", "ticker", "-o", "pid,comm").stdout.splitlines()
    assert aux[0].split() == ["PID", "COMMAND"] and any(line.rstrip().endswith("sh") for line in aux[1:])
    stats = dy("stats", "--no-stream", "ticker").stdout.splitlines()
    assert stats[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    row = stats[1].split()
    assert row[0] == cid[:12] and row[1] == "ticker" and row[2].endswith("%") and row[5] == "32MiB"
    assert dy("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "ticker").stdout.endswith(" / 32MiB\n")
    assert dy("pause", "ticker").stdout == "ticker\n"
    state = inspect(dy, "ticker")["State"]
    assert (state["Status"], state["Paused"], state["Running"]) == ("paused", True, True)
    assert "(Paused)" in dy("ps").stdout
    upper = Path(inspect(dy, "ticker")["GraphDriver"]["Data"]["UpperDir"])
    frozen = (upper / "t").read_text()
    time.sleep(0.2)
    assert (upper / "t").read_text() == frozen  # nothing runs while frozen
    r = dy("pause", "ticker", check=False)
    assert r.returncode == 1 and f"Container {cid} is already paused" in r.stderr
    r = dy("rm", "ticker", check=False)
    assert r.returncode == 1 and "You cannot remove a paused container" in r.stderr
    assert dy("unpause", "ticker").stdout == "ticker\n"
    assert wait_until(lambda: (upper / "t").read_text() != frozen, 5)
    r = dy("unpause", "ticker", check=False)
    assert r.returncode == 1 and f"Container {cid} is not paused" in r.stderr
    dy("pause", "ticker")
    dy("stop", "-t", "1", "ticker")  # a paused container stops too
    assert inspect(dy, "ticker")["State"]["Status"] == "exited"
    r = dy("top", "ticker", check=False)
    assert r.returncode == 1 and f"Container {cid} is not running" in r.stderr
    stopped = dy("stats", "--no-stream", "--format", "{{.MemUsage}} {{.PIDs}} {{.CPUPerc}}", "ticker").stdout
    assert stopped == "0B / 0B 0 0.00%\n"


def test_rename_restart_and_not_found(dy: Dockyard) -> None:
    dy("run", "-d", "--name", "first", "bb", "sh", "-c", SERVICE)
    dy("create", "--name", "other", "bb", "true")
    started = inspect(dy, "first")["State"]["StartedAt"]
    assert dy("restart", "-t", "1", "first").stdout == "first\n"
    assert inspect(dy, "first")["State"]["StartedAt"] != started and inspect(dy, "first")["State"]["Running"]
    assert dy("rename", "first", "second").returncode == 0
    assert "second" in dy("ps", "--format", "{{.Names}}").stdout and inspect(dy, "second")["Name"] == "/second"
    r = dy("rename", "second", "other", check=False)
    assert r.returncode == 1 and 'The container name "/other" is already in use' in r.stderr
    assert r.stderr.endswith("Error: failed to rename container named second\n")
    r = dy("rename", "second", "second", check=False)
    assert "Renaming a container with the same name as its current name" in r.stderr
    cid = inspect(dy, "second")["Id"]
    assert dy("update", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "20", "second").stdout == "second\n"
    host = inspect(dy, "second")["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"], host["PidsLimit"]) == (64 << 20, 128 << 20, 5 * 10**8, 20)
    cgroup = Path("/sys/fs/cgroup")
    assert (cgroup / "memory/dockyard" / cid / "memory.limit_in_bytes").read_text() == f"{64 << 20}\n"
    assert (cgroup / "cpu/dockyard" / cid / "cpu.cfs_quota_us").read_text() == "50000\n"
    r = dy("update", "-m", "256m", "second", check=False)
    assert r.returncode == 1 and "Memory limit should be smaller than already set memoryswap limit" in r.stderr
    r = dy("update", "second", check=False)
    assert r.returncode == 1 and "You must provide one or more flags when using this command." in r.stderr
    for command in (["kill"], ["wait"], ["unpause"], ["top"], ["stats", "--no-stream"], ["rename"], ["update", "--cpus", "1"]):
        r = dy(*command, "nosuch", *(["x2"] if command == ["rename"] else []), check=False)
        assert r.returncode == 1 and "No such container: nosuch" in r.stderr, (command, r.stderr)
    r = dy("stop", "-t", "1", "second", "nosuch", "other", check=False)  # at once, reported in argument order
    assert (r.returncode, r.stdout) == (1, "second\nother\n") and "No such container: nosuch" in r.stderr
    assert inspect(dy, "second")["State"]["Status"] == "exited"


def test_restart_policies(dy: Dockyard) -> None:
    flaky = dy("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "bb", "sh", "-c", "echo try; exit 3").stdout.strip()
    assert wait_until(lambda: _state(dy, flaky)["Status"] == "exited" and _state(dy, flaky)["RestartCount"] == 2)
    assert dy("logs", "flaky").stdout == "try\n" * 3
    doc = inspect(dy, "flaky")
    assert (doc["State"]["ExitCode"], doc["RestartCount"]) == (3, 2)
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    forever = dy("run", "-d", "--name", "forever", "--restart", "always", "bb", "sh", "-c", "echo run; sleep 0.1").stdout.strip()
    assert wait_until(lambda: _state(dy, forever)["RestartCount"] >= 2)
    dy("stop", "forever")
    count = _state(dy, forever)["RestartCount"]
    time.sleep(0.5)
    assert _state(dy, forever)["Status"] == "exited" and inspect(dy, "forever")["RestartCount"] == count
    late = dy("run", "-d", "--name", "late", "bb", "sh", "-c", "sleep 2; exit 1").stdout.strip()
    dy("update", "--restart", "on-failure:1", "late")  # the running container's monitor takes the new policy
    assert wait_until(lambda: _state(dy, late)["RestartCount"] == 1 and _state(dy, late)["Status"] == "exited")
    clean = dy("run", "-d", "--name", "clean", "--restart", "on-failure", "bb", "true").stdout.strip()
    assert wait_until(lambda: _state(dy, clean)["Status"] == "exited")
    assert inspect(dy, "clean")["RestartCount"] == 0
    for flags, message in ((("--restart", "always:3"), "maximum retry count cannot be used with restart policy 'always'"),
                           (("--restart", "on-failure:x"), "maximum retry count must be an integer"),
                           (("--restart", "always", "--rm"), "Conflicting options: --restart and --rm")):
        r = dy("run", "-d", *flags, "bb", "true", check=False)
        assert r.returncode == 125 and message in r.stderr


def test_stop_signal_timeout_init_labels(dy: Dockyard, tmp_path: Path) -> None:
    usr = dy("run", "-d", "--name", "usr", "--stop-signal", "SIGUSR1", "bb", "sh", "-c",
             'trap "exit 7" USR1; echo up; while true; do sleep 0.05; done').stdout.strip()
    assert wait_until(lambda: '"up\\n"' in _log(dy, usr))
    dy("stop", "usr")
    assert inspect(dy, "usr")["State"]["ExitCode"] == 7 and inspect(dy, "usr")["Config"]["StopSignal"] == "SIGUSR1"
    dy("run", "-d", "--name", "slow", "--stop-timeout", "1", "bb", "sh", "-c", 'trap "" TERM; while true; do sleep 0.05; done')
    began = time.monotonic()
    dy("stop", "slow")
    assert time.monotonic() - began < 5 and inspect(dy, "slow")["State"]["ExitCode"] == 137
    out = dy("run", "--rm", "--init", "bb", "busybox", "ps", "-o", "pid,args").stdout.splitlines()
    assert out[1].split()[:2] == ["1", "/sbin/docker-init"]
    labels = tmp_path / "labels"
    labels.write_text("# team labels\nteam=core\nempty\n")
    cid = dy("create", "-l", "a=1", "--label", "b=two=2", "--label-file", str(labels), "bb", "true").stdout.strip()
    assert inspect(dy, cid)["Config"]["Labels"] == {"team": "core", "empty": "", "a": "1", "b": "two=2"}
    r = dy("run", "--rm", "--stop-signal", "FOO", "bb", "true", check=False)
    assert r.returncode == 125 and "Invalid signal: FOO" in r.stderr


def test_runtime_flag(dy: Dockyard) -> None:
    r = dy("run", "--rm", "--runtime", "foo", "bb", "true", check=False)
    assert r.returncode == 125 and "Unknown runtime specified foo" in r.stderr
    r = dy("run", "--rm", "--runtime", "crun", "bb", "echo", "crun", check=False)
    # crun refuses hosts whose cgroup v2 hierarchy holds controllers next to v1 ("hybrid"); then its own words say so
    assert (r.returncode, r.stdout) == (0, "crun\n") or "cgroups in hybrid mode" in r.stderr, r.stderr
    assert dy("ps", "-aq").stdout == ""
