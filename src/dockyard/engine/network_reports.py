"""What the network service reports of networks: ``network inspect``'s members and prune's result (a
container's networks are ``container_networks``'). A module of their own, so ``network ls`` and ``ps`` do
not create these classes at start."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.metadata.networks import Network

@dataclass(frozen=True, slots=True)
class NetworkMember:
    """A running container on a network (``network inspect``'s Containers)."""

    container_id: str
    name: str
    mac: str
    ipv4: str  # address/prefix
    ipv6: str = ""  # address/prefix on an IPv6 network


@dataclass(frozen=True, slots=True)
class NetworkReport:
    """A network and the containers attached to it."""

    network: Network
    members: tuple[NetworkMember, ...]


@dataclass(frozen=True, slots=True)
class NetworkPruneReport:
    """The networks ``network prune`` removed."""

    deleted: tuple[str, ...]
