"""``run`` end to end on real runc and overlay: output, exit codes, the image config merged with flags."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect


def test_run_echo_streams_output_and_keeps_container(dy: Dockyard) -> None:
    r = dy("run", "--name", "hello", "bb", "echo", "hello world")
    assert r.stdout == "hello world\n"
    state = inspect(dy, "hello")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    assert dy("ps", "-a", "--format", "{{.Names}}|{{.Status}}").stdout.startswith("hello|Exited (0) ")


def test_stdout_and_stderr_stay_apart(dy: Dockyard) -> None:
    r = dy("run", "--rm", "bb", "sh", "-c", "echo out; echo err >&2", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["sh", "-c", "exit 3"], 3, ""),
        (["/etc/passwd"], 126, "permission denied"),
        (["nosuch"], 127, "executable file not found"),
        (["/no/such/path"], 127, "no such file or directory"),
    ],
)
def test_exit_codes_are_dockers(dy: Dockyard, argv: list[str], code: int, message: str) -> None:
    r = dy("run", "--rm", "bb", *argv, check=False)
    assert r.returncode == code
    assert message in r.stderr


def test_dockyard_errors_exit_125(dy: Dockyard) -> None:
    assert dy("run", "--rm", "--name", "bad/name", "bb", "true", check=False).returncode == 125
    assert dy("run", "--rm", "nosuchimage:1", "true", check=False).returncode == 125
    dy("create", "--name", "taken", "bb", "true")
    r = dy("run", "--name", "taken", "bb", "true", check=False)
    assert r.returncode == 125 and 'The container name "/taken" is already in use' in r.stderr


def test_env_workdir_user_entrypoint_hostname(dy: Dockyard, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=1\n")
    r = dy("run", "--rm", "-e", "FOO=bar", "--env-file", str(env_file), "-w", "/work/dir", "-u", "nobody",
           "--hostname", "box", "bb", "sh", "-c", 'echo "$FOO $FROM_FILE $(pwd) $(id -u):$(id -g) $HOME $(hostname) $PATH"')
    assert r.stdout.split() == ["bar", "1", "/work/dir", "65534:65534", "/nonexistent", "box",
                                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert dy("run", "--rm", "-u", "1234:5", "bb", "id").stdout.startswith("uid=1234 gid=5")
    assert dy("run", "--rm", "--entrypoint", "/bin/echo", "bb", "a", "b").stdout == "a b\n"


def test_image_config_is_merged_as_docker_does(dy: Dockyard, busybox_tar: Path) -> None:
    dy("import", "-c", 'ENTRYPOINT ["/bin/echo", "ep"]', "-c", 'CMD ["default"]', "-c", "ENV GREETING=hi",
       "-c", "WORKDIR /srv", "-c", "USER nobody", str(busybox_tar), "cfg")
    assert dy("run", "--rm", "cfg").stdout == "ep default\n"  # ENTRYPOINT + CMD
    assert dy("run", "--rm", "cfg", "mine").stdout == "ep mine\n"  # arguments replace CMD only
    # --entrypoint drops the image's CMD; ENV, WORKDIR, USER come from the image unless overridden
    r = dy("run", "--rm", "--entrypoint", "sh", "cfg", "-c", 'echo $GREETING $(pwd) $(id -un)')
    assert r.stdout == "hi /srv nobody\n"
    r = dy("run", "--rm", "-e", "GREETING=yo", "-u", "root", "-w", "/", "--entrypoint", "sh", "cfg", "-c", 'echo $GREETING $(pwd) $(id -un)')
    assert r.stdout == "yo / root\n"
    config = inspect(dy, dy("create", "cfg").stdout.strip())["Config"]
    assert config["Entrypoint"] == ["/bin/echo", "ep"] and config["Cmd"] == ["default"] and "GREETING=hi" in config["Env"]


def test_interactive_stdin(dy: Dockyard) -> None:
    r = dy("run", "--rm", "-i", "bb", "sh", "-c", "tr a-z A-Z", input=b"shout\n")
    assert r.stdout == "SHOUT\n"


def test_etc_files_and_network_none(dy: Dockyard) -> None:
    r = dy("run", "--rm", "--network", "none", "--hostname", "h1", "bb", "sh", "-c",
           "cat /etc/hostname; grep -c localhost /etc/hosts; ls /sys/class/net | sort | tr '\\n' ' '")
    lines = r.stdout.splitlines()
    assert lines[0] == "h1" and int(lines[1]) >= 1 and lines[2].split() == ["lo"]
    before = set(os.listdir("/sys/class/net"))  # other containers on the host may add or drop veths meanwhile
    host = set(dy("run", "--rm", "--network", "host", "bb", "ls", "/sys/class/net").stdout.split())
    after = set(os.listdir("/sys/class/net"))
    assert before & after <= host <= before | after and "lo" in host


def test_volumes_bind_and_read_only(dy: Dockyard, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    assert dy("run", "--rm", "-v", f"{shared}:/data", "bb", "sh", "-c", "cat /data/in; echo back > /data/out").stdout == "from host\n"
    assert (shared / "out").read_text() == "back\n"
    r = dy("run", "--rm", "-v", f"{shared}:/data:ro", "bb", "sh", "-c", "echo x > /data/ro", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    assert dy("run", "--rm", "-v", "bad", "bb", "true", check=False).returncode == 125


def test_isolation_defaults(dy: Dockyard) -> None:
    r = dy("run", "--rm", "bb", "sh", "-c", "echo $$; grep CapBnd /proc/self/status; grep NoNewPrivs /proc/self/status; cat /proc/kcore | wc -c")
    pid, capbnd, nnp, kcore = r.stdout.split("\n")[:4]
    assert pid == "1"
    assert capbnd.split()[1] == "00000000a80425fb"  # Docker's 14 default capabilities
    assert nnp.split()[1] == "0" and kcore.strip() == "0"
    r = dy("run", "--rm", "--security-opt", "no-new-privileges", "bb", "grep", "NoNewPrivs", "/proc/self/status")
    assert r.stdout.split()[1] == "1"


def test_rm_removes_container_and_layer_reference(dy: Dockyard) -> None:
    dy("run", "--rm", "bb", "true")
    assert dy("ps", "-aq").stdout == ""
    dy("create", "--name", "holder", "bb", "true")
    assert dy("rmi", "bb", check=False).returncode != 0
    dy("rm", "holder")
    dy("rmi", "bb")


def test_missing_image_is_pulled_first(dy: Dockyard, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "dockyard", "registry", "serve", "--addr", f"127.0.0.1:{port}",
                               "--root", str(tmp_path / "registry")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from tests.containers.conftest import wait_until

        assert wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        name = f"127.0.0.1:{port}/team/bb:1"
        dy("tag", "bb", name)
        dy("push", name)
        dy("rmi", name)
        other = Dockyard(tmp_path / "other")
        r = other("run", "--rm", name, "echo", "pulled")
        assert r.stdout == "pulled\n" and f"Unable to find image '{name}' locally" in r.stderr
        assert other("images", "-q").stdout.strip() and not os.listdir(tmp_path / "other" / "containers")
    finally:
        server.terminate()
        server.wait()
