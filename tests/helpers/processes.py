"""Processes of a store: what a test checks is gone after a command, a kill or a removal."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def processes_under(root: Path) -> list[str]:
    """Command lines of live processes that name the store root (monitors, runc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(root) in cmdline and state != "Z" and int(pid) != os.getpid():
            found.append(cmdline)
    return found


def stop_gently(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, as systemd stops a service; SIGKILL after ``timeout``. The exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
