"""The pure parts of pools and the resolver: host-local's ranges for a pool, Docker's refusals of a pool,
and the resolver's answers built from a hosts file (the wire format checked byte by byte)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.networks import IpamPool
from dockyard.runtime.network import dns
from dockyard.runtime.network.ipam import checked_pools, ranges, stored_pool


def test_ranges_cut_around_auxiliary_addresses_and_take_a_wanted_address_alone() -> None:
    pool = stored_pool(IpamPool("172.28.0.0/16", "172.28.5.0/24", "172.28.5.254", (("a", "172.28.5.7"),)),
                       ipaddress.ip_network("172.28.0.0/16"), "172.28.5.254")
    base = {"subnet": "172.28.0.0/16", "gateway": "172.28.5.254"}
    assert ranges(pool) == [{**base, "rangeStart": "172.28.5.0", "rangeEnd": "172.28.5.6"},
                            {**base, "rangeStart": "172.28.5.8", "rangeEnd": "172.28.5.255"}]
    assert ranges(pool, "172.28.9.9") == [{**base, "rangeStart": "172.28.9.9", "rangeEnd": "172.28.9.9"}]
    ranged = stored_pool(IpamPool("10.248.0.0/24", "10.248.0.128/25"), ipaddress.ip_network("10.248.0.0/24"), None)
    assert ranged["gateway"] == "10.248.0.128"  # Docker's gateway: the range's first address
    whole = stored_pool(None, ipaddress.ip_network("10.1.2.0/24"), None)
    assert whole["gateway"] == "10.1.2.1" and not whole["subnet_given"]
    assert ranges(whole) == [{"subnet": "10.1.2.0/24", "gateway": "10.1.2.1", "rangeStart": "10.1.2.1", "rangeEnd": "10.1.2.254"}]


@pytest.mark.parametrize(("pools", "message"), [
    ((IpamPool(None, None, "10.0.0.1"),), "every ip-range or gateway must have a corresponding subnet"),
    ((IpamPool("10.0.0.0/24", "10.0.1.0/24"),), "no matching subnet for range 10.0.1.0/24"),
    ((IpamPool("10.0.0.0/24", None, "10.0.1.1"),), "no matching subnet for gateway 10.0.1.1"),
    ((IpamPool("10.0.0.0/24", aux_addresses=(("a", "10.3.0.1"),)),), "no matching subnet for aux-address 10.3.0.1"),
    ((IpamPool("10.0.0.0/24"), IpamPool("10.0.1.0/24")), "bridge driver doesn't support multiple subnets"),
    ((IpamPool("nonsense"),), "Invalid subnet nonsense : invalid CIDR address: nonsense"),
])
def test_pools_docker_refuses(pools: tuple[IpamPool, ...], message: str) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        checked_pools(pools)
    assert str(err.value) == message


def test_one_pool_per_family() -> None:
    v4, v6 = checked_pools((IpamPool("2001:db8::/64"), IpamPool("10.0.0.0/24")))
    assert (v4, v6) == (IpamPool("10.0.0.0/24"), IpamPool("2001:db8::/64"))


def _query(name: str, qtype: int, ident: int = 0x1234) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\x00" + struct.pack(">HH", qtype, 1)


def test_resolver_answers_from_the_hosts_file(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n10.0.0.2\tweb Bar abc123\n2001:db8::2\tweb bar\n")
    table = dns.lookup_table(hosts)
    query = _query("bar", 1)
    answer = dns.reply(query, table)
    assert answer is not None
    ident, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", answer[:12])
    assert (ident, flags & 0x800F, qd, an, ns, ar) == (0x1234, 0x8000, 1, 1, 0, 0)
    assert answer[12:len(query)] == query[12:]  # the question, echoed
    assert answer[len(query):] == b"\xc0\x0c\x00\x01\x00\x01" + struct.pack(">IH", 600, 4) + bytes([10, 0, 0, 2])
    six = dns.reply(_query("BAR", 28), table)
    assert six is not None and six.endswith(ipaddress.ip_address("2001:db8::2").packed)
    none = dns.reply(_query("abc123", 28), table)  # the name is known, not for this family: an empty answer
    assert none is not None and struct.unpack(">H", none[6:8])[0] == 0
    assert dns.reply(_query("example.org", 1), table) is None  # for the upstream servers
    assert struct.unpack(">H", dns.failure(query, 2)[2:4])[0] & 0xF == 2


def test_resolv_conf_points_at_the_resolver() -> None:
    current = "search example.com\nnameserver 10.1.1.1\nnameserver 127.0.0.11\noptions ndots:2 edns0\n"
    assert dns.resolv_conf(current) == "search example.com\nnameserver 127.0.0.11\noptions ndots:0 edns0\n"
    assert dns.upstream_servers(current) == ["10.1.1.1"]
