"""Containers of an unprivileged user: runc in the user's namespace, no cgroup of their own, their own pid
namespace; run, run -d, exec -it under a pty, logs, cp, stop, commit, rm, --network none and host."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.rootless import RootlessUser
from tests.helpers.rootless_images import allow_tun, import_busybox


@pytest.fixture
def user(rootless_user: RootlessUser) -> RootlessUser:
    allow_tun()
    import_busybox(rootless_user)
    return rootless_user


def _host_status(pid: int) -> dict[str, list[str]]:
    return {k: v.split() for k, _, v in (line.partition(":") for line in Path(f"/proc/{pid}/status").read_text().splitlines())}


def _find(user: RootlessUser, argv: str, timeout: float = 10) -> int:
    """The host pid of the user's process whose command line is ``argv``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in user.processes():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip() == argv.encode():
                    return pid
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process {argv!r} of {user.name}")


def test_run_prints_and_exits_with_the_process_code(user: RootlessUser) -> None:
    result = user.run(["run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert user.run(["ps", "-aq"], check=True).stdout == ""


def test_memory_limit_is_refused_with_one_clear_line(user: RootlessUser) -> None:
    result = user.run(["run", "--rm", "--memory", "32m", "bb", "true"])
    assert result.returncode == 125
    first = result.stderr.strip().splitlines()[0]
    assert first == ("dockyard: Error response from daemon: --memory: resource limits are not supported on cgroups V1 "
                     "rootless systems (the container gets no cgroup of its own)")
    for flags in (["--cpus", "1"], ["--pids-limit", "10"]):
        refused = user.run(["run", "--rm", *flags, "bb", "true"])
        assert refused.returncode == 125 and f"{flags[0]}: resource limits are not supported" in refused.stderr
    assert user.run(["ps", "-aq"], check=True).stdout == ""  # nothing was created


def test_detached_container_logs_exec_cp_commit_stop_rm(user: RootlessUser) -> None:
    cid = user.run(["run", "-d", "--name", "c1", "bb", "sh", "-c", "echo started; echo data > /tmp/f; sleep 300"],
                   check=True).stdout.strip()
    deadline = time.monotonic() + 10
    while "started" not in (logs := user.run(["logs", "c1"]).stdout) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logs == "started\n"
    assert user.run(["exec", "c1", "cat", "/tmp/f"], check=True).stdout == "data\n"
    user.run(["cp", "c1:/tmp/f", str(user.work / "copied")], check=True)
    assert (user.work / "copied").read_text() == "data\n"
    assert (user.work / "copied").stat().st_uid == user.uid
    image = user.run(["commit", "c1", "snap"], check=True).stdout.strip()
    assert image.startswith("sha256:")
    assert user.run(["pause", "c1"]).stderr.strip() == "Error response from daemon: pause is not supported for cgroupv1 rootless containers"
    user.run(["stop", "-t", "1", "c1"], check=True)
    assert user.run(["inspect", "-f", "{{.State.Status}}", "c1"], check=True).stdout.strip() == "exited"
    assert user.run(["run", "--rm", "--network", "none", "snap", "cat", "/tmp/f"], check=True).stdout == "data\n"
    assert user.run(["rm", "c1"], check=True).stdout.strip() == "c1"
    assert cid not in user.run(["ps", "-aq", "--no-trunc"], check=True).stdout


def test_exec_it_under_a_pty(user: RootlessUser) -> None:
    user.run(["run", "-d", "--name", "t1", "bb", "sleep", "300"], check=True)
    exec_line = f"{sys.executable} -m dockyard exec -it t1 sh -c 'tty; id -u; exit 7'"
    proc = subprocess.run(user.command(["script", "-qec", exec_line, "/dev/null"]), capture_output=True, text=True,
                          timeout=60, cwd=user.work, stdin=subprocess.DEVNULL)
    assert proc.returncode == 7, proc.stderr
    lines = _typed(proc.stdout)
    assert lines[0].startswith("/dev/pts/") and lines[1] == "0"
    run_line = f"{sys.executable} -m dockyard run -it --rm --network none bb sh -c 'tty'"
    proc = subprocess.run(user.command(["script", "-qec", run_line, "/dev/null"]), capture_output=True, text=True,
                          timeout=60, cwd=user.work, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and _typed(proc.stdout)[0].startswith("/dev/pts/"), proc.stdout + proc.stderr


def _typed(output: str) -> list[str]:
    """The lines of what ran under ``script``: script echoes its stdin's end as ^@, before or after the output."""
    return output.replace("\r", "").replace("^@", "").split("\n")


def test_container_cannot_see_or_signal_the_users_other_processes(user: RootlessUser) -> None:
    other = subprocess.Popen(user.command(["sleep", "313"]))
    try:
        time.sleep(0.2)
        out = user.run(["run", "--rm", "bb", "sh", "-c", f"ps -o pid,args; kill -0 {other.pid} 2>/dev/null || echo refused"],
                       check=True).stdout
        assert "sleep 313" not in out and out.endswith("refused\n")
        assert out.splitlines()[1].split()[0] == "1"  # its own pid namespace: sh is 1, and ps the only other
        assert len(out.splitlines()) == 4
    finally:
        other.kill()
        other.wait()


def test_setuid_binary_gives_no_privilege_on_the_host(user: RootlessUser) -> None:
    inside = user.run(["run", "--rm", "--user", "1000", "bb", "/bin/su0", "/bin/id", "-u"], check=True)
    assert inside.stdout.strip() == "0"  # setuid works in the container...
    user.run(["run", "-d", "--user", "1000", "bb", "/bin/su0", "/bin/sleep", "317"], check=True)
    status = _host_status(_find(user, "/bin/sleep 317"))
    assert set(status["Uid"]) == {str(user.uid)} and set(status["Gid"]) == {str(user.gid)}  # ...its root is the user


def test_network_none_and_host(user: RootlessUser) -> None:
    none = user.run(["run", "--rm", "--network", "none", "bb", "sh", "-c", "ip -o link | grep -vc ' lo:'"])
    assert none.stdout.strip() == "0"
    host = user.run(["run", "--rm", "--network", "host", "bb", "sh", "-c", "hostname; ls /sys/class/net"], check=True)
    names = host.stdout.split()
    assert names[0] == subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    assert "lo" in names[1:] and len(names) > 2  # the host's interfaces, seen through a read-only /sys


def test_devices_are_the_hosts_nodes_bound(user: RootlessUser) -> None:
    out = user.run(["run", "--rm", "--network", "none", "--device", "/dev/null:/dev/mynull", "bb", "sh", "-c",
                    "stat -c '%t,%T' /dev/mynull; echo x > /dev/mynull && echo written"], check=True)
    assert out.stdout == "1,3\nwritten\n"
    privileged = user.run(["run", "--rm", "--network", "none", "--privileged", "bb", "sh", "-c", "ls /dev/tty /dev/zero"],
                          check=True)
    assert privileged.stdout.split() == ["/dev/tty", "/dev/zero"]
