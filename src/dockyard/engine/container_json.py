"""A container record as Docker prints it: the inspect document, ``ps``'s PORTS/NETWORKS/MOUNTS.

The only place the record becomes Docker's JSON, shared by the faces (the CLI prints it, the Engine API
answers with it).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from dockyard.errors import NotFoundError

if TYPE_CHECKING:
    from dockyard.engine import Engine
    from dockyard.engine.containers import Sizes
    from dockyard.runtime.containers import Container
    from dockyard.runtime.network.attachment import ContainerNetworking

ZERO_TIME = "0001-01-01T00:00:00Z"

# HostConfig fields the isolation flags own, with Docker's values for a container that set none
_HOST_CONFIG_DEFAULTS: dict[str, Any] = {
    "Memory": 0, "MemorySwap": 0, "NanoCpus": 0, "CpuShares": 0, "PidsLimit": None, "ReadonlyRootfs": False,
    "Privileged": False, "CapAdd": None, "CapDrop": None, "Init": None,
    "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Runtime": "runc",
}  # fmt: skip


def inspect_json(engine: Engine, c: Container) -> dict[str, Any]:
    """Docker's ``inspect`` of a container, key for key in Docker's order."""
    cdir = engine.root / "containers" / c.id
    layer = cdir / "layer"
    st, rec = c.state, c.record
    status = st.get("Status", "created")
    args = rec["Process"]["args"]
    driver = engine.driver.name
    return {
        "Id": c.id, "Created": c.created, "Path": args[0], "Args": args[1:],
        "State": {
            "Status": "exited" if status == "removing" else status, "Running": c.running, "Paused": status == "paused",
            "Restarting": status == "restarting", "OOMKilled": bool(st.get("OOMKilled")), "Dead": False,
            "Pid": st.get("Pid", 0),
            "ExitCode": st.get("ExitCode", 0), "Error": st.get("Error", ""),
            "StartedAt": st.get("StartedAt", ZERO_TIME), "FinishedAt": st.get("FinishedAt", ZERO_TIME),
        },
        "Image": c.image_id, "ResolvConfPath": str(cdir / "resolv.conf"), "HostnamePath": str(cdir / "hostname"),
        "HostsPath": str(cdir / "hosts"), "LogPath": str(cdir / f"{c.id}-json.log"), "Name": "/" + c.name,
        "RestartCount": st.get("RestartCount", 0), "Driver": driver, "Platform": "linux", "MountLabel": "",
        "ProcessLabel": "", "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": host_config(rec["HostConfig"]),
        "GraphDriver": {"Data": {"MergedDir": str(cdir / "rootfs"), "UpperDir": str(layer / "diff"),
                                 "WorkDir": str(layer / "work")}, "Name": driver},
        "Mounts": inspect_mounts(rec),
        "Config": {k: v for k, v in rec["Config"].items() if k != "StopSignal" or v},
        "NetworkSettings": network_settings(engine, c),
    }


def host_config(h: dict[str, Any]) -> dict[str, Any]:
    return {
        "Binds": h["Binds"], "LogConfig": {"Type": "json-file", "Config": {}}, "NetworkMode": h["NetworkMode"],
        "AutoRemove": h["AutoRemove"], "SecurityOpt": h["SecurityOpt"], "PortBindings": h.get("PortBindings") or {},
        "PublishAllPorts": bool(h.get("PublishAllPorts")), "ExtraHosts": h.get("ExtraHosts"),
        **{key: h.get(key, default) for key, default in _HOST_CONFIG_DEFAULTS.items()},
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


def inspect_mounts(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Mounts`` array: volumes with their name and driver, binds with propagation, tmpfs."""
    out = []
    for v in record.get("Volumes", []):
        if v.get("type") == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": v["destination"], "Mode": "", "RW": not v["readonly"],
                        "Propagation": ""})
        elif v.get("type", "bind") == "volume":
            out.append({"Type": "volume", "Name": v["name"], "Source": v["source"], "Destination": v["destination"],
                        "Driver": v.get("driver", "local"), "Mode": v.get("mode", ""), "RW": not v["readonly"],
                        "Propagation": ""})
        else:
            mode = v.get("mode", "ro" if v["readonly"] else "")
            out.append({"Type": "bind", "Source": v["source"], "Destination": v["destination"], "Mode": mode,
                        "RW": not v["readonly"], "Propagation": v.get("propagation") or "rprivate"})
    return out


def mount_names(record: dict[str, Any]) -> list[str]:
    """``ps``'s MOUNTS: volume names, else sources."""
    return [m.get("Name") or m["Source"] for m in inspect_mounts(record)]


# networks --------------------------------------------------------------------------


def _attached(networking: ContainerNetworking, c: Container) -> dict[str, dict[str, Any]]:
    return networking.describe(c.id) if c.running else {}


def _ports(c: Container, attached: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from dockyard.runtime.network.ports import network_ports

    if not attached:
        return {}
    mappings = [m for e in attached.values() for m in e["PortMappings"]]
    return network_ports(mappings, c.record["Config"].get("ExposedPorts") or {})


def ps_network_columns(engine: Engine, c: Container) -> tuple[str, list[str]]:
    """``ps``'s PORTS text and the names of the networks the container joined."""
    from dockyard.runtime.network.ports import ps_ports

    mode = c.record["HostConfig"].get("NetworkMode", "none")
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
