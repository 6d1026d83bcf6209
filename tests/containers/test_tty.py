"""``run -it`` under a real pseudo-terminal (pexpect): raw mode, window size, job control, Ctrl-C, detach keys."""

from __future__ import annotations

import os
import signal
import sys
import termios
import time
from typing import Iterator

import pexpect
import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until


def spawn(d: Dockyard, *args: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    """The real CLI on a fresh pty of the given size, as a user's terminal."""
    argv = ["-m", "dockyard", "--root", str(d.root), *args]
    return pexpect.spawn(sys.executable, argv, timeout=20, dimensions=(rows, cols), env=dict(os.environ))


def say(child: pexpect.spawn, command: str, answer: str) -> None:
    """Run ``command`` in the container's shell and wait for ``answer`` (written so the echo cannot match)."""
    child.sendline(command)
    child.expect_exact(answer)


def finished(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus)


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    """Every spawned CLI is closed (killed if need be) at the end, pass or fail."""
    spawned: list[pexpect.spawn] = []
    yield spawned
    for child in spawned:
        if child.isalive():
            child.close(force=True)


def test_run_it_is_a_real_terminal(dy: Dockyard, children: list[pexpect.spawn]) -> None:
    child = spawn(dy, "run", "-it", "--name", "term", "bb", "sh")
    children.append(child)
    say(child, 'echo "T:$(tty):$TERM"', "T:/dev/pts/0:xterm")
    say(child, 'echo "S:$(stty size)"', "S:24 80")
    child.setwinsize(31, 101)  # SIGWINCH for the CLI → resize frame → TIOCSWINSZ on the master
    say(child, 'echo "S:$(stty size)"', "S:31 101")  # the resize travels ahead of the typed line
    # job control: a background job is listed; Ctrl-C reaches the foreground process, not the shell
    say(child, "sleep 300 &", "")
    say(child, "jobs; echo J:$((1+1))", "J:2")
    assert b"sleep 300" in child.before
    child.sendline("sleep 300")
    time.sleep(0.3)
    child.sendcontrol("c")
    say(child, "echo alive:$((2+3))", "alive:5")
    say(child, "kill %1; echo K:$((3+3))", "K:6")
    child.sendline("exit 3")
    assert finished(child) == 3
    state = inspect(dy, "term")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 3)
    log = dy("logs", "term").stdout
    assert "alive:5" in log and "T:/dev/pts/0:xterm" in log  # the json-file log saw the terminal's output


def test_detach_keys_leave_it_running_and_attach_comes_back(dy: Dockyard, children: list[pexpect.spawn]) -> None:
    child = spawn(dy, "run", "-it", "--name", "box", "bb", "sh")
    children.append(child)
    say(child, "X=kept; echo R:$((1+1))", "R:2")
    child.send("\x10\x11")  # Ctrl-P Ctrl-Q
    assert finished(child) == 0
    assert inspect(dy, "box")["State"]["Running"]

    killed = spawn(dy, "attach", "box")
    children.append(killed)
    say(killed, "echo k:$((1+2))", "k:3")
    assert not termios.tcgetattr(killed.child_fd)[3] & termios.ECHO  # raw while attached
    killed.kill(signal.SIGTERM)
    assert wait_until(lambda: not killed.isalive())
    assert termios.tcgetattr(killed.child_fd)[3] & termios.ECHO  # the terminal was given back as it was
    assert finished(killed) == 143

    again = spawn(dy, "attach", "--detach-keys", "ctrl-a,b", "box")
    children.append(again)
    time.sleep(0.3)
    say(again, "echo $X:$((6*7))", "kept:42")  # the same shell, its variables intact
    again.send("\x01b")
    again.expect_exact("read escape sequence")
    assert finished(again) == 1  # as docker attach: the escape is reported as an error
    assert inspect(dy, "box")["State"]["Running"]

    last = spawn(dy, "attach", "box")
    children.append(last)
    time.sleep(0.3)
    last.sendline("exit 0")
    assert finished(last) == 0
    assert wait_until(lambda: inspect(dy, "box")["State"]["Status"] == "exited")
