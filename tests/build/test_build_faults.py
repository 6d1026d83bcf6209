"""Faults: a build killed with -9 mid-RUN leaves nothing behind once the store is next opened,
and the cache stays usable."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.build.conftest import BASE, write_context
from tests.conftest import Dockyard


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def test_kill_9_mid_run(yard: Dockyard, tmp_path: Path) -> None:
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN echo before > /b\nRUN echo started && sleep 60\n"})
    argv = [sys.executable, "-m", "dockyard", "--root", str(yard.root), "build", "--progress=plain", "-t", "killed:1", str(ctx)]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    line = b""
    while not re.match(rb"#\d+ [\d.]+ started", line) and time.monotonic() < deadline:
        line = proc.stderr.readline()  # the step's own output: it runs now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert _mounts_under(yard.root / "tmp")  # the step's workspace is still mounted: the sweep has work

    yard("images")  # the next process alone on the store sweeps
    assert not _mounts_under(yard.root / "tmp")
    assert not [n for n in os.listdir(yard.root / "runc") if n.startswith("build-")]
    assert not [n for n in os.listdir(yard.root / "tmp")]
    assert yard("image", "inspect", "killed:1", check=False).returncode == 1

    (ctx / "Dockerfile").write_text(f"FROM {BASE}\nRUN echo before > /b\nRUN echo after\n")
    out = yard("build", "--progress=plain", "-t", "killed:1", str(ctx)).stderr
    assert out.count("CACHED") == 1  # the step finished before the kill is reused


def test_concurrent_builds_share_the_store(yard: Dockyard, tmp_path: Path) -> None:
    """Builds at once, even replacing each other's cache entries (--no-cache), never pull a layer from under another."""
    ctx = write_context(tmp_path, {"Dockerfile": f"FROM {BASE}\nRUN date > /d\nRUN echo two > /two\nCOPY f /f\n", "f": "f\n"})
    argv = [sys.executable, "-m", "dockyard", "--root", str(yard.root), "build", "-q", "--no-cache"]
    procs = [subprocess.Popen([*argv, "-t", f"conc:{i}", str(ctx)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [r[1] for r in results]
    for i in range(3):
        assert yard("run", "--rm", f"conc:{i}", "cat", "/two", "/f").stdout == "two\nf\n"
    assert yard("build", "--progress=plain", str(ctx)).stderr.count("CACHED") == 3
