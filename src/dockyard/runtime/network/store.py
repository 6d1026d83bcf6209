"""Networks: their rows (``metadata.networks``), their bridges and subnets, and the CNI list each one runs.

A network row holds Docker's fields (name, driver, labels, internal, IPAM
config) and, for bridge networks, the Linux bridge and subnet it uses. The
predefined ``bridge``, ``host`` and ``none`` rows come with the schema; the
default bridge gets its subnet and device on first use.

Bridges and automatic subnets are shared by every store on the host (test
roots included), so choosing one happens under a host-wide lock and is made
visible at once: the bridge device is created with its gateway address, so
the subnet appears in the routing table that the next chooser reads. Each
bridge carries the alias ``dockyard:<root>``; a bridge whose root is gone
(a deleted test root) is reaped the next time anyone chooses.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from dockyard.errors import (
    ConflictError,
    DockyardError,
    InvalidArgumentError,
    NotFoundError,
)
from dockyard.metadata.db import Database
from dockyard.metadata.events import record as record_event
from dockyard.runtime.names import new_id
from dockyard.metadata.networks import (
    Network,
    NetworkSpec,
    delete_network,
    get_network,
    insert_network,
    list_networks,
    name_taken,
    update_config,
)
from dockyard.oci.timefmt import rfc3339_nano
from dockyard.runtime.network.cni import CNI_VERSION
from dockyard.runtime.network.ipam import checked_pools, ranges, stored_pool
from dockyard.runtime.network.iptables import (
    drop_masquerade_without,
    drop_network_rules,
    ensure_forward,
    ensure_masquerade,
)
from dockyard.runtime.network.nsexec import command, current

ALIAS_PREFIX = "dockyard:"
# the bridge driver's options (``network create -o``) dockyard acts on; the others are kept and shown
BRIDGE_NAME = "com.docker.network.bridge.name"
MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
MTU = "com.docker.network.driver.mtu"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command(["ip", *args]), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise DockyardError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def _link_exists(name: str) -> bool:
    """sysfs shows the host's devices; in another namespace (rootless) ``ip`` is asked there."""
    if current() is None:
        return Path(f"/sys/class/net/{name}").exists()
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def _links() -> list[dict[str, Any]]:
    doc: list[dict[str, Any]] = json.loads(_ip("-j", "-d", "link", "show").stdout or "[]")
    return doc


def _used_subnets() -> list[ipaddress.IPv4Network]:
    """Every IPv4 route and interface address on the host."""
    used = []
    for entry in json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        dst = entry.get("dst", "")
        if dst and dst != "default" and ":" not in dst:
            try:
                used.append(ipaddress.IPv4Network(dst, strict=False))
            except ValueError:
                continue
    for link in json.loads(_ip("-j", "-4", "addr", "show").stdout or "[]"):
        for a in link.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    return used


class NetworkStore:
    """Rows of the ``networks`` table and the host state behind them (bridge devices)."""

    def __init__(self, db: Database, root: Path, host_lock: Path, pool: str = "10.213.0.0/16", prefix: int = 24,
                 data_dir: Path | None = None) -> None:
        self.db = db
        self.root = root
        self.host_lock = host_lock
        self.pool = ipaddress.IPv4Network(pool)
        self.prefix = prefix
        self.ipam_dir = data_dir or root / "network" / "ipam"

    # rows ----------------------------------------------------------------------

    def list(self) -> list[Network]:
        return list_networks(self.db)

    def get(self, name: str) -> Network:
        """Docker's order: full ID, exact name, then a unique ID prefix."""
        return get_network(self.db, name)

    # create, remove --------------------------------------------------------------

    def create(self, spec: NetworkSpec) -> Network:
        if spec.driver != "bridge":
            if spec.driver in ("host", "null"):
                raise ConflictError(f"only one instance of \"{spec.driver}\" network is allowed")
            raise NotFoundError(f'plugin "{spec.driver}" not found')
        v4, v6 = checked_pools(spec.pools)
        nid = new_id()
        if name_taken(self.db, spec.name):
            raise ConflictError(f"network with name {spec.name} already exists")
        bridge = self._bridge_name(nid, spec.options)
        config: dict[str, Any] = {"internal": spec.internal, "labels": spec.labels, "bridge": bridge,
                                  "options": spec.options, "ipam_options": spec.ipam_options}
        with self.host_locked():
            subnet = self._claim(ipaddress.IPv4Network(v4.subnet, strict=False) if v4 and v4.subnet else None)
            config.update(stored_pool(v4, subnet, v4.gateway if v4 else None))
            if v6 is not None and v6.subnet:
                subnet6 = self._claim6(ipaddress.IPv6Network(v6.subnet, strict=False))
                config["ipv6"] = {**stored_pool(v6, subnet6, v6.gateway), "enabled": spec.ipv6}
            elif spec.ipv6:
                raise ConflictError("could not find an available, non-overlapping IPv6 address pool among the "
                                    "defaults to assign to the network")
            net = Network(nid, spec.name, "bridge", rfc3339_nano(), config)
            self._make_bridge(net)
            config["nat"] = 2  # 2: the forwarding rules too
            try:  # ConflictError: created by another command meanwhile
                insert_network(self.db, net)
                record_event(self.db, "network", "create", nid, {"name": spec.name, "type": "bridge"})
            except BaseException:
                _ip("link", "del", config["bridge"], check=False)
                drop_network_rules(cni_name(nid))
                raise
        return self.get(nid)

    def _bridge_name(self, nid: str, options: dict[str, str]) -> str:
        """``com.docker.network.bridge.name``, or Docker's ``br-<id>``; two networks never share a bridge."""
        name = options.get(BRIDGE_NAME) or f"br-{nid[:12]}"
        if len(name) > 15 or "/" in name or not name.strip():
            raise InvalidArgumentError(f"invalid bridge name {name!r}: a Linux interface name of at most 15 characters")
        other = next((n for n in self.list() if n.bridge == name), None)
        if other is not None:
            raise ConflictError(f"cannot create network {nid} ({name}): conflicts with network {other.id} ({name}): "
                                "networks have same bridge name")
        return name

    def remove(self, net: Network, active: list[str]) -> None:
        """``active``: IDs of running containers on it (Docker refuses while there are any)."""
        if net.predefined:
            raise ConflictError(f"{net.name} is a pre-defined network and cannot be removed")
        if active:
            raise ConflictError(f"error while removing network: network {net.name} id {net.id} has active endpoints")
        delete_network(self.db, net.id)
        record_event(self.db, "network", "destroy", net.id, {"name": net.name, "type": net.driver})
        if net.bridge:
            _ip("link", "del", net.bridge, check=False)
        drop_network_rules(cni_name(net.id))
        shutil.rmtree(self.ipam_dir / cni_name(net.id), ignore_errors=True)  # host-local's last-reserved marks

    # host state ------------------------------------------------------------------

    @contextmanager
    def host_locked(self) -> Iterator[None]:
        self.host_lock.parent.mkdir(parents=True, exist_ok=True)
        with open(self.host_lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def ensure(self, net: Network) -> Network:
        """The bridge device of a bridge network exists with its gateway address (after a reboot, first use)."""
        if net.driver != "bridge":
            return net
        if net.subnet and net.config.get("nat", 0) >= 2 and _link_exists(net.bridge):
            return net
        with self.host_locked():
            net = self.get(net.id)
            config = dict(net.config)
            if not net.subnet:  # the default bridge, first use
                subnet = self._claim(None)
                config.update(subnet=str(subnet), gateway=str(next(subnet.hosts())), bridge=self._free_bridge_name())
            self._make_bridge(Network(net.id, net.name, net.driver, net.created, config))
            config["nat"] = 2  # 2: the forwarding rules too
            net = update_config(self.db, net, config)
        return net

    def _free_bridge_name(self) -> str:
        taken = {link["ifname"] for link in _links()}
        return next(f"dockyard{n}" for n in range(10000) if f"dockyard{n}" not in taken)

    def _claim(self, wanted: ipaddress.IPv4Network | None) -> ipaddress.IPv4Network:
        """A subnet no route or address on the host overlaps (call under the host lock)."""
        self._reap_orphans()
        used = _used_subnets()
        ours = [ipaddress.IPv4Network(n.subnet) for n in self.list() if n.subnet]
        if wanted is not None:
            if any(wanted.overlaps(u) for u in used + ours):
                raise ConflictError("Pool overlaps with other one on this address space")
            return wanted
        for candidate in self.pool.subnets(new_prefix=self.prefix):
            if not any(candidate.overlaps(u) for u in used + ours):
                return candidate
        raise ConflictError("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")

    def _claim6(self, wanted: ipaddress.IPv6Network) -> ipaddress.IPv6Network:
        """An IPv6 subnet no other network of this store overlaps (call under the host lock)."""
        ours = [ipaddress.IPv6Network(n.ipv6["subnet"]) for n in self.list() if n.ipv6.get("subnet")]
        if any(wanted.overlaps(u) for u in ours):
            raise ConflictError("Pool overlaps with other one on this address space")
        return wanted

    def _make_bridge(self, net: Network) -> None:
        """Idempotent. The alias says whose it is: ``dockyard:<CNI network name>:<store root>``."""
        name, subnet = net.bridge, ipaddress.IPv4Network(net.subnet)
        if not _link_exists(name):
            _ip("link", "add", name, "type", "bridge")
        _ip("link", "set", name, "alias", f"{ALIAS_PREFIX}{cni_name(net.id)}:{self.root}")
        _ip("addr", "replace", f"{net.gateway}/{subnet.prefixlen}", "dev", name)
        if ipv6_enabled(net):
            prefix = ipaddress.IPv6Network(net.ipv6["subnet"]).prefixlen
            _ip("-6", "addr", "replace", f"{net.ipv6['gateway']}/{prefix}", "dev", name, "nodad")
        mtu = net.options.get(MTU)
        if mtu:
            _ip("link", "set", name, "mtu", mtu)
        _ip("link", "set", name, "up")
        ensure_forward(cni_name(net.id), name)
        if not net.internal and net.options.get(MASQUERADE, "true") != "false":
            ensure_masquerade(cni_name(net.id), str(subnet), name)

    def _reap_orphans(self) -> None:
        """Bridges, and the iptables rules of their network, whose store root no longer exists."""
        for link in _links():
            alias = link.get("ifalias", "")
            if not alias.startswith(ALIAS_PREFIX):
                continue
            name, sep, root = alias.removeprefix(ALIAS_PREFIX).partition(":")
            if not sep:  # the first format: the root alone
                name, root = "", name
            if not Path(root).exists():
                _ip("link", "del", link["ifname"], check=False)
                if name:
                    drop_network_rules(name)
        drop_masquerade_without({link["ifname"] for link in _links()})

    # CNI -------------------------------------------------------------------------

    def conflist(self, net: Network, *, ports: bool = True, ip: str = "", ip6: str = "", mac: str = "") -> dict[str, Any]:
        """The CNI network list for a bridge network: bridge + host-local, and portmap for a container that
        publishes ports (its ADD and DEL are two plugin runs at every start and stop). Forwarding is the
        network's own rules (``ensure_forward``), not the firewall plugin's per container. ``ip``/``ip6``: the
        addresses asked for (``--ip``, ``--ip6``); ``mac``: the MAC address asked for (``--mac-address``)."""
        sets = [ranges(net.config, ip)]
        if ipv6_enabled(net):
            sets.append(ranges(net.ipv6, ip6))
        ipam: dict[str, Any] = {"type": "host-local", "ranges": sets, "dataDir": str(self.ipam_dir)}
        if not net.internal:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}] + ([{"dst": "::/0"}] if ipv6_enabled(net) else [])
        bridge: dict[str, Any] = {"type": "bridge", "bridge": net.bridge, "isGateway": True, "ipMasq": False,
                                  "hairpinMode": True, "ipam": ipam}
        if net.options.get(MTU):
            bridge["mtu"] = int(net.options[MTU])
        if mac:
            bridge["args"] = {"cni": {"mac": mac}}  # the bridge plugin's own argument (CNI_ARGS MAC= is the same)
        plugins: list[dict[str, Any]] = [
            # outbound NAT is the network's one rule (see iptables), not a chain per container
            bridge, {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ]
        if not ports:
            plugins = [p for p in plugins if p["type"] != "portmap"]
        return {"cniVersion": CNI_VERSION, "name": cni_name(net.id), "plugins": plugins}


def ipv6_enabled(net: Network) -> bool:
    """Whether the network's bridge and containers get IPv6 addresses (``--ipv6`` with an IPv6 subnet)."""
    return bool(net.ipv6.get("enabled") and net.ipv6.get("subnet"))


def cni_name(net_id: str) -> str:
    """The network's name for CNI: in iptables comments and host-local's directory; unique per store."""
    return f"dockyard-{net_id[:12]}"
