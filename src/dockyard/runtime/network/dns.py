"""The resolver of containers on user networks, at 127.0.0.11 as Docker's embedded DNS server.

Names are answered from the container's own /etc/hosts, which ``hosts`` keeps listing the peers of its
user networks (their names, aliases, and the aliases its links give them): resolvers that ask a DNS
server instead of reading the file (busybox's nslookup, musl with some options, any client library that
speaks DNS) see the same names. Other questions go to the servers the container would have used
(``--dns``, else the host's), and their answer comes back unchanged.

The socket is made inside the container's network namespace (a thread joins it with setns(2), binds,
and leaves the namespace behind; the socket stays in it) and served by a thread of the process that
attached the sandbox (the container's monitor), until that process closes it at detach. UDP only: the
answers are short.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import threading
from pathlib import Path

from dockyard.errors import DockyardError

ADDRESS = "127.0.0.11"
_CLONE_NEWNET = 0x40000000
_TYPES = {1: 4, 28: 6}  # A, AAAA -> address family
_TTL = 600


class ResolverError(DockyardError):
    """The resolver's socket could not be made in the namespace."""


def _in_netns(netns: Path) -> socket.socket:
    """A UDP socket bound to 127.0.0.11:53 in the namespace ``netns`` (made on a thread of its own)."""
    made: list[socket.socket | BaseException] = []

    def work() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
            finally:
                os.close(fd)
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((ADDRESS, 53))
            made.append(sock)
        except BaseException as exc:  # handed to the caller's thread
            made.append(exc)

    thread = threading.Thread(target=work)  # it ends in the namespace: a thread of its own, not reused
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise ResolverError(f"resolver in {netns}: {made[0]}")
    return made[0]


def serve(netns: Path, hosts: Path, upstream: list[str]) -> socket.socket:
    """Start answering at 127.0.0.11:53 in ``netns``; the socket, which the caller closes to stop."""
    sock = _in_netns(netns)
    threading.Thread(target=_loop, args=(sock, hosts, upstream), daemon=True, name="dns").start()
    return sock


def _loop(sock: socket.socket, hosts: Path, upstream: list[str]) -> None:
    while True:
        try:
            packet, peer = sock.recvfrom(4096)
        except OSError:
            return  # closed at detach
        answer = reply(packet, lookup_table(hosts))
        if answer is not None:
            _send(sock, answer, peer)
        elif upstream:
            threading.Thread(target=_forward, args=(sock, packet, peer, upstream), daemon=True).start()
        else:
            _send(sock, failure(packet, 2), peer)


def _send(sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
    try:
        sock.sendto(data, peer)
    except OSError:
        pass


def _forward(sock: socket.socket, packet: bytes, peer: tuple[str, int], upstream: list[str]) -> None:
    """Ask each server in turn (from the host's namespace); SERVFAIL when none answers."""
    for server in upstream:
        family = socket.AF_INET6 if ":" in server else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as out:
            out.settimeout(2.0)
            try:
                out.sendto(packet, (server, 53))
                _send(sock, out.recv(65535), peer)
                return
            except OSError:
                continue
    _send(sock, failure(packet, 2), peer)


def lookup_table(hosts: Path) -> dict[str, list[str]]:
    """name (lower case) -> its addresses, in the file's order."""
    table: dict[str, list[str]] = {}
    try:
        text = hosts.read_text()
    except OSError:
        return table
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            table.setdefault(name.lower(), []).append(fields[0])
    return table


def _question(packet: bytes) -> tuple[str, int, int] | None:
    """(name, type, end of the question) of a standard query with one question; None otherwise."""
    if len(packet) < 12 or packet[2] & 0xF8 or int.from_bytes(packet[4:6], "big") != 1:
        return None
    i, labels = 12, []
    while i < len(packet) and packet[i]:
        n = packet[i]
        if n & 0xC0 or i + 1 + n > len(packet):
            return None
        labels.append(packet[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    if i + 5 > len(packet):
        return None
    return ".".join(labels).lower(), int.from_bytes(packet[i + 1:i + 3], "big"), i + 5


def _header(packet: bytes, rcode: int, answers: int) -> bytes:
    flags = 0x8400 | (packet[2] & 0x01) << 8 | 0x80 | rcode  # response, authoritative, RD copied, RA
    return packet[:2] + flags.to_bytes(2, "big") + (1).to_bytes(2, "big") + answers.to_bytes(2, "big") + bytes(4)


def reply(packet: bytes, table: dict[str, list[str]]) -> bytes | None:
    """The answer to an A or AAAA question about a name the table has (none of the family asked: an empty
    answer); None when the question is for the upstream servers."""
    q = _question(packet)
    if q is None or q[0] not in table:
        return None
    name, qtype, end = q
    family = _TYPES.get(qtype)
    found = [ipaddress.ip_address(a) for a in table[name] if _family(a) == family] if family else []
    records = b"".join(b"\xc0\x0c" + qtype.to_bytes(2, "big") + b"\x00\x01" + _TTL.to_bytes(4, "big")
                       + len(a.packed).to_bytes(2, "big") + a.packed for a in found)
    return _header(packet, 0, len(found)) + packet[12:end] + records


def _family(address: str) -> int:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:
        return 0


def failure(packet: bytes, rcode: int) -> bytes:
    """An answer with ``rcode`` (2: SERVFAIL) and the question echoed."""
    q = _question(packet)
    return _header(packet, rcode, 0) + (packet[12:q[2]] if q else b"")


def resolv_conf(current: str) -> str:
    """The container's resolv.conf pointing at the resolver, the current one's search and options kept, as
    Docker writes it for user networks."""
    lines = [ln for ln in current.splitlines() if ln.split()[:1] in (["search"], ["domain"])]
    options = [o for ln in current.splitlines() if ln.startswith("options ") for o in ln.split()[1:] if not o.startswith("ndots:")]
    return "\n".join([*lines, f"nameserver {ADDRESS}", "options " + " ".join(["ndots:0", *options])]) + "\n"


def upstream_servers(current: str) -> list[str]:
    """The nameservers of a resolv.conf, the resolver's own address left out."""
    return [ln.split()[1] for ln in current.splitlines() if ln.startswith("nameserver ") and len(ln.split()) > 1
            and ln.split()[1] != ADDRESS]
