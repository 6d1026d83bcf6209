"""A container's run state: ``state.json`` (written by its monitor), the stop mark, signals to its init.

The monitor writes the state file while the container runs; readers correct it when the monitor died
(see ``ContainerStore.state``). The files live in the container's directory (``rootfs.Paths``).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from dockyard.runtime.rootfs import Paths

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container
    from dockyard.runtime.runc import Runc


def starttime(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has finished: it is not alive


def monitor_alive(state: dict[str, Any]) -> bool:
    pid = state.get("MonitorPid")
    return bool(pid) and starttime(pid) == state.get("MonitorStart")


STOP_MARKER = "stopped-by-hand"


def mark_stopped(paths: Paths) -> None:
    """``stop``/``kill``/``rm -f`` say so before signalling: the monitor then applies no restart policy."""
    try:
        (paths.dir / STOP_MARKER).touch()
    except OSError:
        pass


def signal_container(runtime: Runc, container: Container, sig: str) -> bool:
    """Send ``sig`` to the container's init; a paused container is thawed after, so the signal lands (as Docker)."""
    from dockyard.runtime.runc import RuncError

    sent = runtime.kill(container.id, sig)
    if container.state.get("Status") == "paused":
        try:
            runtime.resume(container.id)
        except RuncError:
            pass  # it died of the signal already
    return sent


def write_state(paths: Paths, state: dict[str, Any]) -> None:
    if not paths.dir.exists():
        return
    tmp = paths.dir / f".state.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, paths.state)
