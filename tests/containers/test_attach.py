"""Attaching: stdin through ``run -i``/``start -ai``, ``run -di`` then ``attach``, signal proxying, a CLI killed mid-attach."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pexpect
import pytest

from dockyard.cli.terminal import DetachMatcher, parse_detach_keys
from dockyard.cli.context import UsageError
from dockyard.runtime import attach as proto

from tests.conftest import Dockyard
from tests.containers.conftest import inspect
from tests.containers.test_tty import children, finished, say, spawn  # noqa: F401  (children: a fixture)

ECHO = ["sh", "-c", 'while read l; do echo "got:$l"; done']  # answers differ from what the terminal echoes


def monitor_alive(d: Dockyard, name: str) -> bool:
    cid = inspect(d, name)["Id"]
    state = json.loads((d.root / "containers" / cid / "state.json").read_text())
    try:
        os.kill(state["MonitorPid"], 0)
    except ProcessLookupError:
        return False
    return (d.root / "containers" / cid / "attach.sock").exists()


def test_stdin_through_run_i_and_start_ai(dy: Dockyard) -> None:
    assert dy("run", "-i", "--rm", "bb", "cat", input=b"hi\n").stdout == "hi\n"
    blob = os.urandom(3 << 20)  # more than every buffer on the way: flow control both ways
    r = dy.raw("run", "-i", "--rm", "bb", "cat", input=blob)
    assert (r.returncode, len(r.stdout), r.stdout == blob) == (0, len(blob), True)
    dy("create", "-i", "--name", "once", "bb", "sh", "-c", 'read x; echo "r:$x"; echo err >&2; exit 2')
    r = dy("start", "-ai", "once", input=b"fed\n", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (2, "r:fed\n", "err\n")
    dy("create", "--name", "plain", "bb", "sh", "-c", "echo out; echo err >&2; exit 3")
    for _ in range(2):
        r = dy("start", "-a", "plain", check=False)
        assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert dy("logs", "plain").stdout == "out\nout\n"  # the json-file log has every run


def test_run_di_then_attach_survives_a_killed_cli(dy: Dockyard, children: list[pexpect.spawn]) -> None:
    cid = dy("run", "-di", "--name", "echo", "bb", *ECHO).stdout.strip()
    config = inspect(dy, "echo")["Config"]
    assert (config["OpenStdin"], config["StdinOnce"], config["AttachStdin"]) == (True, False, False)
    first = spawn(dy, "attach", "echo")
    children.append(first)
    say(first, "one", "got:one")
    first.kill(signal.SIGKILL)  # mid-attach, no goodbye
    first.close(force=True)
    assert inspect(dy, "echo")["State"]["Running"] and monitor_alive(dy, "echo")
    second = spawn(dy, "attach", "echo")
    children.append(second)
    say(second, "two", "got:two")  # the container's stdin stayed open for the next one
    state = json.loads((dy.root / "containers" / cid / "state.json").read_text())
    os.kill(state["MonitorPid"], signal.SIGKILL)  # the monitor dies under an attached CLI
    assert finished(second) == 137
    assert inspect(dy, "echo")["State"]["Status"] == "exited"
    assert dy("logs", "echo").stdout == "got:one\ngot:two\n"

    term = spawn(dy, "run", "-it", "--name", "shell", "bb", "sh")
    children.append(term)
    say(term, "echo a:$((1+1))", "a:2")
    term.kill(signal.SIGKILL)
    term.close(force=True)
    assert inspect(dy, "shell")["State"]["Running"] and monitor_alive(dy, "shell")
    back = spawn(dy, "attach", "shell")
    children.append(back)
    say(back, "echo b:$((2+2))", "b:4")
    back.sendline("exit 6")
    assert finished(back) == 6
    assert not (dy.root / "containers" / cid / "stdin").exists()


def test_sig_proxy_forwards_signals_without_a_terminal(dy: Dockyard) -> None:
    script = 'trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.1; done'
    argv = [sys.executable, "-m", "dockyard", "--root", str(dy.root), "run", "--name", "proxied", "bb", "sh", "-c", script]
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout is not None and cli.stdout.readline() == b"ready\n"
        cli.send_signal(signal.SIGINT)
        out, _ = cli.communicate(timeout=20)
    finally:
        cli.kill()
    assert (cli.returncode, out) == (9, b"got-int\n")

    argv[argv.index("proxied")] = "unproxied"
    argv.insert(argv.index("run") + 1, "--sig-proxy=false")
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout is not None and cli.stdout.readline() == b"ready\n"
        cli.send_signal(signal.SIGTERM)  # the CLI dies of it; the container never hears of it
        cli.wait(timeout=20)
    finally:
        cli.kill()
    assert inspect(dy, "unproxied")["State"]["Running"]


def test_attach_errors_are_dockers(dy: Dockyard) -> None:
    dy("create", "--name", "idle", "bb", "true")
    r = dy("attach", "idle", check=False)
    assert (r.returncode, r.stderr) == (1, "You cannot attach to a stopped container, start it first\n")
    r = dy("attach", "nosuch", check=False)
    assert (r.returncode, r.stderr) == (1, "Error: No such container: nosuch\n")
    dy("create", "--name", "bad", "bb", "nosuch")
    r = dy("start", "-a", "bad", check=False)
    assert (r.returncode, r.stderr) == (1, ("Error response from daemon: failed to create shim task: OCI runtime create failed: "
                                            'runc create failed: unable to start container process: exec: "nosuch": '
                                            "executable file not found in $PATH: unknown\n"))
    r = dy("start", "-a", "idle", "nosuch", check=False)
    assert r.returncode == 1 and "you cannot start and attach multiple containers at once" in r.stderr
    dy("run", "-d", "-t", "--name", "tty", "bb", "sh")
    r = dy("attach", "tty", input=b"", check=False)
    assert (r.returncode, r.stderr) == (1, "the input device is not a TTY\n")
    r = dy("run", "-it", "--rm", "--name", "never", "bb", "true", input=b"", check=False)
    assert (r.returncode, r.stderr) == (1, "the input device is not a TTY\n")
    assert "never" not in dy("ps", "-a", "--format", "{{.Names}}").stdout  # refused before create
    dy("pause", "tty")
    r = dy("attach", "tty", check=False)
    dy("unpause", "tty")
    assert (r.returncode, r.stderr) == (1, "You cannot attach to a paused container, unpause it first\n")
    r = dy("attach", "--detach-keys", "ctrl-", "tty", check=False)
    assert (r.returncode, r.stderr) == (1, "Invalid detach keys (ctrl-) provided\n")
    r = dy("run", "-t", "--rm", "bb", "sh", "-c", "tty; exit 4", check=False)
    assert (r.returncode, r.stdout) == (4, "/dev/pts/0\r\n")  # -t without -i: a terminal's CR LF, one stream


def test_detach_keys_and_frames_parse_as_dockers() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-@,a,ctrl-[") == b"\x00a\x1b"
    for bad in ("", "ctrl-", "ctrl-1", "ab", "ctrl-p,"):
        with pytest.raises(UsageError, match=r"Invalid detach keys"):
            parse_detach_keys(bad)
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)  # a possible start is held back...
    assert m.feed(b"x\x10") == (b"\x10x", False)  # ...and given back when it was not the sequence
    assert m.feed(b"\x11rest") == (b"", True)
    reader = proto.FrameReader()
    data = proto.frame(proto.Kind.STDOUT, b"hello") + proto.resize(30, 100)
    assert reader.feed(data[:3]) == [] and reader.feed(data[3:10]) == []
    assert reader.feed(data[10:]) == [(proto.Kind.STDOUT, b"hello"), (proto.Kind.RESIZE, b"\x00\x1e\x00\x64")]
    with pytest.raises(proto.ProtocolError):
        proto.FrameReader().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01x")  # no such kind
    with pytest.raises(proto.ProtocolError):
        proto.FrameReader().feed(proto.HEADER.pack(proto.Kind.STDIN, proto.MAX_FRAME + 1))  # too long to buffer
