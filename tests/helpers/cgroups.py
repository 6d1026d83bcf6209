"""Tear down a test's private cgroups: what the engines under test leave behind when killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def cgroup_roots(name: str) -> list[Path]:
    """The directory ``name`` in every mounted cgroup hierarchy where it exists."""
    roots = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mountpoint, fstype, *_ = line.split()
        if fstype in ("cgroup", "cgroup2") and (Path(mountpoint) / name).is_dir():
            roots.append(Path(mountpoint) / name)
    return roots


def kill_and_remove(roots: list[Path], timeout: float = 10) -> None:
    """SIGKILL every process under ``roots`` until none is left, then rmdir the cgroups bottom up."""
    deadline = time.monotonic() + timeout
    while roots:
        pids: set[int] = set()
        for root in roots:
            for procs in root.rglob("cgroup.procs"):
                try:
                    pids |= {int(p) for p in procs.read_text().split()}
                except OSError:
                    pass
        if not pids or time.monotonic() > deadline:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    for root in roots:
        for dirpath, _, _ in sorted(os.walk(root), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
