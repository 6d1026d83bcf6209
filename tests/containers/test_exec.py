"""``exec`` into a running container: a terminal under pexpect, the process flags, Docker's errors and exit codes."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import processes_under, runc_containers, wait_until
from tests.containers.test_tty import finished, say, spawn


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Dockyard]:
    """One store with a running ``web`` for the whole module (exec leaves the container as it was)."""
    d = Dockyard(tmp_path_factory.mktemp("exec") / "root")
    d("import", str(busybox_tar), "bb")
    d("run", "-d", "--name", "web", "--network", "none", "bb", "sleep", "1000")
    yield d
    d("rm", "-f", *d("ps", "-aq").stdout.split(), check=False)
    assert wait_until(lambda: not processes_under(d.root)), processes_under(d.root)
    assert runc_containers(d.root) == []
    with open("/proc/mounts") as f:
        assert not [line for line in f if str(d.root) in line]


def test_exec_it_gives_a_shell_with_a_terminal(web: Dockyard) -> None:
    child = spawn(web, "exec", "-it", "web", "sh")
    try:
        say(child, 'echo "T:$(tty):$TERM:$(stty size)"', "T:/dev/pts/0:xterm:24 80")
        child.setwinsize(40, 120)
        say(child, 'echo "S:$(stty size)"', "S:40 120")
        child.sendline("sleep 300")
        time.sleep(0.3)
        child.sendcontrol("c")  # raw mode: ^C goes through the pty to the foreground sleep
        say(child, "echo alive:$((2+3))", "alive:5")
        child.sendline("exit 3")
        assert finished(child) == 3

        child = spawn(web, "exec", "-it", "web", "sh")
        say(child, "echo in:$((1+1))", "in:2")
        child.send("\x10\x11")
        child.expect_exact("read escape sequence")
        assert finished(child) == 1
    finally:
        child.close(force=True)
    assert web("inspect", "--format", "{{.State.Running}}", "web").stdout == "true\n"


def test_exec_flags_env_user_workdir_stdin_exit_code(web: Dockyard, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=2\n")
    r = web("exec", "-e", "A=1", "--env-file", str(env_file), "-u", "nobody", "-w", "/tmp", "web",
            "sh", "-c", 'echo "$A $FROM_FILE $(id -u):$(id -g) $(pwd) $HOME $HOSTNAME $PATH"')
    cid = web("inspect", "--format", "{{.Id}}", "web").stdout.strip()
    assert r.stdout.split() == ["1", "2", "65534:65534", "/tmp", "/nonexistent", cid[:12],
                                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    r = web("exec", "web", "sh", "-c", "echo out; echo err >&2; sleep 300 & exit 7", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")  # done when the process is, as Docker
    assert web("exec", "-i", "web", "sh", "-c", "cat; echo done", input=b"piped\n").stdout == "piped\ndone\n"
    assert web("exec", "web", "cat", input=b"not read\n").stdout == ""  # without -i, no stdin
    caps = web("exec", "web", "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    all_caps = web("exec", "--privileged", "web", "grep", "CapEff", "/proc/self/status").stdout.split()[1]
    assert int(all_caps, 16) > int(caps, 16) and int(caps, 16) & ~int(all_caps, 16) == 0

    r = web("exec", "-d", "web", "sh", "-c", "echo $$ > /tmp/detached; exec sleep 300")
    assert (r.returncode, r.stdout) == (0, "")  # returned while its process runs on
    assert wait_until(lambda: web("exec", "web", "sh", "-c", "kill $(cat /tmp/detached)", check=False).returncode == 0)
    web("exec", "-dt", "web", "sh", "-c", "tty > /tmp/tty.txt; echo $$ > /tmp/detached; exec sleep 300")
    assert wait_until(lambda: web("exec", "web", "cat", "/tmp/tty.txt", check=False).stdout.startswith("/dev/pts/"))
    time.sleep(0.3)  # a terminal nobody held would have hung up by now
    assert web("exec", "web", "sh", "-c", "kill $(cat /tmp/detached)", check=False).returncode == 0


def test_exec_errors_are_dockers(web: Dockyard) -> None:
    r = web("exec", "web", "nosuch", check=False)
    assert (r.returncode, r.stdout) == (126, ('OCI runtime exec failed: exec failed: unable to start container process: '
                                              'exec: "nosuch": executable file not found in $PATH: unknown\n'))
    r = web("exec", "-u", "nosuchuser", "web", "true", check=False)
    assert (r.returncode, r.stdout) == (126, "unable to find user nosuchuser: no matching entries in passwd file\n")
    r = web("exec", "nosuchcontainer", "true", check=False)
    assert (r.returncode, r.stderr) == (1, "Error: No such container: nosuchcontainer\n")
    r = web("exec", "web", check=False)
    assert r.returncode == 1 and r.stderr.startswith("dockyard: 'dockyard exec' requires at least 2 arguments\n")
    r = web("exec", "-it", "web", "true", input=b"", check=False)
    assert (r.returncode, r.stderr) == (1, "the input device is not a TTY\n")
    web("pause", "web")
    r = web("exec", "web", "true", check=False)
    web("unpause", "web")
    assert (r.returncode, r.stderr) == (1, "Error response from daemon: Container web is paused, unpause the container before exec\n")
    cid = web("create", "--network", "none", "bb", "true").stdout.strip()
    r = web("exec", cid[:12], "true", check=False)
    assert (r.returncode, r.stderr) == (1, f"Error response from daemon: Container {cid} is not running\n")
    web("rm", cid)
    assert not [p for p in os.listdir(web.root / "containers" / web("inspect", "-f", "{{.Id}}", "web").stdout.strip())
                if p.startswith("exec-")]  # no process.json or console socket left behind


@pytest.mark.docker
def test_exec_errors_match_docker(web: Dockyard, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.dockerd import busybox_image

    busybox_image(dockerd, tmp_path)
    dockerd.run("run", "-d", "--name", "dyk-exec-web", "--network", "none", "dyk-busybox", "sleep", "1000")
    stopped = dockerd.run("create", "--network", "none", "dyk-busybox", "true").stdout.strip()
    mine = web("create", "--network", "none", "bb", "true").stdout.strip()
    try:
        for flags, cmd in (([], ["nosuch"]), ([], ["/etc/passwd"]), ([], ["sh", "-c", "exit 9"]),
                           (["-u", "nosuchuser"], ["true"]), (["-w", "/nonexist"], ["pwd"])):
            theirs = dockerd.run("exec", *flags, "dyk-exec-web", *cmd, check=False)
            ours = web("exec", *flags, "web", *cmd, check=False)
            assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), cmd
        theirs = dockerd.run("exec", stopped, "true", check=False)
        ours = web("exec", mine, "true", check=False)
        assert ours.returncode == theirs.returncode
        assert re.sub(r"[0-9a-f]{64}", "ID", ours.stderr) == re.sub(r"[0-9a-f]{64}", "ID", theirs.stderr)
    finally:
        dockerd.run("rm", "-f", "dyk-exec-web", stopped, check=False)
        web("rm", mine, check=False)
