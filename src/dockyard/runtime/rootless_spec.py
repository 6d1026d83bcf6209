"""The runtime spec inside a user namespace (rootless): what runc can do there, as ``runc spec --rootless``
and Podman arrange it.

- No cgroup: the user cannot create one (cgroup v1, or v2 without delegation), so the spec names neither a
  path nor resources; runc then leaves the container in the caller's cgroup (limits were refused at create).
- ``/sys``: sysfs can be mounted only in a network namespace the user namespace owns; with the host's network
  the host's ``/sys`` is bound read-only instead (the cgroup mount goes: nothing beneath it can work).
- ``/dev/mqueue``: the host's, bound, when the IPC namespace is the host's.
- ``ping_group_range``: only group IDs the namespace maps (the kernel refuses others).
- ``/dev/pts`` without ``gid=5`` when the tty group is not mapped (single-ID namespace).
- No ``oomScoreAdj``: lowering it needs a privilege the user does not have.
- Supplementary groups only where ``setgroups`` is allowed (a single-ID namespace denies it).
- Devices (``--device``, ``--privileged``): bind mounts of the host's nodes, as Podman makes them (runc would
  bind them too, but from the container's path on the host: ``--device /dev/a:/dev/b`` would miss).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def mapped_gids(gid_map: Path = Path("/proc/self/gid_map")) -> int:
    """How many group IDs from 0 up the namespace maps without a gap."""
    ranges = sorted(tuple(int(n) for n in line.split()) for line in gid_map.read_text().splitlines() if line.strip())
    count = 0
    for inside, _host, size in ranges:
        if inside != count:
            break
        count += size
    return count


def setgroups_allowed(path: Path = Path("/proc/self/setgroups")) -> bool:
    try:
        return path.read_text().strip() != "deny"
    except OSError:
        return True


def _sys_bind() -> dict[str, Any]:
    return {"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}


def _mqueue_bind() -> dict[str, Any]:
    return {"destination": "/dev/mqueue", "type": "bind", "source": "/dev/mqueue", "options": ["rbind", "nosuid", "noexec", "nodev"]}


# the nodes runc itself gives every container (binds, and /dev/ptmx a link): a second mount would clash
RUNC_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx"})


def _device_bind(device: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    path = device["path"]
    return {"destination": path, "type": "bind", "source": sources.get(path, path), "options": ["bind", "rprivate"]}


def rootless_spec(spec: dict[str, Any], gid_count: int, setgroups: bool = True,
                  device_sources: dict[str, str] | None = None) -> dict[str, Any]:
    """``spec`` (``build_spec``'s) changed for a runc that runs in this user namespace; a new document.
    ``device_sources``: the host node of each device by its path in the container (``--device``)."""
    linux = {k: v for k, v in spec["linux"].items() if k not in ("cgroupsPath", "resources", "devices")}
    kinds = {ns["type"] for ns in linux["namespaces"]}
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys/fs/cgroup" and "network" not in kinds:
            continue
        if m["destination"] == "/sys" and m["type"] == "sysfs" and "network" not in kinds:
            m = _sys_bind()
        elif m["destination"] == "/dev/mqueue" and m["type"] == "mqueue" and "ipc" not in kinds:
            m = _mqueue_bind()
        elif m["type"] == "devpts" and gid_count <= 5:  # the tty group (5) is not mapped
            m = {**m, "options": [o for o in m["options"] if not o.startswith("gid=")]}
        mounts.append(m)
    mounts += [_device_bind(d, device_sources or {}) for d in spec["linux"].get("devices") or ()
               if d["path"] not in RUNC_DEVICES]
    sysctl = dict(linux.get("sysctl") or {})
    if "net.ipv4.ping_group_range" in sysctl:
        sysctl["net.ipv4.ping_group_range"] = f"0 {max(gid_count - 1, 0)}"
        linux["sysctl"] = sysctl
    process = {k: v for k, v in spec["process"].items() if k != "oomScoreAdj"}
    if not setgroups:
        process["user"] = {k: v for k, v in process["user"].items() if k != "additionalGids"}
    return {**spec, "process": process, "mounts": mounts, "linux": linux}


def for_this_namespace(spec: dict[str, Any], device_sources: dict[str, str] | None = None) -> dict[str, Any]:
    """``spec`` as it is for root on the host; ``rootless_spec``'s inside a user namespace."""
    from dockyard.runtime import userns

    if not userns.in_user_namespace():
        return spec
    return rootless_spec(spec, mapped_gids(), setgroups_allowed(), device_sources)
