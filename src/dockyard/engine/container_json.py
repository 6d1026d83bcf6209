"""A container record as Docker prints it: the inspect document, ``ps``'s PORTS/NETWORKS/MOUNTS.

The only place the record becomes Docker's JSON, shared by the faces (the CLI prints it, the Engine API
answers with it).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

from dockyard.engine.network_json import network_settings
from dockyard.oci.container_config import docker_container_config
from dockyard.oci.linux_defaults import MASKED_PATHS, READONLY_PATHS
from dockyard.oci.timefmt import human_duration, parse_time

if TYPE_CHECKING:
    from dockyard.engine import Engine
    from dockyard.engine.container_reports import Sizes
    from dockyard.metadata.container_record import ContainerRecord, HostConfig, MountRecord
    from dockyard.runtime.container_state import Container, RunState

# Docker 20.10's HostConfig (api/types/container/host_config.go) in its field order, holding what dockerd stores
# for a container created without flags; the record's own values are laid over these (``host_config``), so a
# flag that sets a key needs only its value in ``HostConfig.document()``. None under a key of ``_OMIT_EMPTY``
# means Go's ``omitempty`` leaves the key out.
_HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": "default",
    "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
    "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None, "CgroupnsMode": "host", "Dns": [],
    "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "SecurityOpt": None, "StorageOpt": None, "Tmpfs": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": 64 << 20, "Sysctls": None, "Runtime": "runc", "ConsoleSize": [0, 0], "Isolation": "",
    # Resources
    "CpuShares": 0, "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
    "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "",
    "CpusetMems": "", "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0,
    "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
    "OomKillDisable": False, "PidsLimit": None, "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0,
    # after Resources
    "Mounts": None, "MaskedPaths": None, "ReadonlyPaths": None, "Init": None,
}
_OMIT_EMPTY = frozenset({"StorageOpt", "Tmpfs", "Sysctls", "Mounts", "Init"})

def inspect_json(engine: Engine, c: Container) -> dict[str, Any]:
    """Docker's ``inspect`` of a container, key for key in Docker's order."""
    cdir = engine.root / "containers" / c.id
    run, rec = c.run, c.stored
    image = engine.db.image(c.image_id)
    args = list(rec.process.args)
    driver = engine.driver_name
    return {
        "Id": c.id, "Created": c.created, "Path": args[0], "Args": args[1:],
        "State": {
            "Status": "exited" if run.status == "removing" else run.status, "Running": run.running,
            "Paused": run.status == "paused", "Restarting": run.status == "restarting", "OOMKilled": run.oom_killed,
            "Dead": False, "Pid": run.pid, "ExitCode": run.exit_code, "Error": run.error,
            "StartedAt": run.started_at, "FinishedAt": run.finished_at,
            **({"Health": c.state["Health"]} if c.state.get("Health") else {}),  # once a healthcheck ran
        },
        "Image": c.image_id, "ResolvConfPath": str(cdir / "resolv.conf"), "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"), "LogPath": str(cdir / f"{c.id}-json.log"), "Name": "/" + c.name,
        "RestartCount": run.restart_count, "Driver": driver, "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": host_config(rec.host_config, rec.mounts, _links(engine, rec)),
        "GraphDriver": engine.graph_driver(image, str(cdir / "layer"), str(cdir / "rootfs")).to_json(),
        "Mounts": inspect_mounts(rec.mounts),
        "Config": docker_container_config(rec.config.document()),
        "NetworkSettings": network_settings(engine.network_service.of_container(c), c.id),
    }


def _links(engine: Engine, rec: ContainerRecord) -> list[str] | None:
    """HostConfig.Links as dockerd shows its link graph: ``/CHILD:/PARENT/ALIAS`` with today's names (a link
    whose child is gone is left out)."""
    if not rec.host_config.links:
        return None
    from dockyard.metadata.containers import ContainerRecords

    records = ContainerRecords(engine.db)
    out = []
    for stored in rec.host_config.links:
        child_id, _, alias = stored.partition(":")
        child = records.lookup(child_id)
        if child is not None:
            out.append(f"/{child.name}:/{rec.name}/{alias}")
    return out or None


def host_config(h: HostConfig, mounts: tuple[MountRecord, ...] = (), links: list[str] | None = None) -> dict[str, Any]:
    """The HostConfig of inspect: Docker's defaults with the record's values laid over them, in Docker's order."""
    stored = {**h.document(), "Mounts": _mount_flags(h, mounts), "Links": links}
    # a key the record leaves unset (absent or None) shows dockerd's default
    merged = {key: default if stored.get(key) is None else stored[key] for key, default in _HOST_CONFIG_DEFAULTS.items()}
    if stored.get("CgroupnsMode") is None:  # dockerd's default: a namespace of its own on cgroup v2 only
        merged["CgroupnsMode"] = "private" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "host"
    merged["CapAdd"], merged["CapDrop"] = _capabilities(merged["CapAdd"]), _capabilities(merged["CapDrop"])
    if merged["Privileged"]:  # dockerd unmasks /proc and turns labelling off for a privileged container
        merged["MaskedPaths"] = merged["ReadonlyPaths"] = None
    else:
        merged["MaskedPaths"] = merged["MaskedPaths"] or list(MASKED_PATHS)
        merged["ReadonlyPaths"] = merged["ReadonlyPaths"] or list(READONLY_PATHS)
    if merged["Privileged"] or "host" in (merged["IpcMode"], merged["PidMode"]):
        merged["SecurityOpt"] = [*(merged["SecurityOpt"] or []), "label=disable"]
    return {k: v for k, v in merged.items() if k not in _OMIT_EMPTY or v not in (None, {}, [])}


def _capabilities(caps: list[str] | None) -> list[str] | None:
    """The CLI's NormalizeCapabilities: upper case with the ``CAP_`` prefix (``ALL`` as it is), once, sorted."""
    if caps is None:
        return None
    upper = [c.upper() for c in caps]
    return sorted({c if c == "ALL" or c.startswith("CAP_") else "CAP_" + c for c in upper})


def _mount_flags(h: HostConfig, mounts: tuple[MountRecord, ...]) -> list[dict[str, Any]] | None:
    """HostConfig.Mounts: each ``--mount`` as Docker's mount.Mount (omitted fields left out)."""
    if not h.mount_flags:
        return None
    tmpfs = {m.destination: m.tmpfs_options for m in mounts if m.type == "tmpfs"}
    return [_mount_flag(spec, tmpfs) for _kind, spec in h.mount_flags]


def _mount_flag(spec: str, tmpfs: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    fields: dict[str, str | None] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        fields[key.strip().lower()] = value if sep else None
    kind = fields.get("type") or "volume"
    source = fields.get("source") or fields.get("src")
    target = fields.get("target") or fields.get("destination") or fields.get("dst") or ""
    out: dict[str, Any] = {"Type": kind, **({"Source": source} if source else {}), "Target": target}
    if any(k in fields and (fields[k] or "true").lower() in ("1", "true") for k in ("readonly", "ro")):
        out["ReadOnly"] = True
    if kind == "bind" and fields.get("bind-propagation"):
        out["BindOptions"] = {"Propagation": fields["bind-propagation"]}
    if kind == "volume" and ("volume-nocopy" in fields or fields.get("volume-subpath")):
        nocopy = "volume-nocopy" in fields and (fields["volume-nocopy"] or "true").lower() in ("1", "true")
        out["VolumeOptions"] = {**({"NoCopy": nocopy} if "volume-nocopy" in fields else {}),
                                **({"Subpath": fields["volume-subpath"]} if fields.get("volume-subpath") else {}),
                                "DriverConfig": {}}
    if kind == "tmpfs":
        options = dict(o.split("=", 1) for o in tmpfs.get(os.path.normpath(target), ()))
        described = {**({"SizeBytes": int(options["size"])} if "size" in options else {}),
                     **({"Mode": int(options["mode"], 8)} if "mode" in options else {})}
        if described:
            out["TmpfsOptions"] = described
    return out


def with_sizes(document: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    """Docker puts SizeRw and SizeRootFs right after GraphDriver."""
    out: dict[str, Any] = {}
    for key, value in document.items():
        out[key] = value
        if key == "GraphDriver":
            out["SizeRw"], out["SizeRootFs"] = sizes.rw, sizes.root_fs
    return out


# mounts ----------------------------------------------------------------------------


def inspect_mounts(mounts: tuple[MountRecord, ...]) -> list[dict[str, Any]]:
    """The ``Mounts`` array: volumes with their name and driver, binds with propagation, tmpfs."""
    out = []
    for m in mounts:
        if m.type == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": m.destination, "Mode": "", "RW": not m.readonly,
                        "Propagation": ""})
        elif m.type == "volume":
            out.append({"Type": "volume", "Name": m.name, "Source": m.source, "Destination": m.destination,
                        "Driver": m.driver or "local", "Mode": m.mode, "RW": not m.readonly, "Propagation": ""})
        else:
            out.append({"Type": "bind", "Source": m.source, "Destination": m.destination, "Mode": m.mode,
                        "RW": not m.readonly, "Propagation": m.propagation or "rprivate"})
    return out


def mount_names(mounts: tuple[MountRecord, ...]) -> list[str]:
    """``ps``'s MOUNTS: volume names, else sources."""
    return [m.name or m.source for m in mounts]


# networks --------------------------------------------------------------------------


def ps_network_columns(engine: Engine, c: Container) -> tuple[str, list[str]]:
    """``ps``'s PORTS text and the names of the networks the container joined."""
    from dockyard.runtime.network.records import connections_file, mode_networks, sandbox_file

    home = engine.root / "network"
    if not connections_file(home, c.id).exists() and not (c.running and sandbox_file(home, c.id).exists()):
        # never ``network connect``ed and not attached now: no ports, the network its mode names (no network
        # state to load)
        return "", mode_networks(c.stored.host_config.network_mode)
    from dockyard.engine.network_json import ps_ports

    report = engine.network_service.of_container(c, ids=False)
    return ps_ports(report.ports), [e.network for e in report.endpoints]


# the container list (ps, GET /containers/json) --------------------------------------


def since(value: str, now: float) -> float:
    """Seconds from the RFC 3339 time ``value`` to ``now`` (0 for no time)."""
    moment = parse_time(value)
    return now - moment.timestamp() if moment else 0.0


def status_text(run: RunState, now: float, health: str = "") -> str:
    """Docker's STATUS (``ps``, the Engine API's container list): ``Up 3 seconds (healthy)``, ``Exited (0) …``."""
    if run.status in ("running", "paused"):
        up = "Up " + human_duration(since(run.started_at, now))
        if run.status == "paused":
            return up + " (Paused)"
        return up + (f" (health: {health})" if health == "starting" else f" ({health})" if health else "")
    if run.status == "restarting":
        return f"Restarting ({run.exit_code}) {human_duration(since(run.finished_at, now))} ago"
    if run.status == "exited":
        return f"Exited ({run.exit_code}) {human_duration(since(run.finished_at, now))} ago"
    if run.status == "removing":
        return "Removal In Progress"
    return "Created"


def command_line(args: tuple[str, ...] | list[str]) -> str:
    """The daemon's Command of a listed container: the arguments joined, those with a space quoted in '…'."""
    return " ".join([args[0], *(f"'{a}'" if " " in a else a for a in args[1:])]) if args else ""


def summary_ports(ports: dict[str, Any]) -> list[dict[str, Any]]:
    """ContainerSummary.Ports from NetworkSettings.Ports: one entry per host binding, or the bare exposed port."""
    from dockyard.engine.network_json import port_sort_key

    out: list[dict[str, Any]] = []
    for key in sorted(ports, key=port_sort_key):
        port, proto = port_sort_key(key)
        for binding in ports[key] or [None]:
            entry: dict[str, Any] = {"PrivatePort": port, "Type": proto or "tcp"}
            if binding is not None:
                entry = {"IP": binding["HostIp"], **entry, "PublicPort": int(binding["HostPort"])}
            out.append(entry)
    return out


def _unix(value: str) -> int:
    moment = parse_time(value)
    return int(moment.timestamp()) if moment else 0


def summary_json(engine: Engine, c: Container, now: float, sizes: Sizes | None = None,
                 link_names: list[str] | None = None) -> dict[str, Any]:
    """Docker's ContainerSummary (``GET /containers/json``), from the same record ``inspect`` shows;
    ``link_names``: the ``/PARENT/ALIAS`` names links give it, listed after its own as dockerd lists them."""
    settings = network_settings(engine.network_service.of_container(c), c.id)
    state = c.run.status
    out: dict[str, Any] = {
        "Id": c.id, "Names": ["/" + c.name, *sorted(link_names or ())], "Image": c.stored.image, "ImageID": c.image_id,
        "Command": command_line(c.stored.process.args), "Created": _unix(c.created),
        "Ports": summary_ports(settings["Ports"]), "Labels": c.stored.config.labels,
        "State": "exited" if state == "removing" else state,
        "Status": status_text(c.run, now, (c.state.get("Health") or {}).get("Status", "")),
        "HostConfig": {"NetworkMode": c.stored.host_config.network_mode},
        "NetworkSettings": {"Networks": settings["Networks"]}, "Mounts": inspect_mounts(c.stored.mounts),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes.rw, sizes.root_fs
    return out
