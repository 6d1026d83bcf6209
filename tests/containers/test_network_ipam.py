"""The CLI's network flags for pools and endpoints: ``network create --ip-range --aux-address --opt --ipv6``
with an IPv6 ``--subnet/--gateway``, ``network connect --ip --ip6 --alias --link --link-local-ip``, ``run --ip6
--mac-address --link-local-ip``; compared with Docker 20.10 where it answers the same flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect

pytestmark = pytest.mark.skipif(not Path("/usr/lib/cni/bridge").exists(), reason="containernetworking-plugins missing")


def _create_flags(v4: str, v6: str, bridge: str) -> list[str]:
    return ["--subnet", f"{v4}.0.0/16", "--ip-range", f"{v4}.5.0/24", "--gateway", f"{v4}.5.254",
            "--aux-address", f"a={v4}.1.5", "--aux-address", f"b={v4}.1.6", "-o", f"com.docker.network.bridge.name={bridge}",
            "-o", "com.docker.network.driver.mtu=1400", "--ipv6", "--subnet", f"{v6}::/64", "--label", "k=v"]


def test_network_create_pools_and_options_as_docker(dy: Dockyard, dockerd) -> None:  # type: ignore[no-untyped-def]
    dy("network", "create", *_create_flags("10.243", "2001:db8:43", "dyipam1"), "pools")
    dockerd.run("network", "create", *_create_flags("10.244", "2001:db8:44", "dkipam1"), "pools")
    try:
        theirs = json.loads(dockerd.run("network", "inspect", "pools").stdout)[0]
    finally:
        dockerd.run("network", "rm", "pools", check=False)
    ours = json.loads(dy("network", "inspect", "pools").stdout)[0]
    mapped = json.loads(json.dumps({k: theirs[k] for k in ("IPAM", "Options", "EnableIPv6", "Labels")})
                        .replace("10.244", "10.243").replace("2001:db8:44", "2001:db8:43").replace("dkipam1", "dyipam1"))
    assert {k: ours[k] for k in mapped} == mapped
    assert dy("network", "ls", "--format", "{{.Name}} {{.IPv6}}", "--filter", "name=pools").stdout == "pools true\n"


@pytest.mark.parametrize("flags", [
    ("--subnet", "10.250.0.0/24", "--ip-range", "10.251.0.0/24"),
    ("--gateway", "10.250.0.1"),
    ("--subnet", "10.250.0.0/24", "--aux-address", "a=10.9.0.1"),
    ("--subnet", "10.250.0.0/24", "--subnet", "10.250.0.0/25"),
    ("--subnet", "10.250.0.0/24", "--gateway", "10.250.0.1", "--gateway", "10.250.0.2"),
    ("--ipam-driver", "foo"),
])
def test_network_create_refusals_as_docker(dy: Dockyard, dockerd, flags: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    theirs = dockerd.run("network", "create", *flags, "refused", check=False)
    ours = dy("network", "create", *flags, "refused", check=False)
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr.replace("docker", "dockyard"))


def test_run_and_connect_endpoint_flags(dy: Dockyard) -> None:
    dy("network", "create", "--ipv6", "--subnet", "2001:db8:45::/64", "--subnet", "10.245.0.0/24", "dual")
    cid = dy("run", "-d", "--name", "web", "--network", "dual", "--ip6", "2001:db8:45::80", "--mac-address",
             "02:42:0a:f5:00:50", "--link-local-ip", "169.254.7.7", "bb", "sleep", "60").stdout.strip()
    net = inspect(dy, cid)["NetworkSettings"]["Networks"]["dual"]
    assert (net["GlobalIPv6Address"], net["MacAddress"]) == ("2001:db8:45::80", "02:42:0a:f5:00:50")
    assert net["IPAMConfig"] == {"IPv6Address": "2001:db8:45::80", "LinkLocalIPs": ["169.254.7.7"]}
    addrs = dy("exec", "web", "busybox", "ip", "addr", "show", "eth0").stdout
    assert "inet 169.254.7.7/16" in addrs and "inet6 2001:db8:45::80/64" in addrs
    dy("create", "--name", "client", "bb", "sleep", "60")
    dy("network", "connect", "--ip", "10.245.0.99", "--alias", "cl", "--link", "web:front", "dual", "client")
    dy("start", "client")
    client = inspect(dy, "client")["NetworkSettings"]["Networks"]["dual"]
    assert (client["IPAddress"], client["Links"], client["Aliases"][0]) == ("10.245.0.99", ["web:front"], "cl")
    looked = dy("exec", "client", "busybox", "nslookup", "front", check=False)
    assert looked.returncode == 0 and "2001:db8:45::80" in looked.stdout, looked.stdout
    assert "cl" in dy("exec", "web", "cat", "/etc/hosts").stdout.split()
    for flags, message in ((("--mac-address", "zz"), "dockyard: zz is not a valid mac address\n\nRun 'dockyard run --help'"),
                           (("--network", "dual", "--ip6", "2001:db8:99::1"),
                            "Invalid address 2001:db8:99::1: It does not belong to any of this network's subnets")):
        refused = dy("run", "--rm", *flags, "bb", "true", check=False)
        assert refused.returncode == 125 and message in refused.stderr, refused.stderr


def test_addresses_from_an_ip_range_as_docker(dy: Dockyard, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without --gateway, Docker's gateway is the range's first address, and containers follow it."""
    from tests.helpers.dockerd import busybox_image

    image = busybox_image(dockerd, tmp_path)
    dockerd.run("network", "create", "--subnet", "10.248.0.0/24", "--ip-range", "10.248.0.128/25", "ranged")
    try:
        theirs = dockerd.run("run", "--rm", "--network", "ranged", image, "busybox", "ip", "route").stdout
    finally:
        dockerd.run("network", "rm", "ranged", check=False)
    dy("network", "create", "--subnet", "10.249.0.0/24", "--ip-range", "10.249.0.128/25", "ranged")
    ours = dy("run", "--rm", "--network", "ranged", "bb", "busybox", "ip", "route").stdout
    assert ours == theirs.replace("10.248.", "10.249.") and "default via 10.249.0.128" in ours
