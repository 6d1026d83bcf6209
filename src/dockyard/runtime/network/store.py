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
import secrets
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
from dockyard.runtime.network.iptables import (
    drop_masquerade_without,
    drop_network_rules,
    ensure_forward,
    ensure_masquerade,
)
from dockyard.runtime.network.nsexec import command, current

ALIAS_PREFIX = "dockyard:"


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
        if spec.gateway and not spec.subnet:
            raise InvalidArgumentError("every ip-range or gateway must have a corresponding subnet")
        subnet = self._parse_subnet(spec.subnet) if spec.subnet else None
        if subnet and spec.gateway:
            self._check_gateway(subnet, spec.gateway)
        nid = secrets.token_hex(32)
        if name_taken(self.db, spec.name):
            raise ConflictError(f"network with name {spec.name} already exists")
        config = {"internal": spec.internal, "labels": spec.labels, "bridge": f"br-{nid[:12]}",
                  "subnet_given": subnet is not None, "gateway_given": bool(spec.gateway)}
        with self.host_locked():
            subnet = self._claim(subnet)
            gateway = spec.gateway or str(next(subnet.hosts()))
            config.update(subnet=str(subnet), gateway=gateway)
            self._make_bridge(nid, config["bridge"], subnet, gateway, spec.internal)
            config["nat"] = 2  # 2: the forwarding rules too
            try:  # ConflictError: created by another command meanwhile
                insert_network(self.db, Network(nid, spec.name, "bridge", rfc3339_nano(), config))
                record_event(self.db, "network", "create", nid, {"name": spec.name, "type": "bridge"})
            except BaseException:
                _ip("link", "del", config["bridge"], check=False)
                drop_network_rules(cni_name(nid))
                raise
        return self.get(nid)

    @staticmethod
    def _parse_subnet(text: str) -> ipaddress.IPv4Network:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidArgumentError(f"Invalid subnet {text} : invalid CIDR address: {text}") from None
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 30:
            raise InvalidArgumentError(f"Invalid subnet {text} : dockyard networks take an IPv4 subnet of /30 or larger")
        return net

    @staticmethod
    def _check_gateway(subnet: ipaddress.IPv4Network, gateway: str) -> None:
        try:
            ok = ipaddress.ip_address(gateway) in subnet
        except ValueError:
            ok = False
        if not ok:
            raise InvalidArgumentError(f"no matching subnet for gateway {gateway}")

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
            self._make_bridge(net.id, config["bridge"], ipaddress.IPv4Network(config["subnet"]), config["gateway"],
                              net.internal)
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

    def _make_bridge(self, net_id: str, name: str, subnet: ipaddress.IPv4Network, gateway: str, internal: bool) -> None:
        """Idempotent. The alias says whose it is: ``dockyard:<CNI network name>:<store root>``."""
        if not _link_exists(name):
            _ip("link", "add", name, "type", "bridge")
        _ip("link", "set", name, "alias", f"{ALIAS_PREFIX}{cni_name(net_id)}:{self.root}")
        _ip("addr", "replace", f"{gateway}/{subnet.prefixlen}", "dev", name)
        _ip("link", "set", name, "up")
        ensure_forward(cni_name(net_id), name)
        if not internal:
            ensure_masquerade(cni_name(net_id), str(subnet), name)

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

    def conflist(self, net: Network, *, ports: bool = True) -> dict[str, Any]:
        """The CNI network list for a bridge network: bridge + host-local, and portmap for a container that
        publishes ports (its ADD and DEL are two plugin runs at every start and stop). Forwarding is the
        network's own rules (``ensure_forward``), not the firewall plugin's per container."""
        ipam: dict[str, Any] = {
            "type": "host-local", "ranges": [[{"subnet": net.subnet, "gateway": net.gateway}]],
            "dataDir": str(self.ipam_dir),
        }
        if not net.internal:
            ipam["routes"] = [{"dst": "0.0.0.0/0"}]
        plugins: list[dict[str, Any]] = [
            # outbound NAT is the network's one rule (see iptables), not a chain per container
            {"type": "bridge", "bridge": net.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True, "ipam": ipam},
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ]
        if not ports:
            plugins = [p for p in plugins if p["type"] != "portmap"]
        return {"cniVersion": CNI_VERSION, "name": cni_name(net.id), "plugins": plugins}


def cni_name(net_id: str) -> str:
    """The network's name for CNI: in iptables comments and host-local's directory; unique per store."""
    return f"dockyard-{net_id[:12]}"
