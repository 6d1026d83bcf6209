"""Published ports: ``-p`` specs as Docker parses them, host-port reservation, and NetworkSettings.Ports.

A published port is reserved by binding a socket on the host address and port
for as long as the container runs (the monitor holds it, as docker-proxy
does): another container, in this store or another, or a host program that
wants the port fails to bind, and so do we if it is taken. The traffic itself
goes through portmap's DNAT rules, including 127.0.0.1 (portmap's ``snat``
turns on route_localnet and masquerades hairpin and loopback traffic).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from dockyard.errors import ConflictError, InvalidArgumentError

PROTOCOLS = ("tcp", "udp", "sctp")


class PortAllocatedError(ConflictError):
    """The host port is taken; Docker's wording for who holds it."""


class PrivilegedPortError(InvalidArgumentError):
    """Rootless: a host port below ``ip_unprivileged_port_start``, which only a privileged process may bind."""


@dataclass(frozen=True, slots=True)
class PortBinding:
    """One ``-p``: container port/proto to host IP:port (host_port 0: any free one)."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0  # ``-p 8000-8010:80``: the first free port of a range

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.proto}"


def _port_range(text: str, what: str) -> tuple[int, int]:
    lo, sep, hi = text.partition("-")
    try:
        start, end = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise InvalidArgumentError(f"Invalid {what}: {text}") from None
    if not (0 < start <= 65535 and 0 < end <= 65535) or end < start:
        raise InvalidArgumentError(f"Invalid {what}: {text}")
    return start, end


def parse_publish(spec: str) -> list[PortBinding]:
    """``[IP:][HOST:]CONTAINER[/PROTO]`` with port ranges (Docker's nat.ParsePortSpec)."""
    rest, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgumentError(f"Invalid proto: {proto}")
    host_ip = ""
    if rest.startswith("["):  # [v6]:host:container
        addr, sep, rest = rest[1:].partition("]:")
        host_ip = addr if sep else ""
    parts = rest.rsplit(":", 2) if not host_ip else [host_ip, *rest.split(":", 1)]
    if len(parts) == 3:
        host_ip, host, container = parts
    elif len(parts) == 2:
        host, container = parts
    else:
        host, container = "", parts[0]
    if not container:
        raise InvalidArgumentError(f"No port specified: {spec or '<empty>'}")
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgumentError(f"Invalid ip address: {host_ip}") from None
        if ":" in host_ip and proto != "tcp":
            raise InvalidArgumentError(f"Invalid ip address: {host_ip} (IPv6 host addresses publish TCP ports only)")
    c_start, c_end = _port_range(container, "containerPort")
    h_start, h_end = _port_range(host, "hostPort") if host not in ("", "0") else (0, 0)  # 0: any free port
    count = c_end - c_start
    if host and h_end - h_start != count and not (count == 0 and h_end > h_start):
        raise InvalidArgumentError(
            f"Invalid ranges specified for container and host Ports: {container} and {host}")
    if count == 0:
        return [PortBinding(c_start, proto, host_ip, h_start, h_end if h_end > h_start else 0)]
    return [PortBinding(c_start + i, proto, host_ip, h_start + i if host else 0) for i in range(count + 1)]


def parse_expose(spec: str) -> list[str]:
    """``--expose 80[-90][/proto]`` → port keys."""
    port, _, proto = spec.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidArgumentError(f"Invalid proto: {proto}")
    start, end = _port_range(port, "range format for --expose specification")
    return [f"{p}/{proto}" for p in range(start, end + 1)]


def port_bindings(bindings: Iterable[PortBinding]) -> dict[str, list[dict[str, str]]]:
    """HostConfig.PortBindings, as Docker records what was asked."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        host = f"{b.host_port}-{b.host_port_end}" if b.host_port_end else (str(b.host_port) if b.host_port else "")
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": host})
    return out


def from_port_bindings(doc: dict[str, list[dict[str, str]]] | None) -> list[PortBinding]:
    out = []
    for key, hosts in (doc or {}).items():
        port, _, proto = key.partition("/")
        for h in hosts:
            start, _, end = h.get("HostPort", "").partition("-")
            out.append(PortBinding(int(port), proto or "tcp", h.get("HostIp", ""), int(start or 0), int(end or 0)))
    return out


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _bind(ip: str, port: int, proto: str, reuse: bool = False) -> socket.socket:
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    sock = socket.socket(_family(ip), kind, socket.IPPROTO_SCTP if proto == "sctp" else 0)
    try:
        if reuse and kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass(slots=True)
class Reservation:
    """Host ports held for one container: ``mappings`` go to portmap (IPv4 DNAT); ``proxied`` are
    the [::] listeners a userland proxy serves (as docker-proxy does), with their mapping."""

    sockets: list[socket.socket] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    proxied: list[tuple[socket.socket, dict[str, Any]]] = field(default_factory=list)

    def close(self) -> None:
        for s in self.sockets:
            s.close()


def _bind_v6(port: int, reuse: bool = False) -> socket.socket | None:
    """[::]:port for TCP (IPv6 only); None where the host has no IPv6."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise
        return None
    return sock


def _bind_one(b: PortBinding, held_by_us: set[tuple[str, int, str]],
              reuse: bool = False) -> tuple[socket.socket, socket.socket | None]:
    """The binding's IPv4 socket, and its [::] twin when it is published on every address."""
    ip = b.host_ip or "0.0.0.0"
    candidates = list(range(b.host_port, (b.host_port_end or b.host_port) + 1)) if b.host_port else [0] * 20
    for i, port in enumerate(candidates):
        last = i + 1 == len(candidates)
        try:
            sock = _bind(ip, port, b.proto, reuse)
        except OSError as exc:
            if not last and exc.errno == errno.EADDRINUSE:
                continue
            raise _bind_error(ip, port, b.proto, exc, held_by_us) from exc
        if b.host_ip or b.proto != "tcp":
            return sock, None
        try:
            return sock, _bind_v6(sock.getsockname()[1], reuse)
        except OSError as exc:
            sock.close()
            if not last:
                continue
            raise _bind_error("::", port, b.proto, exc, held_by_us) from exc
    raise AssertionError("unreachable")


def reserve(bindings: Iterable[PortBinding], held_by_us: set[tuple[str, int, str]], proxy_all: bool = False) -> Reservation:
    """Bind every host port (and [::] for TCP published on all addresses); all or nothing. ``proxy_all``:
    the userland proxy serves the IPv4 ports too (rootless: no DNAT reaches the container from the host),
    and TCP ports are bound with SO_REUSEADDR: there the host side (the proxy, slirp4netns) closes first,
    and the TIME_WAIT of the last connections would hold the port for a minute after the container stopped
    (a port someone listens on is refused all the same).

    ``held_by_us`` lists (ip, port, proto) published by this store's running containers: a conflict
    with one of them is "port is already allocated", with anything else the bind error, as Docker says.
    """
    r = Reservation()
    try:
        for b in bindings:
            sock, v6 = _bind_one(b, held_by_us, proxy_all)
            r.sockets.append(sock)
            mapping = {"hostPort": sock.getsockname()[1], "containerPort": b.container_port, "protocol": b.proto,
                       "hostIP": b.host_ip}
            if ":" in b.host_ip or proxy_all:  # an IPv6 host address: only the proxy serves it (containers are IPv4)
                r.proxied.append((sock, mapping))
                continue
            r.mappings.append(mapping)
            if v6 is not None:
                r.sockets.append(v6)
                r.proxied.append((v6, {**mapping, "hostIP": "::"}))
    except BaseException:
        r.close()
        raise
    return r


def _bind_error(ip: str, port: int, proto: str, exc: OSError, held_by_us: set[tuple[str, int, str]]) -> Exception:
    ours = any(p == port and pr == proto and (h in ("", "0.0.0.0", "::") or ip in ("0.0.0.0", "::", h))
               for h, p, pr in held_by_us)
    if ours:
        return PortAllocatedError(f"Bind for {ip}:{port} failed: port is already allocated")
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc)).lower()
    where = f"{proto}6 [{ip}]:{port}" if ":" in ip else f"{proto}4 {ip}:{port}"
    start = unprivileged_port_start()
    if exc.errno == errno.EACCES and port < start:  # rootless: rootlesskit's advice, as Docker rootless gives it
        return PrivilegedPortError(
            f"Error starting userland proxy: error while calling PortManager.AddPort(): cannot expose privileged port "
            f"{port}, you can add 'net.ipv4.ip_unprivileged_port_start={port}' to /etc/sysctl.conf (currently {start}), "
            f"or set CAP_NET_BIND_SERVICE on rootlesskit binary, or choose a larger port number (>= {start}): "
            f"listen {where}: bind: {reason}")
    return PortAllocatedError(f"Error starting userland proxy: listen {where}: bind: {reason}")


def unprivileged_port_start() -> int:
    """The lowest port an unprivileged process may bind on the host (``net.ipv4.ip_unprivileged_port_start``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024


def network_ports(mappings: Iterable[dict[str, Any]], exposed: Iterable[str]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed port, None where nothing is published."""
    out: dict[str, Any] = {key: None for key in exposed}
    for m in mappings:
        out.setdefault(f"{m['containerPort']}/{m['protocol']}", None)
        key = f"{m['containerPort']}/{m['protocol']}"
        out[key] = (out[key] or []) + [{"HostIp": m["hostIP"] or "0.0.0.0", "HostPort": str(m["hostPort"])}]
    return out
