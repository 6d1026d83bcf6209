"""What the network service reports of a container's networks: ``ps``'s NETWORKS and PORTS, ``inspect``'s
NetworkSettings, ``port``. Apart from ``network_reports`` so that ``inspect`` of a container creates only these."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.metadata.container_record import NetworkRequest

PortMap = dict[str, list[dict[str, str]] | None]  # NetworkSettings.Ports: "80/tcp" -> [{HostIp, HostPort}]


@dataclass(frozen=True, slots=True)
class LiveEndpoint:
    """What a running container has on one network (its sandbox's record)."""

    endpoint_id: str = ""
    gateway: str = ""
    ip_address: str = ""
    prefix_len: int = 0
    mac: str = ""
    ipv6_gateway: str = ""
    ipv6_address: str = ""
    ipv6_prefix_len: int = 0


@dataclass(frozen=True, slots=True)
class ContainerEndpoint:
    """One network a container is on: from its mode, or from ``network connect``."""

    network: str
    network_id: str  # "" when the network is gone
    request: NetworkRequest  # what was asked of the endpoint (aliases, addresses, links, driver options)
    connected: bool  # True: added by ``network connect``
    live: LiveEndpoint | None  # None: not attached (the container is not running)

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.request.aliases


@dataclass(frozen=True, slots=True)
class ContainerNetworks:
    """A container's networks: ``ps``'s NETWORKS and PORTS, ``inspect``'s NetworkSettings."""

    mode: str  # HostConfig.NetworkMode
    endpoints: tuple[ContainerEndpoint, ...]
    ports: PortMap
    sandbox_key: str  # "" when not attached
    bridge: LiveEndpoint | None  # the default bridge's endpoint: inspect's top-level address fields
