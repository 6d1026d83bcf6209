"""Acting on a created container: kill, pause/unpause, rename, update, wait, top, stats.

Each takes the ``ContainerStore`` and a ``Container`` from it and raises
Docker's errors (ConflictError for a container in the wrong state). Nothing
here is a daemon round trip: runc for signals and the freezer, the
container's cgroup files for processes and usage.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import ConflictError, DockyardError, InvalidArgumentError
from dockyard.metadata.events import container_event
from dockyard.metadata.container_record import HostConfig
from dockyard.runtime import resources
from dockyard.runtime.container_state import mark_stopped, signal_container
from dockyard.runtime.isolation import parse_signal
from dockyard.runtime.names import VALID_NAME
from dockyard.runtime.resources import Limits
from dockyard.runtime.restart import RestartPolicy

if TYPE_CHECKING:
    from dockyard.runtime.containers import Container, ContainerStore


def _not_running(container: Container) -> ConflictError:
    return ConflictError(f"Container {container.id} is not running")


def kill(store: ContainerStore, container: Container, sig: str = "KILL") -> None:
    """``docker kill``: a killed container stays down whatever its restart policy."""
    number = parse_signal(sig)
    if not container.running:
        raise ConflictError(f"Cannot kill container: {container.name}: Container {container.id} is not running")
    mark_stopped(store.paths(container.id))
    if container.state.get("Status") == "restarting":
        return  # no process now: the mark is enough, its monitor starts none again
    container_event(store.db, "kill", container.id, container.name, container.record, signal=str(number))
    if not signal_container(store.runtime(container.record), container, str(number)):
        raise ConflictError(f"Cannot kill container: {container.name}: Container {container.id} is not running")


def pause(store: ContainerStore, container: Container) -> None:
    status = container.state.get("Status")
    if status == "paused":
        raise ConflictError(f"Container {container.id} is already paused")
    if status == "restarting":
        raise ConflictError(f"Container {container.id} is restarting, wait until the container is running")
    if status != "running":
        raise _not_running(container)
    if not resources.freezer_available():
        raise ConflictError("pause is not supported for cgroupv1 rootless containers")
    store.runtime(container.record).pause(container.id)
    container_event(store.db, "pause", container.id, container.name, container.record)


def unpause(store: ContainerStore, container: Container) -> None:
    if container.state.get("Status") != "paused":
        raise ConflictError(f"Container {container.id} is not paused")
    store.runtime(container.record).resume(container.id)
    container_event(store.db, "unpause", container.id, container.name, container.record)


def rename(store: ContainerStore, container: Container, new_name: str) -> None:
    new_name = new_name.removeprefix("/")
    if not VALID_NAME.fullmatch(new_name):
        raise InvalidArgumentError(f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    if new_name == container.name:
        raise InvalidArgumentError("Renaming a container with the same name as its current name")
    store.records.rename(container.id, new_name)
    container_event(store.db, "rename", container.id, new_name, container.record, oldName="/" + container.name)


def update(store: ContainerStore, container: Container, changes: dict[str, Any], restart: RestartPolicy | None) -> None:
    """``docker update``: new limits (Docker's HostConfig names) and restart policy, kept in the record and,
    for a running container, applied to its cgroups at once."""
    resources.check_limits_possible(changes)
    host = {**container.record["HostConfig"], **changes}
    if restart is not None:
        if restart.restarts and host.get("AutoRemove"):
            raise InvalidArgumentError("Restart policy cannot be updated because AutoRemove is enabled for the container")
        host["RestartPolicy"] = restart.as_json()
    stored = container.stored
    # Docker's rule (container.UpdateContainer): a new memory limit above the stored swap limit needs a new swap limit
    if changes.get("Memory") and "MemorySwap" not in changes and changes["Memory"] > (container.record["HostConfig"].get("MemorySwap") or 0):
        raise InvalidArgumentError("Memory limit should be smaller than already set memoryswap limit, "
                                   "update the memoryswap at the same time")
    limits = Limits(memory=host.get("Memory") or 0, memory_swap=host.get("MemorySwap") or 0,
                    nano_cpus=host.get("NanoCpus") or 0, cpu_shares=host.get("CpuShares") or 0,
                    pids_limit=host.get("PidsLimit") or 0)
    limits.validate()
    if container.running and changes:
        res = {k: v for k, v in resources.linux_resources(limits).items() if k != "devices"}
        store.runtime(container.record).update(container.id, res)
    store.records.replace(dataclasses.replace(stored, host_config=HostConfig.parse(host)))


def wait(store: ContainerStore, container: Container, poll: float = 0.02) -> int:
    """Block until the container is not running; its exit code.

    Reads the state file only (no database per look), so a ``--rm`` container that is removed right after it
    exits still answers with the code seen last.
    """
    state = container.state
    code = int(state.get("ExitCode", 0))
    while state.get("Status") in ("running", "paused", "restarting", "starting"):
        time.sleep(poll)
        state = store.state(container.id)
        if state.get("Status") != "removing":
            code = int(state.get("ExitCode", 0))
    return code


# top ---------------------------------------------------------------------------------


def top(container: Container, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """``ps`` on the host, rows kept for the container's processes (as dockerd does): titles, rows."""
    if not container.running:
        raise _not_running(container)
    if container.state.get("Status") == "restarting":
        raise ConflictError(f"Container {container.id} is restarting, wait until the container is running")
    wanted = set(resources.pids(container.id) or resources.namespace_pids(int(container.state.get("Pid") or 0)))
    result = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DockyardError(f"Error running ps: exit status {result.returncode}: {result.stderr.strip()}")
    lines = result.stdout.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise DockyardError("Couldn't find PID field in ps output")
    at = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= at or not fields[at].isdigit() or int(fields[at]) not in wanted:
            continue
        rows.append([*fields[: len(titles) - 1], " ".join(fields[len(titles) - 1:])])
    return titles, rows


# stats -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    cpu_ns: int
    system_ns: int
    memory: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


@dataclass(frozen=True, slots=True)
class Stats:
    cpu_percent: float
    memory: int
    memory_limit: int
    memory_percent: float
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


def _system_ns() -> int:
    """All CPUs' time since boot, as Docker's getSystemCPUUsage (clock ticks → ns)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(v) for v in line.split()[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def _host_memory() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _net(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        text = Path(f"/proc/{pid}/net/dev").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines()[2:]:
        name, _, counters = line.partition(":")
        values = counters.split()
        if name.strip() != "lo" and len(values) >= 9:
            rx, tx = rx + int(values[0]), tx + int(values[8])
    return rx, tx


def _block(cid: str) -> tuple[int, int]:
    read = write = 0
    try:
        text = (resources.cgroup_dir("blkio", cid) / "blkio.throttle.io_service_bytes").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].lower() == "read":
            read += int(parts[2])
        elif len(parts) == 3 and parts[1].lower() == "write":
            write += int(parts[2])
    return read, write


def sample(container: Container) -> Sample | None:
    """One reading of the container's cgroups; None when it is not running."""
    if not container.running or not container.state.get("Pid"):
        return None
    cid = container.id
    usage = resources.read_int("memory", cid, "memory.usage_in_bytes")
    inactive = resources.read_keyed("memory", cid, "memory.stat").get("total_inactive_file", 0)
    limit = resources.read_int("memory", cid, "memory.limit_in_bytes")
    host = _host_memory()
    rx, tx = _net(int(container.state["Pid"]))
    read, write = _block(cid)
    return Sample(
        cpu_ns=resources.read_int("cpuacct", cid, "cpuacct.usage"), system_ns=_system_ns(),
        memory=usage - inactive if inactive < usage else usage, memory_limit=min(limit, host) if limit else host,
        net_rx=rx, net_tx=tx, block_read=read, block_write=write,
        pids=resources.read_int("pids", cid, "pids.current"),
    )


def stats(before: Sample | None, after: Sample | None) -> Stats:
    """Docker's arithmetic between two readings (CPU % over the interval, on all online CPUs)."""
    if after is None:
        return Stats(0.0, 0, 0, 0.0, 0, 0, 0, 0, 0)
    cpu = 0.0
    if before is not None:
        cpu_delta = after.cpu_ns - before.cpu_ns
        system_delta = after.system_ns - before.system_ns
        if cpu_delta > 0 and system_delta > 0:
            cpu = cpu_delta / system_delta * (os.cpu_count() or 1) * 100.0
    mem_percent = after.memory / after.memory_limit * 100.0 if after.memory_limit else 0.0
    return Stats(cpu, after.memory, after.memory_limit, mem_percent, after.net_rx, after.net_tx,
                 after.block_read, after.block_write, after.pids)
