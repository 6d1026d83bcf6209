"""What the network service reports of a container's networks: ``ps``'s NETWORKS and PORTS, ``inspect``'s
NetworkSettings, ``port``. Apart from ``network_reports`` so that ``inspect`` of a container creates only these."""

from __future__ import annotations

from dataclasses import dataclass

PortMap = dict[str, list[dict[str, str]] | None]  # NetworkSettings.Ports: "80/tcp" -> [{HostIp, HostPort}]


@dataclass(frozen=True, slots=True)
class LiveEndpoint:
    """What a running container has on one network (its sandbox's record)."""

    endpoint_id: str = ""
    gateway: str = ""
    ip_address: str = ""
    prefix_len: int = 0
    mac: str = ""


@dataclass(frozen=True, slots=True)
class ContainerEndpoint:
    """One network a container is on: from its mode, or from ``network connect``."""

    network: str
    network_id: str  # "" when the network is gone
    aliases: tuple[str, ...]
    ip: str  # the address asked with --ip
    connected: bool  # True: added by ``network connect``
    live: LiveEndpoint | None  # None: not attached (the container is not running)


@dataclass(frozen=True, slots=True)
class ContainerNetworks:
    """A container's networks: ``ps``'s NETWORKS and PORTS, ``inspect``'s NetworkSettings."""

    mode: str  # HostConfig.NetworkMode
    endpoints: tuple[ContainerEndpoint, ...]
    ports: PortMap
    sandbox_key: str  # "" when not attached
    bridge: LiveEndpoint | None  # the default bridge's endpoint: inspect's top-level address fields
