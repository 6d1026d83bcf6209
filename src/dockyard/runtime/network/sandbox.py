"""A container's network sandbox: its namespace, an interface per network it joined, its published ports.

Lifecycle, driven by the container's monitor: ``attach`` before ``runc
create`` (the spec names the namespace file), ``detach`` after the container
exited; ``connect``/``disconnect`` while it runs (``network connect``);
``ContainerStore`` also calls ``detach`` when it finds a monitor dead and on
``rm``, and the engine's start-up sweep for containers that are gone.
``detach`` is idempotent and works from the cache file alone, which is
written before anything is created on the host: whatever a crash interrupted
(namespace, veth, iptables chains, IPAM reservation), DEL undoes it. The
cache is also what ``inspect``, ``ps`` and ``port`` read about a running
container's addresses and ports.

    network/sandboxes/<id>.json   cache: namespace, and per network its CNI list, ports, ADD result
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

from dockyard.errors import ConflictError
from dockyard.metadata.container_record import NetworkRequest
from dockyard.runtime.network import cni, netns, proxy
from dockyard.runtime.network.hosts import Endpoint, EndpointRegistry
from dockyard.runtime.network.ports import PortBinding, Reservation, reserve
from dockyard.runtime.network.records import addresses_of, describe, mac_of, read_sandbox, sandbox_file
from dockyard.runtime.network.store import Network, NetworkStore
from dockyard.runtime.rootfs import HOSTS

LOOPBACK = {"cniVersion": cni.CNI_VERSION, "name": "lo", "plugins": [{"type": "loopback"}]}


@dataclass(frozen=True, slots=True)
class Member:
    """Who the container is on its networks (its hosts file and the names others see)."""

    container_name: str
    hostname: str
    hosts_path: Path
    extra_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    """One network to join, with what was asked of the endpoint; ports are published through the first one only."""

    network: str
    request: NetworkRequest = NetworkRequest()
    bindings: tuple[PortBinding, ...] = ()


@dataclass(slots=True)
class Sandbox:
    """A container's network namespace and the sockets held open in it."""

    netns: Path
    sockets: list[socket.socket] = field(default_factory=list)


class Sandboxes:
    def __init__(self, home: Path, networks: NetworkStore) -> None:
        self.home = home
        self.networks = networks
        self.cache_dir = home / "sandboxes"
        self.netns_dir = home / "netns"
        self.endpoints = EndpointRegistry(home / "endpoints")
        self.proxy_all = False  # rootless: the userland proxy serves every published port (no DNAT from the host)
        self.proxy_netns: Path | None = None  # rootless: where the proxy reaches the containers from

    # the cache -------------------------------------------------------------------

    def _cache(self, cid: str) -> Path:
        return sandbox_file(self.home, cid)

    def _read(self, cid: str) -> dict[str, Any] | None:
        return read_sandbox(self.home, cid)

    def _write(self, cid: str, doc: dict[str, Any]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_dir / f".{cid}.tmp"
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self._cache(cid))

    # attach, detach ----------------------------------------------------------------

    def attach(self, cid: str, member: Member, links: list[Link], held: Callable[[], set[tuple[str, int, str]]]) -> Sandbox:
        """Namespace + an interface per link + ports; all or nothing (raises, having undone what it did)."""
        nets = [self.networks.ensure(self.networks.get(link.network)) for link in links]
        ports = reserve(links[0].bindings if links else (), held(), self.proxy_all)
        path = self.netns_dir / cid
        doc: dict[str, Any] = {"netns": str(path), "member": _member_doc(member), "attachments": []}
        try:
            self._write(cid, doc)
            netns.create(path)
            cni.add(LOOPBACK, cni.Invocation(cid, str(path), "lo"))
            for i, (net, link) in enumerate(zip(nets, links, strict=True)):
                self._join(cid, doc, net, link, f"eth{i}", ports if i == 0 else Reservation())
            with self.endpoints.locked():
                self.endpoints.refresh([n.name for n in nets], HOSTS)
            if doc["attachments"]:
                proxy.start(ports.proxied, addresses_of(doc["attachments"][0]["result"])[0][0], self.proxy_netns)
        except BaseException:
            ports.close()
            self.detach(cid)
            raise
        return Sandbox(path, ports.sockets)

    def _join(self, cid: str, doc: dict[str, Any], net: Network, link: Link, ifname: str, ports: Reservation) -> None:
        """CNI ADD of one network; recorded in the cache before (for DEL) and after (its result)."""
        asked = link.request
        conflist = self.networks.conflist(net, ports=bool(ports.mappings), ip=asked.ipv4_address,
                                          ip6=asked.ipv6_address, mac=asked.mac_address)
        entry = {"network": net.name, "network_id": net.id, "ifname": ifname, "conflist": conflist,
                 "mappings": ports.mappings, "proxied": [m for _, m in ports.proxied], "aliases": list(asked.aliases),
                 "result": None}
        doc["attachments"].append(entry)
        self._write(cid, doc)
        inv = cni.Invocation(cid, doc["netns"], ifname, {"portMappings": ports.mappings})
        entry["result"] = cni.add(entry["conflist"], inv)
        self._write(cid, doc)
        if asked.link_local_ips:
            netns.add_addresses(Path(doc["netns"]), ifname, asked.link_local_ips)
        (address, prefix), (address6, _) = addresses_of(entry["result"])
        member = doc["member"]
        names = () if net.name == "bridge" else (*asked.aliases, member["container_name"], cid[:12])
        with self.endpoints.locked():
            self.endpoints.add(net.name, Endpoint(
                cid, member["container_name"], address, prefix, mac_of(entry["result"], ifname), member["hosts_path"],
                member["hostname"], names, tuple(member["extra_hosts"]), int(ifname.removeprefix("eth")), address6,
                asked.links))

    def detach(self, cid: str, sockets: list[socket.socket] | None = None) -> list[str]:
        """Undo ``attach`` (every network) from the cache; idempotent. Returns CNI's complaints (nothing raises)."""
        for s in sockets or []:
            s.close()
        doc = self._read(cid)
        errors: list[str] = []
        for entry in reversed(doc["attachments"] if doc else []):
            errors += self._leave(cid, doc, entry, refresh=False)  # type: ignore[arg-type]
        if doc is not None:
            with self.endpoints.locked():
                self.endpoints.refresh([e["network"] for e in doc["attachments"]], HOSTS)
        netns.remove(self.netns_dir / cid)
        self._cache(cid).unlink(missing_ok=True)
        return errors

    def _leave(self, cid: str, doc: dict[str, Any], entry: dict[str, Any], refresh: bool = True) -> list[str]:
        with self.endpoints.locked():
            gone = [ep for ep in self.endpoints.members(entry["network"]) if ep.container_id == cid]
            self.endpoints.remove(entry["network"], cid)
            if refresh:
                self.endpoints.refresh([entry["network"]], HOSTS, also=gone)
        path = doc["netns"]
        inv = cni.Invocation(cid, path if Path(path).exists() else "", entry["ifname"],
                             {"portMappings": entry["mappings"]})
        return cni.delete(entry["conflist"], inv, entry["result"])

    # while running: network connect / disconnect -------------------------------------

    def connect(self, cid: str, link: Link) -> None:
        """Join one more network (a new interface) while the container runs."""
        doc = self._read(cid)
        if doc is None:
            raise ConflictError(f"container {cid} is not running")
        net = self.networks.ensure(self.networks.get(link.network))
        taken = {e["ifname"] for e in doc["attachments"]}
        ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
        try:
            self._join(cid, doc, net, link, ifname, Reservation())
        except BaseException:
            entry = next((e for e in doc["attachments"] if e["ifname"] == ifname), None)
            if entry is not None:
                self._leave(cid, doc, entry)
                doc["attachments"].remove(entry)
                self._write(cid, doc)
            raise
        with self.endpoints.locked():
            self.endpoints.refresh([net.name], HOSTS)

    def disconnect(self, cid: str, network: str) -> None:
        doc = self._read(cid)
        entry = next((e for e in (doc or {}).get("attachments", []) if e["network"] == network), None)
        if doc is None or entry is None:
            return
        self._leave(cid, doc, entry)
        doc["attachments"].remove(entry)
        self._write(cid, doc)

    # what is attached ------------------------------------------------------------------

    def describe(self, cid: str) -> dict[str, dict[str, Any]]:
        """Per network: address, gateway, MAC, endpoint, published ports (empty when not attached)."""
        return describe(self.home, cid)

    def published(self) -> set[tuple[str, int, str]]:
        """(host IP, port, proto) published by this store's attached containers."""
        return {(m["hostIP"], m["hostPort"], m["protocol"]) for cid in self.attached()
                for e in (self._read(cid) or {}).get("attachments", []) for m in e["mappings"]}

    def attached(self) -> list[str]:
        """Container IDs with a sandbox on record (live or left by a crash)."""
        if not self.cache_dir.is_dir():
            return []
        return [p.stem for p in self.cache_dir.glob("*.json")]

    def members(self, network: str) -> list[Endpoint]:
        return self.endpoints.members(network)


def _member_doc(m: Member) -> dict[str, Any]:
    return {"container_name": m.container_name, "hostname": m.hostname, "hosts_path": str(m.hosts_path),
            "extra_hosts": list(m.extra_hosts)}
