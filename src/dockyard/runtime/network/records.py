"""What a container's network files say, read without the machinery that writes them (CNI, namespaces,
iptables): the networks it is on and, while it runs, its addresses and ports. ``ps``, ``inspect`` and
``port`` read these; ``attachment`` and ``sandbox`` write them.

    network/connections/<id>.json  the container's networks once ``network connect``/``disconnect`` changed them
    network/sandboxes/<id>.json    a running container's sandbox: namespace, and per network its ADD result, ports
"""

from __future__ import annotations

import json
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any


def network_name(mode: str) -> str | None:
    """The network a mode attaches to through CNI (None: host, none, or another container's: ``container:ID``)."""
    if mode in ("host", "none") or mode.startswith("container:"):
        return None
    return "bridge" if mode == "default" else mode


def mode_networks(mode: str) -> list[str]:
    """The networks a container never ``network connect``ed lists (``ps`` NETWORKS): the one its mode
    attaches to, ``host`` or ``none`` as themselves, and none in another container's namespace."""
    name = network_name(mode)
    if name is not None:
        return [name]
    return [mode] if mode in ("host", "none") else []


def connections_file(home: Path, cid: str) -> Path:
    return home / "connections" / f"{cid}.json"


def networks_of(home: Path, cid: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"network", "connected", **NetworkRequest.document()}]``: what each network's endpoint was asked
    (``container_record.NetworkRequest.parse`` reads it); connected ones came from ``network connect``."""
    try:
        found: list[dict[str, Any]] = json.loads(connections_file(home, cid).read_text())
        return found
    except (OSError, ValueError):
        name = network_name(record["HostConfig"]["NetworkMode"])
        return [] if name is None else [{**(record.get("Networking") or {}), "network": name, "connected": False}]


def sandbox_file(home: Path, cid: str) -> Path:
    return home / "sandboxes" / f"{cid}.json"


def read_sandbox(home: Path, cid: str) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(sandbox_file(home, cid).read_text())
    except (OSError, ValueError):
        return None
    return doc


def endpoint_id(cid: str, network_id: str) -> str:
    return cid[:12] + network_id[:52]


def mac_of(result: dict[str, Any], ifname: str) -> str:
    """The MAC address of the container's interface ``ifname`` in a CNI ADD result."""
    return next((i.get("mac", "") for i in result.get("interfaces", []) if i.get("name") == ifname and i.get("sandbox")), "")


def addresses_of(result: dict[str, Any]) -> tuple[tuple[str, int], tuple[str, int]]:
    """((IPv4 address, prefix), (IPv6 address, prefix)) of a CNI ADD result; ("", 0) for a family it lacks."""
    found = {4: ("", 0), 6: ("", 0)}
    for ip in result.get("ips", []):
        address, _, prefix = ip["address"].partition("/")
        family = 6 if ":" in address else 4
        if not found[family][0]:
            found[family] = (address, int(prefix))
    return found[4], found[6]


def _gateway(result: dict[str, Any], family: int) -> str:
    return next((ip.get("gateway", "") for ip in result.get("ips", []) if (":" in ip["address"]) == (family == 6)), "")


def describe(home: Path, cid: str) -> dict[str, dict[str, Any]]:
    """Per network: addresses, gateways, MAC, endpoint, published ports (empty when not attached)."""
    doc = read_sandbox(home, cid)
    out: dict[str, dict[str, Any]] = {}
    for e in (doc or {}).get("attachments", []):
        if not e.get("result"):
            continue
        (address, prefix), (address6, prefix6) = addresses_of(e["result"])
        out[e["network"]] = {
            "NetworkID": e["network_id"], "EndpointID": endpoint_id(cid, e["network_id"]), "IPAddress": address,
            "IPPrefixLen": prefix, "Gateway": _gateway(e["result"], 4), "GlobalIPv6Address": address6,
            "GlobalIPv6PrefixLen": prefix6, "IPv6Gateway": _gateway(e["result"], 6),
            "MacAddress": mac_of(e["result"], e["ifname"]), "SandboxKey": doc["netns"],  # type: ignore[index]
            "PortMappings": e["mappings"] + e.get("proxied", []),
        }
    return out
