"""The network service: ``network create/ls/inspect/rm/prune/connect/disconnect`` and what ``ps``,
``inspect`` and ``port`` show of a container's networks, with typed options in and typed reports out.

Listing reads the ``networks`` rows alone; bridges, CNI, the container
runtime and the report types (``network_reports``, ``container_networks``) load only when an
operation touches them, so ``network ls`` starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

from dockyard.errors import InvalidArgumentError, NotFoundError
from dockyard.metadata.db import Database
from dockyard.metadata.networks import IpamPool, Network, NetworkSpec, get_network, list_networks
from dockyard.runtime.network import records

if TYPE_CHECKING:
    from dockyard.engine.container_networks import ContainerNetworks, LiveEndpoint, PortMap
    from dockyard.engine.network_reports import NetworkPruneReport, NetworkReport
    from dockyard.metadata.container_record import NetworkRequest
    from dockyard.runtime.containers import Container, ContainerStore
    from dockyard.runtime.network.attachment import ContainerNetworking, NetworkOptions

NETWORK_FILTERS = frozenset({"name", "id", "driver", "type", "label"})


@dataclass(frozen=True, slots=True)
class NetworkFilters:
    """``--filter`` of ``network ls`` and ``prune``: KEY=VALUE terms, all of which must hold."""

    terms: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, values: list[str]) -> NetworkFilters:
        terms = tuple((key, value) for key, _, value in (v.partition("=") for v in values))
        for key, _ in terms:
            if key not in NETWORK_FILTERS:
                raise InvalidArgumentError(f"Invalid filter '{key}'")
        return cls(terms)

    def matches(self, net: Network) -> bool:
        return all(_term(net, key, value) for key, value in self.terms)


def _term(net: Network, key: str, value: str) -> bool:
    if key == "name":
        return value in net.name
    if key == "id":
        return net.id.startswith(value)
    if key == "driver":
        return net.driver == value
    if key == "type":
        return (value == "builtin") == net.predefined
    label, sep, wanted = value.partition("=")
    return label in net.labels and (not sep or net.labels[label] == wanted)


def run_network_options(publish: list[str], publish_all: bool, expose: list[str], add_host: list[str],
                        endpoint: NetworkRequest | None = None,
                        others: tuple[tuple[str, NetworkRequest], ...] = ()) -> NetworkOptions:
    """``run``/``create``'s network flags, typed; the specs are checked at ``create`` (InvalidArgumentError).
    ``endpoint``: what is asked of the mode's network; ``others``: more networks to be on from the start."""
    from dockyard.metadata.container_record import NetworkRequest
    from dockyard.runtime.network.attachment import NetworkOptions

    return NetworkOptions(tuple(publish), publish_all, tuple(expose), tuple(add_host), endpoint or NetworkRequest(), others)


def endpoint_request(aliases: tuple[str, ...] = (), ipv4: str = "", ipv6: str = "", mac: str = "",
                     link_local_ips: tuple[str, ...] = (), links: tuple[str, ...] = (),
                     driver_opts: dict[str, str] | None = None) -> NetworkRequest:
    """What a face asks of a container's endpoint on one network (``--network-alias``/``--alias``, ``--ip``,
    ``--ip6``, ``--mac-address``, ``--link-local-ip``, ``--link``, ``--driver-opt``; the API's EndpointSettings).
    A link ``NAME`` means ``NAME:NAME``, as Docker's client writes it."""
    from dockyard.metadata.container_record import NetworkRequest

    links = tuple(link if ":" in link else f"{link}:{link}" for link in links)
    opts = None if driver_opts is None else tuple(driver_opts.items())
    return NetworkRequest(tuple(aliases), ipv4, ipv6, mac.lower(), tuple(link_local_ips), links, opts)  # as Go's net.HardwareAddr prints it


def check_ports(publish: list[str], expose: list[str]) -> None:
    """``-p``/``--expose`` values, as Docker's client checks them (InvalidArgumentError)."""
    from dockyard.runtime.network.ports import parse_expose, parse_publish

    for spec in publish:
        parse_publish(spec)
    for spec in expose:
        parse_expose(spec)


def check_extra_hosts(add_host: list[str]) -> None:
    from dockyard.runtime.network.hosts import parse_extra_host

    for spec in add_host:
        parse_extra_host(spec)


class NetworkService:
    """``networking`` and ``containers`` are called on first need: listing loads neither, and what ``ps``
    and ``inspect`` show of a container comes from its network files (``home``: ``<root>/network``)."""

    def __init__(self, db: Database, home: Path, networking: Callable[[], ContainerNetworking],
                 containers: Callable[[], ContainerStore]) -> None:
        self.db = db
        self.home = home
        self._networking = networking
        self._containers = containers

    # networks --------------------------------------------------------------------------

    def create(self, spec: NetworkSpec) -> Network:
        """Raises ConflictError (name taken, subnet overlaps), InvalidArgumentError, NotFoundError (driver)."""
        return self._networking().networks.create(spec)

    def list(self, filters: NetworkFilters = NetworkFilters()) -> list[Network]:
        return [n for n in list_networks(self.db) if filters.matches(n)]

    def inspect(self, name: str) -> NetworkReport:
        """Raises NetworkNotFoundError. The default bridge gets its device and subnet on first use."""
        from dockyard.engine.network_reports import NetworkMember, NetworkReport

        networking = self._networking()
        net = get_network(self.db, name)
        if net.name == "bridge":
            net = networking.networks.ensure(net)
        members = tuple(NetworkMember(ep.container_id, ep.name, ep.mac, f"{ep.ip}/{ep.prefix}",
                                      ep.ip6 and f"{ep.ip6}/{net.ipv6['subnet'].partition('/')[2]}")
                        for ep in networking.sandboxes.members(net.name))
        return NetworkReport(net, members)

    def remove(self, name: str) -> Network:
        """Raises NetworkNotFoundError, ConflictError (predefined, or running containers on it)."""
        net = get_network(self.db, name)
        self._networking().networks.remove(net, self._active(net))
        return net

    def prune(self, filters: NetworkFilters = NetworkFilters()) -> NetworkPruneReport:
        """Every custom network the filters pick that no running container is on."""
        from dockyard.engine.events import EventLog
        from dockyard.engine.network_reports import NetworkPruneReport

        deleted = []
        for net in self.list(filters):
            if not net.predefined and not self._active(net):
                self._networking().networks.remove(net, [])
                deleted.append(net.name)
        EventLog(self.db).pruned("network", 0)  # Docker reports no space for networks
        return NetworkPruneReport(tuple(deleted))

    def _active(self, net: Network) -> list[str]:
        """Running containers on ``net`` (asking corrects those whose monitor died)."""
        out = []
        for ep in self._networking().sandboxes.members(net.name):
            try:
                if self._containers().get(ep.container_id).running:
                    out.append(ep.container_id)
            except NotFoundError:
                continue
        return out

    def connect(self, network: str, container: str, request: NetworkRequest | None = None) -> None:
        """Running: a new interface now; stopped: from the next start on. ``request``: what is asked of the
        endpoint (``--alias``, ``--ip``, ``--ip6``, ``--link``, ``--link-local-ip``, ``--driver-opt``, a MAC)."""
        from dockyard.metadata.container_record import NetworkRequest

        c = self._containers().get(container)
        self._networking().connect(c.id, c.name, c.record, network, request or NetworkRequest(), c.running)

    def disconnect(self, network: str, container: str, *, force: bool = False) -> None:
        """``force``: Docker's flag, accepted; a disconnect here never needs it."""
        c = self._containers().get(container)
        self._networking().disconnect(c.id, c.record, network, c.running)

    # a container's side ----------------------------------------------------------------

    def ports(self, container: str) -> PortMap:
        """``port``: the container's exposed ports, with the host addresses of published ones."""
        c = self._containers().get(container)
        return self._ports(c, self._attached(c))

    def _attached(self, c: Container) -> dict[str, dict[str, Any]]:
        return records.describe(self.home, c.id) if c.running else {}

    @staticmethod
    def _ports(c: Container, attached: dict[str, dict[str, Any]]) -> PortMap:
        from dockyard.engine.network_json import port_map

        return port_map(c.record["Config"].get("ExposedPorts"), attached)

    def of_container(self, c: Container, *, ids: bool = True) -> ContainerNetworks:
        """``ids=False`` leaves ``network_id`` empty (``ps`` shows names only)."""
        from dockyard.engine.container_networks import ContainerEndpoint, ContainerNetworks
        from dockyard.metadata.container_record import NetworkRequest

        mode = c.record["HostConfig"].get("NetworkMode", "none")
        attached = self._attached(c)
        entries = records.networks_of(self.home, c.id, c.record)
        if not entries and mode in ("host", "none"):
            entries = [{"network": mode, "connected": False}]
        endpoints = []
        for entry in entries:
            live = attached.get(entry["network"])
            endpoints.append(ContainerEndpoint(
                entry["network"], self._network_id(entry["network"]) if ids else "", NetworkRequest.parse(entry),
                entry["connected"], _live(live) if live is not None else None))
        key = next((e["SandboxKey"] for e in attached.values()), "")
        bridge = attached.get("bridge")
        return ContainerNetworks(mode, tuple(endpoints), self._ports(c, attached), key,
                                 _live(bridge) if bridge is not None else None)

    def _network_id(self, name: str) -> str:
        try:
            return get_network(self.db, name).id
        except NotFoundError:
            return ""


def _live(doc: dict[str, Any]) -> LiveEndpoint:
    from dockyard.engine.container_networks import LiveEndpoint

    return LiveEndpoint(doc.get("EndpointID", ""), doc.get("Gateway", ""), doc.get("IPAddress", ""),
                        doc.get("IPPrefixLen", 0), doc.get("MacAddress", ""), doc.get("IPv6Gateway", ""),
                        doc.get("GlobalIPv6Address", ""), doc.get("GlobalIPv6PrefixLen", 0))
