"""A container's network sandbox: its namespace, its interface on a network, its published ports.

Lifecycle, driven by the container's monitor: ``attach`` before ``runc
create`` (the spec names the namespace file), ``detach`` after the container
exited; ``ContainerStore`` also calls ``detach`` when it finds a monitor dead
and on ``rm``, and the engine's start-up sweep for containers that are gone.
``detach`` is idempotent and works from the cache file alone, which is
written before anything is created on the host: whatever a crash interrupted
(namespace, veth, iptables chains, IPAM reservation), DEL undoes it.

    network/sandboxes/<id>.json   cache: namespace, CNI list, port mappings, ADD result
    network/netns/<id>            the namespace (nsfs bind mount)
    network/endpoints/<net>/<id>.json  running members of each network (see hosts)
    network/ipam/                 host-local's reservations, per store
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dockyard.runtime.network import cni, netns
from dockyard.runtime.network.hosts import Endpoint, EndpointRegistry
from dockyard.runtime.network.ports import PortBinding, reserve
from dockyard.runtime.network.store import Network, NetworkStore
from dockyard.runtime.rootfs import HOSTS

LOOPBACK = {"cniVersion": cni.CNI_VERSION, "name": "lo", "plugins": [{"type": "loopback"}]}


@dataclass(frozen=True, slots=True)
class Request:
    """What a container asks of its network (from its record)."""

    network: str
    container_name: str
    hostname: str
    hosts_path: Path
    bindings: tuple[PortBinding, ...] = ()
    extra_hosts: tuple[str, ...] = ()


@dataclass(slots=True)
class Sandbox:
    netns: Path
    network: Network
    endpoint: Endpoint
    gateway: str
    mappings: list[dict[str, Any]]
    sockets: list[socket.socket] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        """What the monitor records in the container's state (inspect, ps, port read it)."""
        ep = self.endpoint
        return {"Network": self.network.name, "NetworkID": self.network.id, "SandboxKey": str(self.netns),
                "EndpointID": ep.container_id[:12] + self.network.id[:52], "IPAddress": ep.ip,
                "IPPrefixLen": ep.prefix, "Gateway": self.gateway, "MacAddress": ep.mac,
                "Aliases": list(ep.aliases), "PortMappings": self.mappings}


class Sandboxes:
    def __init__(self, home: Path, networks: NetworkStore) -> None:
        self.home = home
        self.networks = networks
        self.cache_dir = home / "sandboxes"
        self.netns_dir = home / "netns"
        self.endpoints = EndpointRegistry(home / "endpoints")

    def _cache(self, cid: str) -> Path:
        return self.cache_dir / f"{cid}.json"

    def _write_cache(self, cid: str, doc: dict[str, Any]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f".{cid}.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self._cache(cid))

    def attach(self, cid: str, req: Request, held: Callable[[], set[tuple[str, int, str]]]) -> Sandbox:
        """Namespace + interface + ports; all or nothing (raises, having undone what it did)."""
        net = self.networks.ensure(self.networks.get(req.network))
        sockets, mappings = reserve(req.bindings, held())
        path = self.netns_dir / cid
        conflist = self.networks.conflist(net)
        doc: dict[str, Any] = {"netns": str(path), "network": net.name, "conflist": conflist,
                               "mappings": mappings, "result": None}
        try:
            self._write_cache(cid, doc)
            netns.create(path)
            cni.add(LOOPBACK, cni.Invocation(cid, str(path), "lo"))
            inv = cni.Invocation(cid, str(path), "eth0", {"portMappings": mappings})
            doc["result"] = cni.add(conflist, inv)
            self._write_cache(cid, doc)
            box = self._sandbox(cid, req, net, path, doc["result"], mappings)
            box.sockets = sockets
            with self.endpoints.locked():
                self.endpoints.add(net.name, box.endpoint)
                self.endpoints.refresh(net.name, HOSTS, resolve_peers=net.name != "bridge")
        except BaseException:
            for s in sockets:
                s.close()
            self.detach(cid)
            raise
        return box

    @staticmethod
    def _sandbox(cid: str, req: Request, net: Network, path: Path, result: dict[str, Any],
                 mappings: list[dict[str, Any]]) -> Sandbox:
        ip = result["ips"][0]
        address, _, prefix = ip["address"].partition("/")
        iface = result["interfaces"][ip["interface"]] if "interface" in ip else {}
        aliases = () if net.name == "bridge" else (req.container_name, cid[:12])
        endpoint = Endpoint(cid, req.container_name, address, int(prefix), iface.get("mac", ""), str(req.hosts_path),
                            req.hostname, aliases, req.extra_hosts)
        return Sandbox(path, net, endpoint, ip.get("gateway", ""), mappings)

    def detach(self, cid: str, sockets: list[socket.socket] | None = None) -> list[str]:
        """Undo ``attach`` from the cache; idempotent. Returns CNI's complaints (nothing raises)."""
        for s in sockets or []:
            s.close()
        try:
            doc = json.loads(self._cache(cid).read_text())
        except (OSError, ValueError):
            doc = None
        errors: list[str] = []
        if doc is not None:
            with self.endpoints.locked():
                self.endpoints.remove(doc["network"], cid)
                self.endpoints.refresh(doc["network"], HOSTS, resolve_peers=doc["network"] != "bridge")
            path = doc["netns"]
            inv = cni.Invocation(cid, path if Path(path).exists() else "", "eth0", {"portMappings": doc["mappings"]})
            errors = cni.delete(doc["conflist"], inv, doc["result"])
        netns.remove(self.netns_dir / cid)
        self._cache(cid).unlink(missing_ok=True)
        return errors

    def attached(self) -> list[str]:
        """Container IDs with a sandbox on record (live or left by a crash)."""
        if not self.cache_dir.is_dir():
            return []
        return [p.stem for p in self.cache_dir.glob("*.json")]

    def members(self, network: str) -> list[Endpoint]:
        return self.endpoints.members(network)
