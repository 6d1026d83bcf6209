"""A bridge network's address pools, as Docker's default IPAM driver takes them, and the ranges host-local
is given for them.

``network create`` names at most one pool per family (``--subnet``, ``--ip-range``, ``--gateway``,
``--aux-address``; Docker's bridge driver refuses more). Addresses are handed out from the pool's IP range
(the whole subnet when none was given), never the gateway (host-local skips it) nor an auxiliary address
(the range is cut around them); an address a container asks for (``--ip``/``--ip6``) may be anywhere in the
subnet, as in Docker. The stored form of a pool is a plain map (``metadata.networks``):
``{subnet, gateway, ip_range, aux, subnet_given, gateway_given}``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.networks import IpamPool

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgumentError(f"Invalid subnet {text} : invalid CIDR address: {text}") from None


def _inside(subnet: IPNetwork, text: str, what: str) -> str:
    try:
        ok = ipaddress.ip_address(text) in subnet
    except ValueError:
        ok = False
    if not ok:
        raise InvalidArgumentError(f"no matching subnet for {what} {text}")
    return text


def checked_pools(pools: tuple[IpamPool, ...]) -> tuple[IpamPool | None, IpamPool | None]:
    """(IPv4 pool, IPv6 pool) of ``network create``; InvalidArgumentError with Docker's words."""
    out: dict[int, IpamPool] = {}
    for pool in pools:
        if not pool.subnet:
            if pool.gateway or pool.ip_range or pool.aux_addresses:
                raise InvalidArgumentError("every ip-range or gateway must have a corresponding subnet")
            continue
        subnet = _network(pool.subnet)
        if subnet.version == 4 and subnet.prefixlen > 30:
            raise InvalidArgumentError(f"Invalid subnet {pool.subnet} : dockyard networks take an IPv4 subnet of /30 or larger")
        if subnet.version == 6 and subnet.prefixlen > 126:
            raise InvalidArgumentError(f"Invalid subnet {pool.subnet} : dockyard networks take an IPv6 subnet of /126 or larger")
        if pool.ip_range:
            ip_range = _network(pool.ip_range)
            if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
                raise InvalidArgumentError(f"no matching subnet for range {pool.ip_range}")
        if pool.gateway:
            _inside(subnet, pool.gateway, "gateway")
        for _, address in pool.aux_addresses:
            _inside(subnet, address, "aux-address")
        if subnet.version in out:
            raise InvalidArgumentError("bridge driver doesn't support multiple subnets")
        out[subnet.version] = pool
    return out.get(4), out.get(6)


def stored_pool(pool: IpamPool | None, subnet: IPNetwork, gateway: str | None) -> dict[str, Any]:
    """The row's map of a pool (``subnet`` as claimed); without a gateway given, Docker's: the first address
    it would hand out (of the IP range when there is one)."""
    ip_range = (pool.ip_range if pool else None) or ""
    span = ipaddress.ip_network(ip_range) if ip_range else subnet
    first = max(span.network_address, subnet.network_address + 1)
    return {"subnet": str(subnet), "gateway": gateway or str(first), "ip_range": ip_range,
            "aux": dict(pool.aux_addresses) if pool else {}, "subnet_given": pool is not None,
            "gateway_given": bool(gateway)}


def ranges(pool: dict[str, Any], wanted: str = "") -> list[dict[str, str]]:
    """host-local's range set for one pool: the IP range (or the subnet) cut around the auxiliary addresses;
    ``wanted``: an address asked for, given as a range of its own (anywhere in the subnet)."""
    subnet = ipaddress.ip_network(pool["subnet"])
    base = {"subnet": str(subnet), "gateway": pool["gateway"]}
    if wanted:
        return [{**base, "rangeStart": wanted, "rangeEnd": wanted}]
    span = ipaddress.ip_network(pool["ip_range"]) if pool.get("ip_range") else subnet
    # Docker hands out the range's first address unless it is the subnet's own address
    first = max(span.network_address, subnet.network_address + 1)
    last = min(span.broadcast_address, subnet.broadcast_address - (1 if subnet.version == 4 else 0))
    cuts = sorted(a for a in (ipaddress.ip_address(x) for x in (pool.get("aux") or {}).values()) if first <= a <= last)
    out = []
    for cut in [*cuts, last + 1]:
        if first <= cut - 1:
            out.append({**base, "rangeStart": str(first), "rangeEnd": str(cut - 1)})
        first = cut + 1
    return out
