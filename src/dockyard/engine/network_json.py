"""Docker's JSON for networks, from the network service's typed reports: ``network inspect``, and a
container's ``NetworkSettings`` and network fields of ``HostConfig``.

Both faces print these (the CLI's ``inspect``, the Engine API's responses).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.container_networks import ContainerEndpoint, ContainerNetworks
    from dockyard.engine.network_reports import NetworkReport

DEFAULT_BRIDGE_OPTIONS = {
    "com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
    "com.docker.network.driver.mtu": "1500",
}  # fmt: skip


def network_json(report: NetworkReport) -> dict[str, Any]:
    """Docker's ``network inspect`` document."""
    net = report.network
    members = {m.container_id: {"Name": m.name, "EndpointID": m.container_id[:12] + net.id[:52],
                                "MacAddress": m.mac, "IPv4Address": m.ipv4, "IPv6Address": m.ipv6}
               for m in report.members}
    options = {**DEFAULT_BRIDGE_OPTIONS, "com.docker.network.bridge.name": net.bridge} if net.name == "bridge" else net.options
    # rows written before IPAM options were kept hold none: Docker's CLI sends {} for them
    ipam_options = None if net.predefined else net.config.get("ipam_options", {})
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": net.driver,
        "EnableIPv6": bool(net.ipv6.get("enabled")),
        "IPAM": {"Driver": "default", "Options": ipam_options, "Config": [_ipam_config(p) for p in net.pools()]},
        "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": dict(sorted(members.items())), "Options": dict(sorted(options.items())),
        "Labels": net.labels,
    }


def _ipam_config(pool: dict[str, Any]) -> dict[str, Any]:
    """Docker's IPAM.Config entry of a stored pool: the gateway shows unless the user gave a subnet alone."""
    out: dict[str, Any] = {"Subnet": pool["subnet"]}
    if pool.get("ip_range"):
        out["IPRange"] = pool["ip_range"]
    if not pool.get("subnet_given") or pool.get("gateway_given"):
        out["Gateway"] = pool["gateway"]
    if pool.get("aux"):
        out["AuxiliaryAddresses"] = dict(pool["aux"])
    return out


def host_config(record: dict[str, Any]) -> dict[str, Any]:
    """The network fields of a container's ``HostConfig``."""
    h = record["HostConfig"]
    return {"PortBindings": h.get("PortBindings") or {}, "PublishAllPorts": bool(h.get("PublishAllPorts")),
            "ExtraHosts": h.get("ExtraHosts")}


def _endpoint(e: ContainerEndpoint, cid: str) -> dict[str, Any]:
    """One network of NetworkSettings.Networks: what was asked of the endpoint, and its live addresses."""
    from dockyard.engine.container_networks import LiveEndpoint

    user = e.network not in ("bridge", "host", "none")
    asked = e.request
    ipam = asked.ipam_config() or ({} if e.connected else None)
    live = e.live or LiveEndpoint()
    return {"IPAMConfig": ipam, "Links": list(asked.links) or None,
            "Aliases": [*asked.aliases, cid[:12]] if user else None, "NetworkID": e.network_id,
            "EndpointID": live.endpoint_id, "Gateway": live.gateway, "IPAddress": live.ip_address,
            "IPPrefixLen": live.prefix_len, "IPv6Gateway": live.ipv6_gateway, "GlobalIPv6Address": live.ipv6_address,
            "GlobalIPv6PrefixLen": live.ipv6_prefix_len, "MacAddress": live.mac or asked.mac_address,
            "DriverOpts": dict(asked.driver_opts) if asked.driver_opts is not None else ({} if e.connected else None)}


def network_settings(report: ContainerNetworks, cid: str) -> dict[str, Any]:
    """Docker's NetworkSettings: the top-level address fields describe the default bridge only."""
    from dockyard.engine.container_networks import LiveEndpoint

    top = report.bridge or LiveEndpoint()
    key = report.sandbox_key
    if key:
        import hashlib  # ~2 ms to load; only an attached container has a sandbox to hash
    return {
        "Bridge": "", "SandboxID": hashlib.sha256(key.encode()).hexdigest() if key else "",
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": report.ports,
        "SandboxKey": key, "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": top.endpoint_id, "Gateway": top.gateway, "GlobalIPv6Address": top.ipv6_address,
        "GlobalIPv6PrefixLen": top.ipv6_prefix_len, "IPAddress": top.ip_address, "IPPrefixLen": top.prefix_len,
        "IPv6Gateway": top.ipv6_gateway, "MacAddress": top.mac,
        "Networks": {e.network: _endpoint(e, cid) for e in report.endpoints},
    }


def port_sort_key(key: str) -> tuple[int, str]:
    """``80/tcp`` -> (80, "tcp"): ports by number, as ``port`` and ``ps`` list them."""
    port, _, proto = key.partition("/")
    return int(port), proto


def ps_ports(ports: dict[str, Any]) -> str:
    """The PORTS column as Docker 20.10 prints it: exposed-only ports first, then the published ones,
    each part by port: ``443/tcp, 0.0.0.0:8080->80/tcp, :::8080->80/tcp``."""
    keys = sorted(ports, key=port_sort_key)
    exposed = [k for k in keys if not ports[k]]
    published = [f"{h['HostIp']}:{h['HostPort']}->{k}" for k in keys for h in ports[k] or []]
    return ", ".join(exposed + published)


def port_map(exposed: dict[str, Any] | None, attached: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """NetworkSettings.Ports: each exposed port with the host bindings of the sandbox's endpoints
    (``attached``, empty when the container does not run: then no ports at all)."""
    if not attached:
        return {}
    from dockyard.runtime.network.ports import network_ports

    mappings = [m for e in attached.values() for m in e["PortMappings"]]
    return network_ports(mappings, exposed or {})
