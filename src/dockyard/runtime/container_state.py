"""A container as the commands see it (its stored record and its run state), and the run state itself:
``state.json`` (written by its monitor), the stop mark, signals to its init.

The monitor writes the state file while the container runs; readers correct it when the monitor died
(``ContainerStore.state``). The files live in the container's directory (``rootfs.Paths``). This module
stays light: ``ps`` and ``inspect`` read containers through it without loading the runtime.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

from dockyard.errors import NotFoundError
from dockyard.metadata.container_record import ContainerRecord
from dockyard.metadata.containers import ContainerRecords

if TYPE_CHECKING:
    from dockyard.runtime.rootfs import Paths
    from dockyard.runtime.runc import Runc

STATE_FILE = "state.json"
HEALTH_FILE = "health.json"  # State.Health, kept by the probe loop (``health``)
LIVE = ("running", "starting", "restarting")  # states a live monitor must back


ZERO_TIME = "0001-01-01T00:00:00Z"


class ContainerNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such container: {name}")


@dataclass(frozen=True, slots=True)
class RunState:
    """The run state as the faces show it (Docker's State), read from ``state.json``."""

    status: str = "created"  # created, starting, running, paused, restarting, exited, removing
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    oom_killed: bool = False
    restart_count: int = 0

    @classmethod
    def parse(cls, d: dict[str, Any]) -> RunState:
        return cls(d.get("Status", "created"), d.get("Pid", 0), int(d.get("ExitCode", 0)), d.get("Error", ""),
                   d.get("StartedAt", ZERO_TIME), d.get("FinishedAt", ZERO_TIME), bool(d.get("OOMKilled")),
                   d.get("RestartCount", 0))

    @property
    def running(self) -> bool:
        """Docker's State.Running: true while paused or waiting to restart too."""
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True, slots=True)
class Container:
    """A container: its stored record and its run state (``state.json``).

    ``record`` is the stored record's JSON map, for the runtime modules that read it that way (spec
    assembly, exec, networking, commit, the container's files)."""

    stored: ContainerRecord
    run: RunState
    state: dict[str, Any]  # ``run`` as the monitor wrote it, for the runtime modules that read it so
    record: dict[str, Any]

    @property
    def id(self) -> str:
        return self.stored.id

    @property
    def name(self) -> str:
        return self.stored.name

    @property
    def image_id(self) -> str:
        return self.stored.image_id

    @property
    def created(self) -> str:
        return self.stored.created

    @property
    def running(self) -> bool:
        return self.run.running


class ContainerReader:
    """Containers as read: the stored record and the state file. ``repair`` corrects the state of a container
    whose monitor died (it cleans up what the monitor left, so it needs the runtime; rarely called)."""

    def __init__(self, records: ContainerRecords, home: Path,
                 repair: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self.records = records
        self.home = home
        self.repair = repair

    def get(self, name: str) -> Container:
        """Docker's order: full ID, exact name, then a unique ID prefix; ContainerNotFoundError otherwise."""
        name = name.removeprefix("/")
        stored = self.records.lookup(name)
        if stored is None and "/" in name:
            stored = self._linked(name)
        if stored is None:
            raise ContainerNotFoundError(name)
        return self.load(stored)

    def _linked(self, name: str) -> ContainerRecord | None:
        """The child a link's name ``PARENT/ALIAS`` names (runtime.links)."""
        parent_name, _, alias = name.rpartition("/")
        parent = self.records.lookup(parent_name)
        for stored in (parent.host_config.links or ()) if parent is not None else ():
            child, _, linked_as = stored.partition(":")
            if linked_as == alias:
                return self.records.lookup(child)
        return None

    def list(self) -> list[Container]:
        """Newest first."""
        return sorted(map(self.load, self.records.all()), key=lambda c: c.created, reverse=True)

    def load(self, stored: ContainerRecord) -> Container:
        state = self.state(stored.id)
        return Container(stored, RunState.parse(state), state, stored.document())

    def state(self, cid: str) -> dict[str, Any]:
        state = read_state(self.home / cid)
        return self.repair(cid, state) if monitor_lost(state) else paused_view(cid, state)


def read_state(container_dir: Path) -> dict[str, Any]:
    """The state file as written ("removing" when it is gone: the container is being removed)."""
    try:
        state: dict[str, Any] = json.loads((container_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {"Status": "removing", "ExitCode": 0}
    try:
        state["Health"] = json.loads((container_dir / HEALTH_FILE).read_text())
    except (OSError, ValueError):
        pass  # no healthcheck, or never started
    return state


def monitor_lost(state: dict[str, Any]) -> bool:
    """The state says a monitor runs the container, but none does (it was killed): the state needs correcting."""
    return state.get("Status") in LIVE and not monitor_alive(state)


def paused_view(cid: str, state: dict[str, Any]) -> dict[str, Any]:
    """A running container's state says "paused" while its cgroup is frozen (the freezer is the truth)."""
    if state.get("Status") != "running":
        return state
    from dockyard.runtime import resources

    return {**state, "Status": "paused"} if resources.frozen(cid) else state


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
