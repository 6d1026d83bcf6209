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
    ipam: list[dict[str, str]] = []
    if net.subnet:
        ipam = [{"Subnet": net.subnet, **({} if net.config.get("subnet_given") and not net.config.get("gateway_given")
                                          else {"Gateway": net.gateway})}]
    members = {m.container_id: {"Name": m.name, "EndpointID": m.container_id[:12] + net.id[:52],
                                "MacAddress": m.mac, "IPv4Address": m.ipv4, "IPv6Address": ""}
               for m in report.members}
    options = {**DEFAULT_BRIDGE_OPTIONS, "com.docker.network.bridge.name": net.bridge} if net.name == "bridge" else {}
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": net.driver,
        "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None if net.predefined else {}, "Config": ipam},
        "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": dict(sorted(members.items())), "Options": dict(sorted(options.items())),
        "Labels": net.labels,
    }


def host_config(record: dict[str, Any]) -> dict[str, Any]:
    """The network fields of a container's ``HostConfig``."""
    h = record["HostConfig"]
    return {"PortBindings": h.get("PortBindings") or {}, "PublishAllPorts": bool(h.get("PublishAllPorts")),
            "ExtraHosts": h.get("ExtraHosts")}


def _endpoint(e: ContainerEndpoint, cid: str) -> dict[str, Any]:
    user = e.network not in ("bridge", "host", "none")
    ipam = {"IPv4Address": e.ip} if e.ip else ({} if e.connected else None)
    from dockyard.engine.container_networks import LiveEndpoint

    live = e.live or LiveEndpoint()
    return {"IPAMConfig": ipam, "Links": None,
            "Aliases": [*e.aliases, cid[:12]] if user else None, "NetworkID": e.network_id,
            "EndpointID": live.endpoint_id, "Gateway": live.gateway, "IPAddress": live.ip_address,
            "IPPrefixLen": live.prefix_len, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": live.mac, "DriverOpts": {} if e.connected else None}


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
        "EndpointID": top.endpoint_id, "Gateway": top.gateway, "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": top.ip_address, "IPPrefixLen": top.prefix_len,
        "IPv6Gateway": "", "MacAddress": top.mac,
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
