"""Container networks on the real CNI plugins: published ports, user networks, name resolution, cleanup."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Dockyard
from tests.containers.conftest import inspect, wait_until
from tests.helpers import network as hostnet

pytestmark = pytest.mark.skipif(not Path("/usr/lib/cni/bridge").exists(), reason="containernetworking-plugins missing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def ipv6() -> bool:
    """Whether this host can listen on [::] (then published TCP ports answer there too)."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_pair() -> int:
    """The first of two consecutive free ports."""
    for _ in range(50):
        first = free_port()
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", first))
                b.bind(("0.0.0.0", first + 1))
            return first
        except OSError:
            continue
    raise AssertionError("no two consecutive free ports")


def host_address() -> str:
    """An IPv4 address of this host that is not loopback and not one of our bridges."""
    doc = json.loads(subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True).stdout)
    for link in doc:
        if link["ifname"] == "lo" or link["ifname"].startswith(("dockyard", "br-", "dyk-", "docker", "cni")):
            continue
        for a in link.get("addr_info", []):
            return str(a["local"])
    pytest.skip("no non-loopback IPv4 address")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    d = tmp_path / "www"
    d.mkdir()
    (d / "index.html").write_text("hello from the container\n")
    return d


def httpd(dy: Dockyard, www: Path, *flags: str) -> str:
    return dy("run", "-d", *flags, "-v", f"{www}:/www", "bb", "busybox", "httpd", "-f", "-p", "80", "-h", "/www").stdout.strip()


def test_published_port_reachable_on_loopback_and_host_address(dy: Dockyard, www: Path) -> None:
    port = free_port()
    cid = httpd(dy, www, "--name", "web", "-p", f"{port}:80")
    assert get(f"http://127.0.0.1:{port}/index.html") == "hello from the container\n"
    assert get(f"http://{host_address()}:{port}/index.html") == "hello from the container\n"
    hosts = ["0.0.0.0", "::"] if ipv6() else ["0.0.0.0"]  # [::] through the userland proxy, as docker-proxy
    if ipv6():
        assert get(f"http://[::1]:{port}/index.html") == "hello from the container\n"
    column = ", ".join(f"{h}:{port}->80/tcp" for h in hosts)  # 0.0.0.0:8080->80/tcp, :::8080->80/tcp
    assert dy("ps", "--format", "{{.Names}} {{.Ports}} {{.Networks}}").stdout == f"web {column} bridge\n"
    assert dy("port", "web").stdout == "".join(f"80/tcp -> {h}:{port}\n" for h in hosts)
    assert dy("port", "web", "80/tcp").stdout == "".join(f"{h}:{port}\n" for h in hosts)
    missing = dy("port", "web", "81", check=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: No public port '81/tcp' published for web\n")
    doc = inspect(dy, cid)
    settings = doc["NetworkSettings"]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": h, "HostPort": str(port)} for h in hosts]}
    assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert doc["HostConfig"]["NetworkMode"] == "default" and doc["Config"]["ExposedPorts"] == {"80/tcp": {}}
    bridge = json.loads(dy("network", "inspect", "bridge").stdout)[0]
    endpoint = settings["Networks"]["bridge"]
    assert endpoint["NetworkID"] == bridge["Id"] and endpoint["IPAddress"] == settings["IPAddress"]
    assert bridge["Containers"][cid]["IPv4Address"] == f"{settings['IPAddress']}/{settings['IPPrefixLen']}"
    assert settings["Gateway"] == bridge["IPAM"]["Config"][0]["Gateway"]
    # outbound NAT: the network's masquerade rule for its subnet, leaving through any other interface
    ip, subnet = settings["IPAddress"], bridge["IPAM"]["Config"][0]["Subnet"]
    name = bridge["Options"]["com.docker.network.bridge.name"]
    masq = [r for r in hostnet.iptables_rules() if f"-A POSTROUTING -s {subnet} ! -o {name} " in r
            and f"dockyard-{bridge['Id'][:12]}" in r and "-j MASQUERADE" in r]
    assert len(masq) == 1, "no masquerade rule for the network"
    hosts = (Path(doc["HostsPath"])).read_text()
    assert hosts.endswith(f"{ip}\t{cid[:12]}\n")


def test_publish_all_and_ranges(dy: Dockyard, www: Path) -> None:
    first = free_pair()
    cid = httpd(dy, www, "--expose", "80", "--expose", "7000-7001/udp", "-P", "-p", f"{first}-{first + 1}:90-91")
    ports = inspect(dy, cid)["NetworkSettings"]["Ports"]
    random_port = ports["80/tcp"][0]["HostPort"]
    assert int(random_port) >= 1024 and ports["90/tcp"][0]["HostPort"] == str(first)
    assert ports["91/tcp"][0]["HostPort"] == str(first + 1) and ports["7000/udp"][0]["HostPort"]
    assert get(f"http://127.0.0.1:{random_port}/index.html") == "hello from the container\n"
    line = dy("ps", "--format", "{{.Ports}}").stdout
    assert f"0.0.0.0:{random_port}->80/tcp" in line and f"0.0.0.0:{first}->90/tcp" in line


def test_user_network_members_reach_each_other_by_name(dy: Dockyard, www: Path) -> None:
    net_id = dy("network", "create", "--label", "purpose=test", "appnet").stdout.strip()
    # b waits for a name that only exists once a joins: its /etc/hosts must change in place
    b = dy("run", "-d", "--name", "beta", "--network", "appnet", "bb", "sh", "-c",
           "until busybox wget -q -O /tmp/page http://alpha/index.html; do sleep 0.1; done; cat /tmp/page").stdout.strip()
    httpd(dy, www, "--name", "alpha", "--network", "appnet", "--hostname", "ahost")
    assert wait_until(lambda: inspect(dy, b)["State"]["Status"] == "exited", 20)
    assert inspect(dy, b)["State"]["ExitCode"] == 0
    assert dy("logs", b).stdout == "hello from the container\n"
    out = dy("run", "--rm", "--network", "appnet", "bb", "busybox", "ping", "-c", "1", "-W", "2", "alpha")
    assert "1 packets received" in out.stdout
    net = json.loads(dy("network", "inspect", "appnet").stdout)[0]
    assert net["Id"] == net_id and net["Labels"] == {"purpose": "test"} and net["Driver"] == "bridge"
    assert [c["Name"] for c in net["Containers"].values()] == ["alpha"]
    a = inspect(dy, "alpha")["NetworkSettings"]
    assert a["IPAddress"] == "" and a["Networks"]["appnet"]["Aliases"] == [inspect(dy, "alpha")["Id"][:12]]
    assert a["Networks"]["appnet"]["IPAddress"] in net["Containers"][inspect(dy, "alpha")["Id"]]["IPv4Address"]
    busy = dy("network", "rm", "appnet", check=False)
    assert busy.returncode == 1
    assert busy.stderr == f"Error response from daemon: error while removing network: network appnet id {net_id} has active endpoints\n"
    # a member that goes away leaves the others' /etc/hosts
    gamma = dy("run", "-d", "--name", "gamma", "--network", "appnet", "bb", "sleep", "30").stdout.strip()
    hosts = Path(inspect(dy, gamma)["HostsPath"])
    assert "\talpha " in hosts.read_text()
    dy("rm", "-f", "alpha")
    assert "alpha" not in hosts.read_text() and hosts.read_text().endswith(f"\t{gamma[:12]}\n")


def _answers(url: str) -> bool:
    try:
        return bool(get(url))
    except OSError:
        return False


def test_host_server_reachable_from_container(dy: Dockyard, tmp_path: Path) -> None:
    address, port = host_address(), free_port()
    (tmp_path / "f").write_text("from the host\n")
    server = subprocess.Popen(["python3", "-m", "http.server", "-b", address, str(port)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _answers(f"http://{address}:{port}/f"))
        out = dy("run", "--rm", "bb", "busybox", "wget", "-q", "-O", "-", f"http://{address}:{port}/f")
        assert out.stdout == "from the host\n"
    finally:
        server.kill()
        server.wait()


def test_port_already_allocated(dy: Dockyard, www: Path) -> None:
    port = free_port()
    httpd(dy, www, "--name", "web", "-p", f"{port}:80")
    before = _footprint(dy)
    taken = dy("run", "-d", "--name", "web2", "-p", f"{port}:80", "bb", "sleep", "5", check=False)
    assert taken.returncode == 125
    assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in taken.stderr
    assert inspect(dy, "web2")["State"]["Status"] == "created"  # as Docker leaves it
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        other = holder.getsockname()[1]
        busy = dy("run", "-d", "-p", f"{other}:80", "bb", "sleep", "5", check=False)
    assert busy.returncode == 125
    assert f"Error starting userland proxy: listen tcp4 0.0.0.0:{other}: bind: address already in use" in busy.stderr
    assert _footprint(dy) == before
    assert get(f"http://127.0.0.1:{port}/index.html") == "hello from the container\n"


def _footprint(dy: Dockyard, ips: tuple[str, ...] = ()) -> tuple[set[str], set[str], list[str], list[str], list[str]]:
    """What the store's default network holds on the host: veths on its bridge, iptables rules (its own
    and those naming ``ips``), namespaces, sandbox records and IPAM reservations."""
    bridge = json.loads(dy("network", "inspect", "bridge").stdout)[0]
    name = bridge["Options"]["com.docker.network.bridge.name"]
    net = dy.root / "network"
    reserved = [p.name for p in (net / "ipam").rglob("*") if p.is_file() and p.name[0].isdigit()]
    words = (f"dockyard-{bridge['Id'][:12]}", *(f"{ip}/32" for ip in ips))
    return (hostnet.bridge_ports(name), hostnet.rules_for(words),
            sorted(os.listdir(net / "netns")), sorted(p.stem for p in (net / "sandboxes").glob("*.json")), reserved)


def _empty(footprint: tuple[set[str], set[str], list[str], list[str], list[str]]) -> bool:
    return not any(footprint)


def test_nothing_leaks_after_rm_f_run_rm_and_killed_monitor(dy: Dockyard, www: Path) -> None:
    dy("run", "--rm", "-p", f"{free_port()}:80", "bb", "true")  # the bridge and CNI's shared chains now exist
    assert _empty(_footprint(dy))

    cid = httpd(dy, www, "-p", f"{free_port()}:80")
    ip = inspect(dy, cid)["NetworkSettings"]["IPAddress"]
    veths, rules, namespaces, sandboxes, reserved = _footprint(dy, (ip,))
    assert len(veths) == 1 and any(ip in r for r in rules) and namespaces == sandboxes == [cid] and reserved == [ip]
    dy("rm", "-f", cid)
    assert _empty(_footprint(dy, (ip,)))

    out = dy("run", "--rm", "-p", f"{free_port()}:80", "bb", "cat", "/etc/hosts")
    own = out.stdout.splitlines()[-1]
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+\t[0-9a-f]{12}", own)
    assert _empty(_footprint(dy, (own.split("\t")[0],)))

    failed = dy("run", "--rm", "-p", f"{free_port()}:80", "bb", "no-such-command", check=False)
    assert failed.returncode == 127 and _empty(_footprint(dy))  # a start that fails undoes its network

    cid = httpd(dy, www, "-p", f"{free_port()}:80")
    bridge = json.loads(dy("network", "inspect", "bridge").stdout)[0]["Options"]["com.docker.network.bridge.name"]
    ip = inspect(dy, cid)["NetworkSettings"]["IPAddress"]
    monitor = json.loads((dy.root / "containers" / cid / "state.json").read_text())["MonitorPid"]
    os.kill(monitor, signal.SIGKILL)
    assert wait_until(lambda: not Path(f"/proc/{monitor}").exists() or "Z" in Path(f"/proc/{monitor}/stat").read_text().split()[2])
    assert hostnet.bridge_ports(bridge), "the container's veth should still be there"
    assert "Exited (137)" in dy("ps", "-a").stdout  # the next command (the engine's sweep) tears the sandbox down
    assert _empty(_footprint(dy, (ip,)))


def test_hosts_file_hostname_and_add_host(dy: Dockyard) -> None:
    out = dy("run", "--rm", "--hostname", "box", "--add-host", "db:10.9.8.7", "--add-host", "v6:fd00::9",
             "bb", "cat", "/etc/hosts", "/etc/hostname").stdout
    lines = out.splitlines()
    assert lines[:6] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
                         "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]
    assert lines[6:8] == ["10.9.8.7\tdb", "fd00::9\tv6"]
    assert lines[8].endswith("\tbox") and lines[9] == "box"
    bad = dy("run", "--rm", "--add-host", "nocolon", "bb", "true", check=False)
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        125, 'invalid argument "nocolon" for "--add-host" flag: bad format for add-host: "nocolon"')
    for spec, message in (("abc", "Invalid containerPort: abc"), ("8000-8002:80-81",
                          "Invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
                          ("80/xyz", "Invalid proto: xyz")):
        r = dy("run", "--rm", "-p", spec, "bb", "true", check=False)
        assert (r.returncode, r.stderr.splitlines()[0]) == (125, f"dockyard: {message}.")
    r = dy("run", "--rm", "--network", "nope", "bb", "true", check=False)
    assert r.returncode == 125 and "network nope not found" in r.stderr
    assert dy("run", "--rm", "--network", "none", "bb", "busybox", "ip", "-o", "link").stdout.count("\n") == 1


def test_network_commands(dy: Dockyard) -> None:
    ls = dy("network", "ls").stdout.splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert [line.split()[1:] for line in ls[1:]] == [["bridge", "bridge", "local"], ["host", "host", "local"],
                                                     ["none", "null", "local"]]
    nid = dy("network", "create", "--subnet", "10.251.7.0/24", "--internal", "n1").stdout.strip()
    assert len(nid) == 64
    assert dy("network", "ls", "--format", "{{.Name}} {{.Driver}}", "-f", "name=n1").stdout == "n1 bridge\n"
    doc = json.loads(dy("network", "inspect", "n1").stdout)[0]
    assert doc["IPAM"] == {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.251.7.0/24"}]}
    assert doc["Internal"] is True and doc["Options"] == {} and doc["Containers"] == {}
    assert list(doc) == ["Name", "Id", "Created", "Scope", "Driver", "EnableIPv6", "IPAM", "Internal", "Attachable",
                         "Ingress", "ConfigFrom", "ConfigOnly", "Containers", "Options", "Labels"]
    dup = dy("network", "create", "n1", check=False)
    assert (dup.returncode, dup.stderr) == (1, "Error response from daemon: network with name n1 already exists\n")
    overlap = dy("network", "create", "--subnet", "10.251.7.128/25", "n2", check=False)
    assert overlap.returncode == 1 and "Pool overlaps with other one on this address space" in overlap.stderr
    out = dy("run", "--rm", "--network", "n1", "bb", "busybox", "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "inet 10.251.7." in out
    pre = dy("network", "rm", "bridge", check=False)
    assert pre.stderr == "Error response from daemon: bridge is a pre-defined network and cannot be removed\n"
    missing = dy("network", "rm", "nope", check=False)
    assert (missing.returncode, missing.stderr) == (1, "Error: No such network: nope\n")
    dy("network", "create", "n3")
    assert dy("network", "prune", "-f").stdout == "Deleted Networks:\nn1\nn3\n\n"
    bridges = hostnet.store_bridges(dy.root)
    assert not [b for b in bridges if b.startswith("br-")]
    assert dy("network", "ls", "-q").stdout.count("\n") == 3


def test_bridge_and_rules_of_a_deleted_store_are_reaped(dy: Dockyard, www: Path, tmp_path: Path, busybox_tar: Path) -> None:
    gone = Dockyard(tmp_path / "gone")
    gone("import", str(busybox_tar), "bb")
    cid = gone("run", "-d", "-p", f"{free_port()}:80", "bb", "sleep", "60").stdout.strip()
    bridge = json.loads(gone("network", "inspect", "bridge").stdout)[0]
    name = f"dockyard-{bridge['Id'][:12]}"
    state = json.loads((gone.root / "containers" / cid / "state.json").read_text())
    os.kill(state["MonitorPid"], signal.SIGKILL)  # a crash, then the whole root is deleted
    subprocess.run(["runc", "--root", str(gone.root / "runc"), "delete", "--force", cid], capture_output=True)
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if str(gone.root) in line]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    subprocess.run(["rm", "-rf", str(gone.root)], check=True)
    assert hostnet.rules_for((name,)) and hostnet.store_bridges(gone.root)
    assert hostnet.rules_mentioning([f'name: \\"{name}\\" network masquerade'])
    dy("network", "create", "other")  # choosing a subnet reaps what deleted stores left
    assert not hostnet.rules_mentioning([name]) and not hostnet.store_bridges(gone.root)


def _shape(value: object) -> object:
    """Keys and value types, recursively: what two inspect documents must share."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_inspect_documents_shaped_like_dockers(dy: Dockyard, www: Path, dockerd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers.dockerd import busybox_image

    image = busybox_image(dockerd, tmp_path)
    theirs_id = dockerd.run("run", "-d", "-p", f"{free_port()}:80", image, "sleep", "30").stdout.strip()
    try:
        theirs = json.loads(dockerd.run("inspect", theirs_id).stdout)[0]
        theirs_net = json.loads(dockerd.run("network", "inspect", "bridge").stdout)[0]
        their_ls = dockerd.run("network", "ls").stdout.splitlines()[0]
    finally:
        dockerd.run("rm", "-f", theirs_id, check=False)
    ours = inspect(dy, httpd(dy, www, "-p", f"{free_port()}:80"))
    ours_net = json.loads(dy("network", "inspect", "bridge").stdout)[0]
    assert _shape(ours["NetworkSettings"]) == _shape(theirs["NetworkSettings"])
    assert _shape(ours["HostConfig"]["PortBindings"]) == _shape(theirs["HostConfig"]["PortBindings"])
    for doc in (ours_net, theirs_net):
        doc["Containers"] = list(doc["Containers"].values())  # keyed by container ID
    assert _shape(ours_net) == _shape(theirs_net) and list(ours_net) == list(theirs_net)
    assert sorted(ours_net["Options"]) == sorted(theirs_net["Options"])
    assert dy("network", "ls").stdout.splitlines()[0].split() == their_ls.split()


def test_network_connect_and_disconnect(dy: Dockyard, www: Path) -> None:
    dy("network", "create", "side")
    web = httpd(dy, www, "--name", "web")
    probe = dy("run", "-d", "--name", "probe", "--network", "side", "bb", "sh", "-c",
               "until busybox wget -q -O - http://site/index.html; do sleep 0.1; done").stdout.strip()
    assert dy("network", "connect", "--alias", "site", "side", "web").stdout == ""  # a new interface, now
    assert wait_until(lambda: inspect(dy, probe)["State"]["Status"] == "exited", 20)
    assert dy("logs", probe).stdout == "hello from the container\n"
    nets = inspect(dy, web)["NetworkSettings"]["Networks"]
    assert list(nets) == ["bridge", "side"] and nets["side"]["Aliases"] == ["site", web[:12]]
    assert nets["side"]["IPAMConfig"] == {} and nets["side"]["IPAddress"] and nets["bridge"]["IPAddress"]
    again = dy("network", "connect", "side", "web", check=False)
    assert (again.returncode, again.stderr) == (1, "Error response from daemon: endpoint with name web already exists in network side\n")
    host = dy("network", "connect", "host", "web", check=False)
    assert host.stderr == "Error response from daemon: container cannot be disconnected from host network or connected to host network\n"
    dy("network", "disconnect", "side", "web")
    assert list(inspect(dy, web)["NetworkSettings"]["Networks"]) == ["bridge"]
    gone = dy("run", "--rm", "--network", "side", "bb", "busybox", "wget", "-q", "-T", "2", "-O", "-", "http://site/", check=False)
    assert gone.returncode != 0
    twice = dy("network", "disconnect", "side", "web", check=False)
    assert twice.stderr == f"Error response from daemon: container {web} is not connected to network side\n"
    # a stopped container joins at its next start
    later = dy("create", "--name", "later", "bb", "busybox", "ip", "-o", "-4", "addr", "show", "eth1").stdout.strip()
    dy("network", "connect", "side", "later")
    dy("start", "later")
    assert wait_until(lambda: inspect(dy, later)["State"]["Status"] == "exited")
    assert " eth1 " in dy("logs", later).stdout and "inet 10." in dy("logs", later).stdout


def test_network_alias_and_fixed_address(dy: Dockyard) -> None:
    dy("network", "create", "--subnet", "10.252.9.0/24", "fixed")
    cid = dy("run", "-d", "--name", "db1", "--network", "fixed", "--ip", "10.252.9.77", "--network-alias", "db",
             "bb", "sleep", "30").stdout.strip()
    net = inspect(dy, cid)["NetworkSettings"]["Networks"]["fixed"]
    assert net["IPAddress"] == "10.252.9.77" and net["IPAMConfig"] == {"IPv4Address": "10.252.9.77"}
    assert net["Aliases"] == ["db", cid[:12]]
    out = dy("run", "--rm", "--network", "fixed", "bb", "busybox", "ping", "-c", "1", "-W", "2", "db").stdout
    assert "PING db (10.252.9.77)" in out
    taken = dy("run", "--rm", "--network", "fixed", "--ip", "10.252.9.77", "bb", "true", check=False)
    assert taken.returncode == 125 and "Address already in use" in taken.stderr
    for flags, message in ((("--ip", "10.1.1.1"), "user specified IP address is supported on user defined networks only"),
                           (("--network-alias", "x"), "network-scoped alias is supported only for containers in user defined networks"),
                           (("--network", "fixed", "--ip", "10.9.9.9"), "Invalid address 10.9.9.9: It does not belong to any of this network's subnets")):
        r = dy("run", "--rm", *flags, "bb", "true", check=False)
        assert r.returncode == 125 and message in r.stderr
