"""A container record as Docker prints it: the inspect document, ``ps``'s PORTS/NETWORKS/MOUNTS.

The only place the record becomes Docker's JSON, shared by the faces (the CLI prints it, the Engine API
answers with it).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import NotFoundError

if TYPE_CHECKING:
    from dockyard.engine import Engine
    from dockyard.engine.container_reports import Sizes
    from dockyard.metadata.container_record import HostConfig, MountRecord
    from dockyard.runtime.container_state import Container
    from dockyard.runtime.network.attachment import ContainerNetworking

# HostConfig fields the isolation flags own (a record that set none holds Docker's defaults)
_HOST_CONFIG_KEYS = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "ReadonlyRootfs", "Privileged",
                     "CapAdd", "CapDrop", "Init", "RestartPolicy", "Runtime")


def inspect_json(engine: Engine, c: Container) -> dict[str, Any]:
    """Docker's ``inspect`` of a container, key for key in Docker's order."""
    cdir = engine.root / "containers" / c.id
    layer = cdir / "layer"
    run, rec = c.run, c.stored
    args = list(rec.process.args)
    driver = engine.driver.name
    return {
        "Id": c.id, "Created": c.created, "Path": args[0], "Args": args[1:],
        "State": {
            "Status": "exited" if run.status == "removing" else run.status, "Running": run.running,
            "Paused": run.status == "paused", "Restarting": run.status == "restarting", "OOMKilled": run.oom_killed,
            "Dead": False, "Pid": run.pid, "ExitCode": run.exit_code, "Error": run.error,
            "StartedAt": run.started_at, "FinishedAt": run.finished_at,
        },
        "Image": c.image_id, "ResolvConfPath": str(cdir / "resolv.conf"), "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"), "LogPath": str(cdir / f"{c.id}-json.log"), "Name": "/" + c.name,
        "RestartCount": run.restart_count, "Driver": driver, "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": host_config(rec.host_config),
        "GraphDriver": {"Data": {"MergedDir": str(cdir / "rootfs"), "UpperDir": str(layer / "diff"),
                                 "WorkDir": str(layer / "work")}, "Name": driver},
        "Mounts": inspect_mounts(rec.mounts),
        "Config": {k: v for k, v in rec.config.document().items() if k != "StopSignal" or v},
        "NetworkSettings": network_settings(engine, c),
    }


def host_config(h: HostConfig) -> dict[str, Any]:
    """The HostConfig of inspect: the stored one, in Docker's order, with its log settings."""
    stored = h.document()
    return {
        "Binds": stored["Binds"], "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": h.network_mode,
        "AutoRemove": h.auto_remove, "SecurityOpt": stored["SecurityOpt"], "PortBindings": stored["PortBindings"],
        "PublishAllPorts": h.publish_all_ports, "ExtraHosts": stored["ExtraHosts"],
        **{key: stored[key] for key in _HOST_CONFIG_KEYS},
    }


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


def _attached(networking: ContainerNetworking, c: Container) -> dict[str, dict[str, Any]]:
    return networking.describe(c.id) if c.running else {}


def _ports(c: Container, attached: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from dockyard.runtime.network.ports import network_ports

    if not attached:
        return {}
    mappings = [m for e in attached.values() for m in e["PortMappings"]]
    return network_ports(mappings, c.record["Config"].get("ExposedPorts") or {})


def published_ports(engine: Engine, c: Container) -> dict[str, Any]:
    """NetworkSettings.Ports (``port``): each exposed port with its host bindings (None when not published)."""
    return _ports(c, _attached(engine.networking, c))


def ps_network_columns(engine: Engine, c: Container) -> tuple[str, list[str]]:
    """``ps``'s PORTS text and the names of the networks the container joined."""
    mode = c.stored.host_config.network_mode
    state = engine.root / "network"
    if not (state / "connections" / f"{c.id}.json").exists() and not (c.running and (state / "sandboxes" / f"{c.id}.json").exists()):
        # never ``network connect``ed and not attached now: no ports, the network its mode names (no network
        # state to load)
        return "", ["bridge" if mode == "default" else mode]
    from dockyard.engine.network_json import ps_ports

    networking = engine.networking
    joined = [e["network"] for e in networking.networks_of(c.id, c.record)]
    return ps_ports(_ports(c, _attached(networking, c))), joined if joined or mode not in ("host", "none") else [mode]


def _endpoint(live: dict[str, Any], network_id: str, entry: dict[str, Any], cid: str) -> dict[str, Any]:
    user = entry["network"] not in ("bridge", "host", "none")
    ipam = {"IPv4Address": entry["ip"]} if entry.get("ip") else ({} if entry["connected"] else None)
    return {"IPAMConfig": ipam, "Links": None,
            "Aliases": [*entry["aliases"], cid[:12]] if user else None, "NetworkID": network_id,
            "EndpointID": live.get("EndpointID", ""), "Gateway": live.get("Gateway", ""), "IPAddress": live.get("IPAddress", ""),
            "IPPrefixLen": live.get("IPPrefixLen", 0), "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": live.get("MacAddress", ""), "DriverOpts": {} if entry["connected"] else None}


def _network_id(engine: Engine, name: str) -> str:
    try:
        return engine.networking.networks.get(name).id
    except NotFoundError:
        return ""


def network_settings(engine: Engine, c: Container) -> dict[str, Any]:
    """Docker's NetworkSettings: the top-level address fields describe the default bridge only."""
    import hashlib

    mode = c.record["HostConfig"].get("NetworkMode", "none")
    networking = engine.networking
    entries = networking.networks_of(c.id, c.record)
    attached = _attached(networking, c)
    if not entries and mode in ("host", "none"):
        entries = [{"network": mode, "aliases": [], "connected": False}]
    networks = {e["network"]: _endpoint(attached.get(e["network"], {}), _network_id(engine, e["network"]), e, c.id)
                for e in entries}
    top = attached.get("bridge", {})
    key = next((e["SandboxKey"] for e in attached.values()), "")
    return {
        "Bridge": "", "SandboxID": hashlib.sha256(key.encode()).hexdigest() if key else "",
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": _ports(c, attached), "SandboxKey": key, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": top.get("EndpointID", ""), "Gateway": top.get("Gateway", ""), "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": top.get("IPAddress", ""), "IPPrefixLen": top.get("IPPrefixLen", 0),
        "IPv6Gateway": "", "MacAddress": top.get("MacAddress", ""), "Networks": networks,
    }
