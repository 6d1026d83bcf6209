"""What networks and endpoints take over the API, on a real ``dockyard system service`` with runc and CNI:
IPAM pools (IP range, auxiliary addresses, IPv6), driver options, endpoints asking for an address, a MAC,
link-local IPs, links and driver options, NetworkingConfig at create, the resolver of user networks, and the
build stream's network mode, stderr and cache. Raw HTTP for Docker's shapes, docker-py where its suite
drives the same route, and what the container itself sees (``ip addr``, ``nslookup``)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.api.conftest import ApiService
from tests.helpers.network import delete_store_bridges

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, overlay mounts and bridges")


@pytest.fixture(scope="module")
def svc(api_service: ApiService, busybox_tar: Path) -> Iterator[ApiService]:
    api_service.cli("import", "--change", 'CMD ["sh"]', str(busybox_tar), "bb")
    yield api_service
    ids = api_service.cli("ps", "-aq", check=False).stdout.split()
    if ids:
        api_service.cli("rm", "-f", *ids, check=False)
    delete_store_bridges(api_service.root)


def _exec(svc: ApiService, container: str, *argv: str) -> tuple[int, str]:
    """Run ``argv`` in the container through the exec routes: (exit code, output)."""
    made = svc.request("POST", f"/containers/{container}/exec", {"Cmd": list(argv), "AttachStdout": True,
                                                                 "AttachStderr": True})
    exec_id = made.json()["Id"]  # type: ignore[index]
    out = svc.request("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": True}).body.decode(errors="replace")
    return svc.request("GET", f"/exec/{exec_id}/json").json()["ExitCode"], out  # type: ignore[index,return-value]


def _run(svc: ApiService, name: str, body: dict[str, object], version: str = "v1.45") -> dict[str, object]:
    made = svc.request("POST", f"/{version}/containers/create?name={name}", {"Image": "bb", "Cmd": ["sleep", "100"],
                                                                            **body})
    assert made.status == 201, made.body
    assert svc.request("POST", f"/containers/{name}/start").status == 204
    return svc.request("GET", f"/containers/{name}/json").json()  # type: ignore[return-value]


def test_ipam_pool_and_driver_options(svc: ApiService) -> None:
    made = svc.request("POST", "/networks/create", {
        "Name": "ipamnet", "Options": {"com.docker.network.bridge.name": "dyipam0", "com.docker.network.driver.mtu": "1400"},
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.236.0.0/16", "IPRange": "10.236.5.0/24",
                                                  "Gateway": "10.236.5.254", "AuxiliaryAddresses": {"a": "10.236.5.1"}}]},
    })
    assert made.status == 201, made.body
    doc = svc.request("GET", "/networks/ipamnet").json()
    assert doc["IPAM"] == {"Driver": "default", "Options": None, "Config": [{  # type: ignore[index]
        "Subnet": "10.236.0.0/16", "IPRange": "10.236.5.0/24", "Gateway": "10.236.5.254",
        "AuxiliaryAddresses": {"a": "10.236.5.1"}}]}
    assert doc["Options"] == {"com.docker.network.bridge.name": "dyipam0", "com.docker.network.driver.mtu": "1400"}  # type: ignore[index]
    assert Path("/sys/class/net/dyipam0/mtu").read_text().strip() == "1400"
    # addresses come from the range, skipping the subnet's own address, the auxiliary one and the gateway
    inspected = _run(svc, "ranged", {"HostConfig": {"NetworkMode": "ipamnet"}})
    assert inspected["NetworkSettings"]["Networks"]["ipamnet"]["IPAddress"] == "10.236.5.0"  # type: ignore[index]
    second = _run(svc, "ranged2", {"HostConfig": {"NetworkMode": "ipamnet"}})
    assert second["NetworkSettings"]["Networks"]["ipamnet"]["IPAddress"] == "10.236.5.2"  # type: ignore[index]
    clash = svc.request("POST", "/networks/create", {"Name": "clash", "Options": {"com.docker.network.bridge.name": "dyipam0"}})
    assert clash.status == 409 and "networks have same bridge name" in clash.json()["message"]  # type: ignore[index]
    outside = svc.request("POST", "/networks/create", {"Name": "outside", "IPAM": {"Config": [
        {"Subnet": "10.237.0.0/16", "Gateway": "10.238.0.1"}]}})
    assert outside.json() == {"message": "no matching subnet for gateway 10.238.0.1"} and outside.status == 400
    svc.cli("rm", "-f", "ranged", "ranged2")
    assert svc.request("DELETE", "/networks/ipamnet").status == 204
    assert not Path("/sys/class/net/dyipam0").exists()


def test_connect_with_address_mac_and_link_local_ips(svc: ApiService) -> None:
    svc.request("POST", "/networks/create", {"Name": "epnet", "IPAM": {"Config": [{"Subnet": "10.233.0.0/24"}]}})
    assert svc.request("POST", "/containers/create?name=ep", {"Image": "bb", "Cmd": ["sleep", "100"]}).status == 201
    endpoint = {"IPAMConfig": {"IPv4Address": "10.233.0.42", "LinkLocalIPs": ["169.254.8.8"]},
                "MacAddress": "02:42:0a:e9:00:2a", "Aliases": ["epal"], "DriverOpts": {"k": "v"}}
    assert svc.request("POST", "/networks/epnet/connect", {"Container": "ep", "EndpointConfig": endpoint}).status == 200
    stopped = svc.request("GET", "/containers/ep/json").json()["NetworkSettings"]["Networks"]["epnet"]  # type: ignore[index]
    assert stopped["MacAddress"] == "02:42:0a:e9:00:2a" and stopped["DriverOpts"] == {"k": "v"}
    assert stopped["IPAMConfig"] == {"IPv4Address": "10.233.0.42", "LinkLocalIPs": ["169.254.8.8"]}
    assert svc.request("POST", "/containers/ep/start").status == 204
    live = svc.request("GET", "/containers/ep/json").json()["NetworkSettings"]["Networks"]["epnet"]  # type: ignore[index]
    assert (live["IPAddress"], live["MacAddress"]) == ("10.233.0.42", "02:42:0a:e9:00:2a")
    code, out = _exec(svc, "ep", "busybox", "ip", "addr", "show", "eth1")
    assert code == 0 and "inet 10.233.0.42/24" in out and "inet 169.254.8.8/16" in out and "02:42:0a:e9:00:2a" in out
    svc.request("POST", "/containers/create?name=ep2", {"Image": "bb", "Cmd": ["true"]})
    ask = {"IPAMConfig": {"IPv4Address": "10.9.9.9"}}
    outside = svc.request("POST", "/networks/epnet/connect", {"Container": "ep2", "EndpointConfig": ask})
    assert (outside.status, outside.json()) == (
        400, {"message": "Invalid address 10.9.9.9: It does not belong to any of this network's subnets"})
    predefined = svc.request("POST", "/networks/bridge/connect", {"Container": "ep2", "EndpointConfig": ask})
    assert (predefined.status, predefined.json()) == (
        400, {"message": "user specified IP address is supported on user defined networks only"})
    svc.cli("rm", "-f", "ep", "ep2")
    svc.request("DELETE", "/networks/epnet")


def test_networking_config_at_create(svc: ApiService) -> None:
    for name in ("ncone", "nctwo"):
        svc.request("POST", "/networks/create", {"Name": name})
    both = {"NetworkingConfig": {"EndpointsConfig": {"ncone": {"Aliases": ["a1"], "DriverOpts": {"key1": "a"}},
                                                     "nctwo": {"Aliases": ["a2"]}}},
            "HostConfig": {"NetworkMode": "ncone"}}
    old = svc.request("POST", "/v1.41/containers/create", {"Image": "bb", **both})
    assert (old.status, old.json()) == (400, {"message": "Container cannot be connected to network endpoints: ncone, nctwo"})
    missing = svc.request("POST", "/v1.45/containers/create", {"Image": "bb", "HostConfig": {"NetworkMode": "ncone"},
                                                               "NetworkingConfig": {"EndpointsConfig": {"ncone": {}, "bar": {}}}})
    assert (missing.status, missing.json()) == (404, {"message": "network bar not found"})
    doc = _run(svc, "twonets", both)
    networks = doc["NetworkSettings"]["Networks"]  # type: ignore[index]
    assert sorted(networks) == ["ncone", "nctwo"]  # type: ignore[arg-type]
    assert networks["ncone"]["Aliases"] == ["a1"] and networks["ncone"]["DriverOpts"] == {"key1": "a"}  # type: ignore[index]
    assert networks["nctwo"]["Aliases"] == ["a2"] and networks["nctwo"]["IPAddress"]  # type: ignore[index]
    code, out = _exec(svc, "twonets", "busybox", "ip", "addr")
    assert code == 0 and "eth0" in out and "eth1" in out
    svc.cli("rm", "-f", "twonets")
    for name in ("ncone", "nctwo"):
        svc.request("DELETE", f"/networks/{name}")


def test_links_on_a_user_network_resolve_through_the_resolver(svc: ApiService) -> None:
    svc.request("POST", "/networks/create", {"Name": "linknet"})
    doc = _run(svc, "linker", {"HostConfig": {"NetworkMode": "linknet"}, "NetworkingConfig": {"EndpointsConfig": {
        "linknet": {"Links": ["upstream:bar"]}}}})
    assert doc["NetworkSettings"]["Networks"]["linknet"]["Links"] == ["upstream:bar"]  # type: ignore[index]
    code, resolv = _exec(svc, "linker", "cat", "/etc/resolv.conf")
    assert "nameserver 127.0.0.11" in resolv
    up = _run(svc, "upstream", {"HostConfig": {"NetworkMode": "linknet"}})
    address = up["NetworkSettings"]["Networks"]["linknet"]["IPAddress"]  # type: ignore[index]
    code, out = _exec(svc, "linker", "busybox", "nslookup", "bar")
    assert code == 0 and f"Address: {address}" in out, out
    code, out = _exec(svc, "upstream", "busybox", "nslookup", "bar")  # the alias is the linking container's alone
    assert code != 0, out
    code, out = _exec(svc, "linker", "busybox", "nslookup", "upstream")
    assert code == 0 and f"Address: {address}" in out, out
    svc.cli("rm", "-f", "linker", "upstream")
    svc.request("DELETE", "/networks/linknet")


def test_ipv6_network(svc: ApiService) -> None:
    made = svc.request("POST", "/networks/create", {"Name": "six", "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "2001:db8:33::/64", "Gateway": "2001:db8:33::1"}]}})
    assert made.status == 201, made.body
    doc = svc.request("GET", "/networks/six").json()
    assert doc["EnableIPv6"] is True  # type: ignore[index]
    v4, v6 = doc["IPAM"]["Config"]  # type: ignore[index]
    assert v6 == {"Subnet": "2001:db8:33::/64", "Gateway": "2001:db8:33::1"} and "Gateway" in v4
    fixed = _run(svc, "six1", {"HostConfig": {"NetworkMode": "six"}, "NetworkingConfig": {"EndpointsConfig": {
        "six": {"IPAMConfig": {"IPv6Address": "2001:db8:33::f00d"}}}}})
    endpoint = fixed["NetworkSettings"]["Networks"]["six"]  # type: ignore[index]
    assert (endpoint["GlobalIPv6Address"], endpoint["GlobalIPv6PrefixLen"], endpoint["IPv6Gateway"]) == \
        ("2001:db8:33::f00d", 64, "2001:db8:33::1")
    assert endpoint["IPAMConfig"] == {"IPv6Address": "2001:db8:33::f00d"} and endpoint["IPAddress"]
    _run(svc, "six2", {"HostConfig": {"NetworkMode": "six"}})
    code, out = _exec(svc, "six2", "busybox", "ping", "-c", "1", "-W", "3", "2001:db8:33::f00d")
    assert code == 0, out
    members = svc.request("GET", "/networks/six").json()["Containers"]  # type: ignore[index]
    assert "2001:db8:33::f00d/64" in [m["IPv6Address"] for m in members.values()]  # type: ignore[union-attr]
    svc.cli("rm", "-f", "six1", "six2")
    svc.request("DELETE", "/networks/six")


def _build(svc: ApiService, dockerfile: str, query: str) -> list[dict[str, object]]:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    reply = svc.request("POST", f"/build?{query}", buf.getvalue(), {"Content-Type": "application/x-tar"})
    assert reply.status == 200
    return reply.json_lines()


def test_build_stream_network_mode_stderr_and_classic_cache(svc: ApiService) -> None:
    svc.request("POST", "/networks/create", {"Name": "buildnet"})
    _run(svc, "target", {"HostConfig": {"NetworkMode": "buildnet"}, "NetworkingConfig": {"EndpointsConfig": {
        "buildnet": {"Aliases": ["pingtarget.test"]}}}})
    lines = _build(svc, "FROM bb\nRUN busybox ping -c1 -W 3 pingtarget.test\nRUN echo oops >&2\n", "t=netbuilt&networkmode=buildnet")
    streams = [str(line.get("stream", "")) for line in lines]
    assert "error" not in lines[-1] and "Successfully tagged netbuilt:latest\n" in streams, lines
    assert "\x1b[91moops\n\x1b[0m" in streams  # the classic builder's colours around stderr
    assert [s for s in streams if s.startswith("Step ")] == [
        "Step 1/3 : FROM bb\n", "Step 2/3 : RUN busybox ping -c1 -W 3 pingtarget.test\n", "Step 3/3 : RUN echo oops >&2\n"]
    failed = _build(svc, "FROM bb\nRUN busybox ping -c1 -W 1 pingtarget.test\n", "t=nonebuilt&networkmode=none&nocache=1")
    assert failed[-1]["errorDetail"]["code"] == 1  # type: ignore[index]
    svc.cli("rm", "-f", "target")
    svc.request("DELETE", "/networks/buildnet")
    script = "FROM bb\nENV FOO=bar\nRUN touch /baz\nRUN touch /bax\n"
    _build(svc, script, "t=cache1")

    def cached(cache_from: str) -> int:
        found = _build(svc, script, f"t=cache2&cachefrom={cache_from}")
        return sum("Using cache" in str(line.get("stream", "")) for line in found)

    assert cached(json.dumps(["cache1"])) == 3  # ENV and both RUNs
    assert cached(json.dumps(["nosuchtag"])) == 0  # the classic builder's cache is the given images alone
