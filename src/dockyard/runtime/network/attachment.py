"""What containers need from networking, in one place: the record fields ``create`` stores, the
check ``start`` makes before spawning the monitor, the monitor's attach/detach, ``network
connect``/``disconnect``, and what ``inspect``/``ps``/``port`` read.

Network modes (HostConfig.NetworkMode, as Docker records them): ``default``
(no ``--network``: the ``bridge`` network), ``bridge``, a user network's
name, ``host`` (the host's namespace, nothing to set up) and ``none`` (a
namespace with only loopback, which runc creates).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dockyard.errors import ConflictError, InvalidArgumentError
from dockyard.metadata.container_record import NetworkRequest
from dockyard.metadata.events import record as record_event
from dockyard.runtime.network.hosts import parse_extra_host, render, write_in_place
from dockyard.runtime.network.ports import (
    PortBinding,
    from_port_bindings,
    parse_expose,
    parse_publish,
    port_bindings,
    reserve,
)
from dockyard.runtime.network.records import connections_file, network_name, networks_of
from dockyard.runtime.network.sandbox import Link, Member, Sandbox, Sandboxes
from dockyard.runtime.network.store import Network, NetworkStore


@dataclass(frozen=True, slots=True)
class NetworkOptions:
    """``run``/``create`` flags about ports and hosts, as typed (the mode is CreateOptions.network)."""

    publish: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    endpoint: NetworkRequest = NetworkRequest()  # what is asked of the mode's network (--network-alias, --ip, ...)
    others: tuple[tuple[str, NetworkRequest], ...] = ()  # more networks to be on (the API's NetworkingConfig)


def check_mac(mac: str) -> None:
    """An Ethernet address as the bridge plugin takes it (six hex pairs and colons), with the docker client's words."""
    if not _MAC.fullmatch(mac):
        raise InvalidArgumentError(f"{mac} is not a valid mac address")


def bindings(record: dict[str, Any]) -> tuple[PortBinding, ...]:
    """The ports to publish at start: ``-p`` ones, plus every other exposed port with ``-P``."""
    host = record["HostConfig"]
    out = from_port_bindings(host.get("PortBindings"))
    if host.get("PublishAllPorts"):
        bound = {b.key for b in out}
        for key in record["Config"].get("ExposedPorts") or {}:
            if key not in bound:
                port, _, proto = key.partition("/")
                out.append(PortBinding(int(port), proto or "tcp"))
    return tuple(out)


def _entry(network: str, request: NetworkRequest, *, connected: bool) -> dict[str, Any]:
    """A network of the connections file (``records.networks_of``)."""
    return {**request.document(), "network": network, "connected": connected}


def check_request(net: Network | None, request: NetworkRequest) -> None:
    """Docker's rules for what an endpoint asks (``net``: the user network, None for a predefined one):
    aliases and addresses on user networks only, an address inside a subnet the user chose."""
    if request.aliases and net is None:
        raise InvalidArgumentError("network-scoped alias is supported only for containers in user defined networks")
    for address, v6 in ((request.ipv4_address, False), (request.ipv6_address, True)):
        if address:
            _check_address(net, address, v6)
    for address in request.link_local_ips:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidArgumentError(f"invalid link-local IP address: {address}") from None
    if request.mac_address:
        check_mac(request.mac_address)


_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")


def _check_mode(mode: str, net: Network) -> None:
    """Docker's refusals of a second network for a container in the host's or in no network."""
    if net.name in ("host", "none") or mode == "host":
        raise ConflictError("container cannot be disconnected from host network or connected to host network")
    if mode == "none":
        raise ConflictError("container cannot be connected to multiple networks with one of the networks in private (none) mode")


def _check_address(net: Network | None, address: str, v6: bool) -> None:
    """Docker's rules for --ip/--ip6: a user network whose subnet the user chose, an address inside it."""
    if net is None:
        raise InvalidArgumentError("user specified IP address is supported on user defined networks only")
    pool = net.ipv6 if v6 else net.config
    if not pool.get("subnet_given") or (v6 and not pool.get("enabled")):
        raise InvalidArgumentError("user specified IP address is supported only when connecting to networks "
                                   "with user configured subnets")
    try:
        inside = ipaddress.ip_address(address) in ipaddress.ip_network(pool["subnet"])
    except ValueError:
        inside = False
    if not inside:
        raise InvalidArgumentError(f"Invalid address {address}: It does not belong to any of this network's subnets")


class ContainerNetworking:
    """``connections/<id>.json`` records a container's networks once ``network connect``/``disconnect``
    changed them; until then its NetworkMode alone says."""

    def __init__(self, networks: NetworkStore, sandboxes: Sandboxes) -> None:
        self.networks = networks
        self.sandboxes = sandboxes
        self.connections_dir = sandboxes.home / "connections"

    def record_fields(self, mode: str, opts: NetworkOptions,
                      image_config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(Config, HostConfig, Networking) fields for the container's record; raises on a bad flag or
        unknown network. Networking holds what was asked of the network of ``mode``."""
        name = network_name(mode)
        net = self.networks.get(name) if name is not None else None
        user = net is not None and not net.predefined
        if name is None and opts.endpoint.mac_address:
            raise InvalidArgumentError("conflicting options: mac-address and the network mode")
        check_request(net if user else None, opts.endpoint)
        for other, request in opts.others:
            joined = self.networks.get(other)
            _check_mode(mode, joined)
            check_request(None if joined.predefined else joined, request)
        for e in opts.extra_hosts:
            parse_extra_host(e)
        published = [b for spec in opts.publish for b in parse_publish(spec)]
        exposed = dict.fromkeys(image_config.get("ExposedPorts") or {})
        for spec in opts.expose:
            exposed.update(dict.fromkeys(parse_expose(spec)))
        exposed.update(dict.fromkeys(b.key for b in published))
        config = {"ExposedPorts": {k: {} for k in exposed} or None}
        host = {"NetworkMode": net.name if user else mode, "PortBindings": port_bindings(published),  # type: ignore[union-attr]
                "PublishAllPorts": opts.publish_all, "ExtraHosts": list(opts.extra_hosts) or None}
        return config, host, opts.endpoint.document()

    def join_at_create(self, cid: str, record: dict[str, Any], others: tuple[tuple[str, NetworkRequest], ...]) -> None:
        """The networks besides the mode's that a created container is on (checked by ``record_fields``)."""
        entries = self.networks_of(cid, record)
        for name, request in others:
            net = self.networks.get(name)
            if not any(e["network"] == net.name for e in entries):
                entries.append(_entry(net.name, request, connected=True))
        if others:
            self._save(cid, entries)

    def write_hosts(self, hosts: Path, record: dict[str, Any]) -> None:
        """At create: the base file plus ``--add-host`` entries (the own lines come at attach)."""
        extra = record["HostConfig"].get("ExtraHosts") or []
        if extra:
            write_in_place(hosts, render(hosts.read_text(), extra))

    # the networks a container is on ----------------------------------------------------

    def _connections_file(self, cid: str) -> Path:
        return connections_file(self.sandboxes.home, cid)

    def networks_of(self, cid: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """What each network's endpoint was asked (``records.networks_of``)."""
        return networks_of(self.sandboxes.home, cid, record)

    def _save(self, cid: str, entries: list[dict[str, Any]]) -> None:
        self.connections_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.connections_dir / f".{cid}.tmp"
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, self._connections_file(cid))

    def forget(self, cid: str) -> None:
        """On ``rm``."""
        self._connections_file(cid).unlink(missing_ok=True)

    def _links(self, cid: str, record: dict[str, Any]) -> list[Link]:
        primary = network_name(record["HostConfig"]["NetworkMode"])
        return [Link(e["network"], NetworkRequest.parse(e), bindings(record) if i == 0 and e["network"] == primary else ())
                for i, e in enumerate(self.networks_of(cid, record))]

    # start, stop -----------------------------------------------------------------------

    def check_start(self, cid: str, record: dict[str, Any]) -> None:
        """Before the monitor is spawned: the networks exist and the host ports are free (Docker's errors)."""
        links = self._links(cid, record)
        for link in links:
            self.networks.get(link.network)
            asked = {link.request.ipv4_address, link.request.ipv6_address} - {""}
            if asked and any({ep.ip, ep.ip6} & asked for ep in self.sandboxes.members(link.network)):
                raise ConflictError("Address already in use")
        if links:
            reserve(links[0].bindings, self.sandboxes.published(), self.sandboxes.proxy_all).close()

    def attach(self, cid: str, name: str, record: dict[str, Any], hosts: Path) -> Sandbox | None:
        """The monitor's, before ``runc create``; None: runc makes the namespace (none) or there is none (host)."""
        links = self._links(cid, record)
        if not links and network_name(record["HostConfig"]["NetworkMode"]) is None:
            return None
        member = Member(name, record["Config"]["Hostname"], hosts, tuple(record["HostConfig"].get("ExtraHosts") or ()))
        sandbox = self.sandboxes.attach(cid, member, links, self.sandboxes.published)
        self._events("connect", cid, self.describe(cid))
        return sandbox

    def start_resolver(self, cid: str, record: dict[str, Any], sandbox: Sandbox, resolv: Path, hosts: Path) -> None:
        """On a user network, after the spec is written: the resolver at 127.0.0.11 (``dns``) answers the
        names of ``hosts``, and ``resolv`` points at it. It asks the servers ``resolv`` named (``--dns``, or the
        host's); a namespace where the resolver cannot be made (rootless) keeps them."""
        from dockyard.runtime.network import dns
        from dockyard.runtime.rootfs import resolv_conf

        if all(link.network == "bridge" for link in self._links(cid, record)):
            return
        current = resolv.read_text() if resolv.exists() else ""
        try:
            host = Path("/etc/resolv.conf").read_text()
        except OSError:
            host = ""
        upstream = dns.upstream_servers(current) or dns.upstream_servers(resolv_conf(host))
        try:
            sandbox.sockets.append(dns.serve(sandbox.netns, hosts, upstream))
        except dns.ResolverError:
            return
        write_in_place(resolv, dns.resolv_conf(current))

    def detach(self, cid: str, sockets: list[socket.socket] | None = None) -> None:
        joined = self.describe(cid)  # empty once detached: a second call reports nothing
        self.sandboxes.detach(cid, sockets)
        self._events("disconnect", cid, joined)

    def _events(self, action: str, cid: str, joined: dict[str, dict[str, Any]]) -> None:
        """Docker's network connect/disconnect events, one per network the sandbox joined (all bridges)."""
        for name, endpoint in joined.items():
            record_event(self.networks.db, "network", action, endpoint["NetworkID"], {"container": cid, "name": name, "type": "bridge"})

    def sweep(self, alive: Callable[[str], bool]) -> None:
        """Detach every sandbox whose container is not running (crashed monitors, removed containers)."""
        for cid in self.sandboxes.attached():
            if not alive(cid):
                self.sandboxes.detach(cid)

    # network connect / disconnect --------------------------------------------------------

    def connect(self, cid: str, name: str, record: dict[str, Any], network: str, request: NetworkRequest,
                running: bool) -> None:
        net = self.networks.get(network)
        _check_mode(record["HostConfig"]["NetworkMode"], net)
        check_request(None if net.predefined else net, request)
        entries = self.networks_of(cid, record)
        if any(e["network"] == net.name for e in entries):
            raise ConflictError(f"endpoint with name {name} already exists in network {net.name}")
        if running:
            self.sandboxes.connect(cid, Link(net.name, request))
        self._save(cid, [*entries, _entry(net.name, request, connected=True)])
        self._events("connect", cid, {net.name: {"NetworkID": net.id}})

    def disconnect(self, cid: str, record: dict[str, Any], network: str, running: bool) -> None:
        net = self.networks.get(network)
        _check_mode(record["HostConfig"]["NetworkMode"], net)
        entries = self.networks_of(cid, record)
        if not any(e["network"] == net.name for e in entries):
            raise ConflictError(f"container {cid} is not connected to network {net.name}")
        if running:
            self.sandboxes.disconnect(cid, net.name)
        self._save(cid, [e for e in entries if e["network"] != net.name])
        self._events("disconnect", cid, {net.name: {"NetworkID": net.id}})

    def describe(self, cid: str) -> dict[str, dict[str, Any]]:
        return self.sandboxes.describe(cid)

    def published(self, cid: str) -> list[dict[str, Any]]:
        return [m for e in self.describe(cid).values() for m in e["PortMappings"]]
