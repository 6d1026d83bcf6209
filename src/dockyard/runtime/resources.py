"""Resource limits (memory, CPU, pids) and the container's cgroups (v1, as this host mounts them).

``Limits`` is what ``run`` asked for, already in bytes and nano-CPUs; ``validate``
applies Docker's rules and messages; ``linux_resources`` turns it into the
spec's ``linux.resources``, which runc applies. The rest reads and removes a
container's cgroups: runc names them ``<controller>/<cgroupsPath>``.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgumentError

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "dockyard"
MIN_MEMORY = 6 * 1024 * 1024  # Docker's linuxMinMemory
CPU_PERIOD = 100_000  # µs, Docker's default CFS period for --cpus

# Docker's default device rules: deny all, then the safe character devices; fuse stays denied
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "access": "rwm"},
    *({"allow": True, "type": "c", "major": major, "minor": minor, "access": "rwm"}
      for major, minor in ((1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1))),
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
)


@dataclass(frozen=True, slots=True)
class Limits:
    memory: int = 0  # bytes; 0 = none
    memory_swap: int = 0  # bytes of memory+swap; -1 unlimited; 0 = twice memory
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0  # 0 or negative: none

    def validate(self, online_cpus: int | None = None) -> None:
        """Docker's checks (daemon/daemon_unix.go verifyPlatformContainerResources); InvalidArgumentError."""
        if self.memory and self.memory < MIN_MEMORY:
            raise InvalidArgumentError("Minimum memory limit allowed is 6MB")
        if self.memory_swap > 0 and not self.memory:
            raise InvalidArgumentError("You should always set the Memory limit when using Memoryswap limit, see usage")
        if self.memory and self.memory_swap > 0 and self.memory_swap < self.memory:
            raise InvalidArgumentError("Minimum memoryswap limit should be larger than memory limit, see usage")
        cpus = online_cpus or os.cpu_count() or 1
        if self.nano_cpus < 0 or self.nano_cpus > cpus * 1_000_000_000:
            raise InvalidArgumentError(
                f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available")
        if self.nano_cpus and self.nano_cpus < 10_000_000:
            raise InvalidArgumentError(
                f"Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available")
        if self.cpu_shares < 0:
            raise InvalidArgumentError("Invalid value for CPU shares")

    @property
    def effective_swap(self) -> int:
        """Docker gives a memory limit the same again in swap unless told otherwise."""
        if self.memory and self.memory_swap == 0:
            return self.memory * 2
        return self.memory_swap


# the flags that need a cgroup of the container's own, by their HostConfig names
LIMIT_FLAGS = (("Memory", "--memory"), ("MemorySwap", "--memory-swap"), ("MemoryReservation", "--memory-reservation"),
               ("NanoCpus", "--cpus"), ("CpuShares", "--cpu-shares"), ("CpusetCpus", "--cpuset-cpus"),
               ("PidsLimit", "--pids-limit"))


class CgroupUnavailableError(InvalidArgumentError):
    """A limit was asked for where the container gets no cgroup of its own (rootless, cgroup not delegated)."""


def check_limits_possible(host_config: dict[str, Any]) -> None:
    """Rootless containers get no cgroup of their own (the user cannot create one: this host's cgroup v1 is
    not delegated), so a limit would be silently ignored: refuse it instead, naming the flags."""
    from dockyard.runtime import userns

    asked = [flag for key, flag in LIMIT_FLAGS if host_config.get(key) and host_config[key] != -1]
    if asked and userns.in_user_namespace():
        raise CgroupUnavailableError(f"{', '.join(asked)}: resource limits are not supported on {_cgroup_kind()} "
                                     "rootless systems (the container gets no cgroup of its own)")


def freezer_available() -> bool:
    """``pause`` and ``commit``'s freeze need the container's freezer cgroup, which a rootless one lacks."""
    from dockyard.runtime import userns

    return not userns.in_user_namespace()


def _cgroup_kind() -> str:
    return "cgroups V2 (not delegated)" if (CGROUP_ROOT / "cgroup.controllers").exists() else "cgroups V1"


def parse_nano_cpus(value: str) -> int:
    """``--cpus 1.5`` → 1_500_000_000, as Docker's NanoCPUs (a rational number, whole nanoseconds)."""
    from fractions import Fraction

    try:
        nano = Fraction(value) * 1_000_000_000
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"failed to parse {value} as a rational number") from None
    if nano.denominator != 1:
        raise ValueError("value is too precise")
    return int(nano)


def linux_resources(limits: Limits, *, privileged: bool = False) -> dict[str, Any]:
    """The spec's ``linux.resources``: device rules plus whatever limits were asked for."""
    devices = [{"allow": True, "access": "rwm"}] if privileged else [dict(r) for r in DEFAULT_DEVICE_RULES]
    res: dict[str, Any] = {"devices": devices}
    memory: dict[str, Any] = {"disableOOMKiller": False}
    if limits.memory:
        memory["limit"] = limits.memory
        swap = limits.effective_swap
        if swap:
            memory["swap"] = swap
    res["memory"] = memory
    cpu: dict[str, Any] = {"shares": limits.cpu_shares}
    if limits.nano_cpus:
        cpu.update(quota=limits.nano_cpus * CPU_PERIOD // 1_000_000_000, period=CPU_PERIOD)
    res["cpu"] = cpu
    if limits.pids_limit > 0:
        res["pids"] = {"limit": limits.pids_limit}
    return res


# cgroup files --------------------------------------------------------------------


def cgroups_path(cid: str) -> str:
    return f"/{CGROUP_PARENT}/{cid}"


def cgroup_dir(controller: str, cid: str) -> Path:
    return CGROUP_ROOT / controller / CGROUP_PARENT / cid


def read_int(controller: str, cid: str, name: str) -> int:
    try:
        return int((cgroup_dir(controller, cid) / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def read_keyed(controller: str, cid: str, name: str) -> dict[str, int]:
    """A ``key value`` per line file (memory.stat, memory.oom_control)."""
    out: dict[str, int] = {}
    try:
        text = (cgroup_dir(controller, cid) / name).read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def oom_kills(cid: str) -> int:
    """How many processes the kernel's OOM killer took in this container (cgroup v1 ``oom_kill``)."""
    return read_keyed("memory", cid, "memory.oom_control").get("oom_kill", 0)


def pids(cid: str) -> list[int]:
    """Every process of the container, from its pids (else memory) cgroup."""
    for controller in ("pids", "memory", "freezer"):
        try:
            text = (cgroup_dir(controller, cid) / "cgroup.procs").read_text()
        except OSError:
            continue
        return [int(p) for p in text.split()]
    return []


def namespace_pids(init: int) -> list[int]:
    """Every process in the pid namespace of the container's ``init``: a rootless container has no cgroup
    to list them, but a pid namespace of its own (unless ``--pid host``: then only ``init``)."""
    try:
        ns = os.readlink(f"/proc/{init}/ns/pid") if init else None
    except OSError:
        return []
    if ns is None or ns == os.readlink("/proc/self/ns/pid"):
        return [init] if init else []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == ns:
                    found.append(int(entry))
            except OSError:
                continue
    return found


def frozen(cid: str) -> bool:
    try:
        return (cgroup_dir("freezer", cid) / "freezer.state").read_text().strip() in ("FROZEN", "FREEZING")
    except OSError:
        return False


def controllers() -> list[str]:
    try:
        return [d.name for d in CGROUP_ROOT.iterdir() if (d / CGROUP_PARENT).is_dir()]
    except OSError:
        return []


def leftover_ids() -> set[str]:
    """Container IDs that still have a cgroup under our parent, in any controller."""
    ids: set[str] = set()
    for controller in controllers():
        try:
            ids.update(d.name for d in (CGROUP_ROOT / controller / CGROUP_PARENT).iterdir() if d.is_dir())
        except OSError:
            continue
    return ids


def remove_cgroups(cid: str, timeout: float = 5.0) -> None:
    """Kill whatever is left in the container's cgroups (thawed first) and remove them. Idempotent."""
    freezer = cgroup_dir("freezer", cid) / "freezer.state"
    if freezer.exists():
        try:
            freezer.write_text("THAWED")
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while (left := pids(cid)) and time.monotonic() < deadline:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)
    for controller in controllers():
        path = cgroup_dir(controller, cid)
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            continue  # still busy: the next sweep tries again


def host_devices(root: Path = Path("/dev")) -> list[dict[str, Any]]:
    """The host's device nodes as ``linux.devices`` entries (``--privileged`` gets them all)."""
    import stat

    skip = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}
    found: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) == root and d in skip)]
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) or path == "/dev/console":
                continue
            found.append({"path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                          "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                          "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
    return found


def available_capabilities() -> set[int]:
    """Capability numbers in this process's bounding set: what a container can be given."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return {bit for bit in range(64) if mask >> bit & 1}
    except (OSError, ValueError):
        pass
    return set(range(41))


# --cpuset-cpus, --device, --ulimit -------------------------------------------------


def _cpu_list(text: str) -> set[int]:
    """Docker's ParseUintList ("0-2,4"); ValueError on a bad one."""
    out: set[int] = set()
    for part in text.split(","):
        low, sep, high = part.partition("-")
        if not low.isdigit() or (sep and not high.isdigit()) or (sep and int(high) < int(low)):
            raise ValueError(f"invalid format: {text}")
        out.update(range(int(low), int(high if sep else low) + 1))
    return out


def check_cpuset(cpus: str) -> None:
    """``--cpuset-cpus``: a list of CPUs this host has online (dockerd's messages)."""
    try:
        wanted = _cpu_list(cpus)
    except ValueError as exc:
        raise InvalidArgumentError(f"Invalid value {cpus} for cpuset cpus: {exc}") from None
    try:
        online_text = Path("/sys/devices/system/cpu/online").read_text().strip()
    except OSError:
        online_text = f"0-{(os.cpu_count() or 1) - 1}"
    if not wanted <= _cpu_list(online_text):
        raise InvalidArgumentError(f"Requested CPUs are not available - requested {cpus}, available: {online_text}")


def device_node(host_path: str, container_path: str) -> dict[str, Any]:
    """A ``--device``'s ``linux.devices`` entry: the host node's type, numbers and mode."""
    import stat

    st = os.stat(host_path)
    return {"path": container_path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b", "major": os.major(st.st_rdev),
            "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}


def device_rule(device: dict[str, str]) -> dict[str, Any]:
    """The cgroup rule that lets the container use a ``--device`` (HostConfig's Devices entry)."""
    node = device_node(device["PathOnHost"], device["PathInContainer"])
    return {"allow": True, "type": node["type"], "major": node["major"], "minor": node["minor"],
            "access": device["CgroupPermissions"]}


ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack", "as")


def rlimits(ulimits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HostConfig's Ulimits as the spec's ``process.rlimits``."""
    return [{"type": "RLIMIT_" + u["Name"].upper(), "hard": u["Hard"], "soft": u["Soft"]} for u in ulimits]
