"""/etc/hosts of containers on a network, and name resolution between them.

Docker resolves container names on user networks with an embedded DNS server
at 127.0.0.11. dockyard keeps each container's /etc/hosts listing the
others on its networks: every running container has an endpoint file per
network (name, aliases, IP, links, hosts path) and, under one lock per store,
whoever joins or leaves a network rewrites the hosts file of every member
(own address on each network, then the peers of all its user networks, with
the aliases its own links give them). The file is bind-mounted into the
container, so it is rewritten in place (same inode), never renamed over.
busybox/musl/glibc read /etc/hosts first; programs that ask a DNS server
instead get the same names from the container's resolver (``dns``), a
thread of its monitor that answers from this file, so no process has to
outlive the monitors. A program caching its resolver results misses later
peers.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

from dockyard.errors import InvalidArgumentError

DEFAULT_NETWORK = "bridge"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A running container's place on a network."""

    container_id: str
    name: str
    ip: str
    prefix: int
    mac: str
    hosts_path: str
    hostname: str = ""
    aliases: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    order: int = 0  # the interface's number (eth0, eth1 ...)
    ip6: str = ""  # its IPv6 address on an IPv6 network
    links: tuple[str, ...] = ()  # CONTAINER:ALIAS: names only this container resolves (links on a user network)


def parse_extra_host(spec: str) -> tuple[str, str]:
    """``--add-host name:ip`` (the IP may be IPv6, so split at the first colon)."""
    import ipaddress

    name, sep, ip = spec.partition(":")
    if not sep or not name:
        raise InvalidArgumentError(f'invalid argument "{spec}" for "--add-host" flag: bad format for add-host: "{spec}"')
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidArgumentError(f'invalid argument "{spec}" for "--add-host" flag: invalid IP address in add-host: "{ip}"') from None
    return name, ip.strip("[]")


def render(base: str, extra: Iterable[str], own_ips: Iterable[str] = (), hostname: str = "",
           peers: Iterable[Endpoint] = ()) -> str:
    """Docker's order: the base lines, ``--add-host`` entries, the container's own line per network; then its peers."""
    lines = [base.rstrip("\n")] if base else []
    lines += [f"{ip}\t{name}" for name, ip in (parse_extra_host(e) for e in extra)]
    lines += [f"{ip}\t{hostname}" for ip in own_ips]
    lines += [f"{p.ip}\t{' '.join(dict.fromkeys((p.name, *p.aliases)))}" for p in peers]
    return "\n".join(lines) + "\n"


def write_in_place(path: Path, text: str) -> None:
    """Truncate and write the same inode: the container sees the bind-mounted file change."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class EndpointRegistry:
    """``<dir>/<network name>/<container id>.json`` for every running member of a network."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def add(self, network: str, ep: Endpoint) -> None:
        d = self.home / network
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{ep.container_id}.tmp"
        tmp.write_text(json.dumps(asdict(ep)))
        os.replace(tmp, d / f"{ep.container_id}.json")

    def remove(self, network: str, container_id: str) -> None:
        (self.home / network / f"{container_id}.json").unlink(missing_ok=True)

    @staticmethod
    def _load(f: Path) -> Endpoint | None:
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            return None
        return Endpoint(**{**doc, "aliases": tuple(doc["aliases"]), "extra_hosts": tuple(doc["extra_hosts"]),
                           "links": tuple(doc.get("links") or ())})

    def members(self, network: str) -> list[Endpoint]:
        d = self.home / network
        found = (self._load(f) for f in sorted(d.glob("*.json"))) if d.is_dir() else iter(())
        return [ep for ep in found if ep is not None]

    def endpoints_of(self, container_id: str) -> list[tuple[str, Endpoint]]:
        """(network, endpoint) of one container, in the order its interfaces were made."""
        found = [(f.parent.name, self._load(f)) for f in self.home.glob(f"*/{container_id}.json")]
        return sorted(((n, ep) for n, ep in found if ep is not None), key=lambda item: item[1].order)

    def refresh(self, networks: Iterable[str], base: str, also: Iterable[Endpoint] = ()) -> None:
        """Rewrite the hosts file of every member of ``networks`` (and of ``also``, which just left):
        a line with its own address on each network, then the names of its peers on user networks."""
        affected = {ep.container_id: ep for n in networks for ep in self.members(n)}
        affected.update({ep.container_id: ep for ep in also})
        for cid, known in affected.items():
            eps = self.endpoints_of(cid)
            peers: dict[str, Endpoint] = {}
            for net, own in eps:
                if net != DEFAULT_NETWORK:  # the default bridge has no name resolution, as in Docker
                    peers.update({p.ip: _linked(p, own.links) for p in self.members(net) if p.container_id != cid})
                    peers.update({p.ip6: _linked(p, own.links) for p in self.members(net) if p.container_id != cid and p.ip6})
            own_ips = [ep.ip for _, ep in eps] + [ep.ip6 for _, ep in eps if ep.ip6]
            text = render(base, known.extra_hosts, own_ips, known.hostname,
                          [replace(p, ip=address) for address, p in peers.items()])
            try:
                write_in_place(Path(known.hosts_path), text)
            except OSError:
                continue  # the container is going away


def _linked(peer: Endpoint, links: tuple[str, ...]) -> Endpoint:
    """``peer`` with the aliases the container's links give it (``--link NAME:ALIAS`` on a user network)."""
    extra = tuple(alias for name, _, alias in (link.partition(":") for link in links) if name == peer.name and alias)
    return replace(peer, aliases=peer.aliases + extra) if extra else peer
