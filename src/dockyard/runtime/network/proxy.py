"""A userland TCP proxy for published ports on [::], as docker-proxy serves them.

IPv4 traffic to a published port goes through portmap's DNAT rules (127.0.0.1
included); the container network is IPv4 only, so a connection to [::]:port
is accepted here, in the container's monitor, and spliced to the container's
address. Rootless, every published port goes this way (as Podman's rootlessport),
connecting from inside the user's rootless network namespace. One thread accepts on every listener; each connection gets a thread
that copies both ways until both sides closed. The threads are daemons: they
end with the monitor, and closing the listeners (``detach``) stops accepting.
"""

from __future__ import annotations

import selectors
import socket
import threading
from pathlib import Path
from typing import Any

from dockyard.runtime.network.nsexec import enter_thread

CONNECT_TIMEOUT = 5.0


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    peers = {client: upstream, upstream: client}
    sel = selectors.DefaultSelector()
    for s in peers:
        sel.register(s, selectors.EVENT_READ)
    open_reads = 2
    try:
        while open_reads:
            for key, _ in sel.select():
                src = key.fileobj
                assert isinstance(src, socket.socket)
                try:
                    data = src.recv(65536)
                    if data:
                        peers[src].sendall(data)
                        continue
                    peers[src].shutdown(socket.SHUT_WR)  # pass the half-close on
                except OSError:
                    return
                sel.unregister(src)
                open_reads -= 1
    finally:
        sel.close()
        client.close()
        upstream.close()


def _serve_one(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        upstream = socket.create_connection(target, timeout=CONNECT_TIMEOUT)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    _splice(client, upstream)


def _accept_loop(listeners: dict[socket.socket, tuple[str, int]], netns: Path | None) -> None:
    if netns is not None:  # the listeners stay the host's; connections to the container start from ``netns``
        enter_thread(netns)
    sel = selectors.DefaultSelector()
    for sock in listeners:
        sel.register(sock, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in sel.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    client, _ = sock.accept()
                except OSError:
                    return  # closed by detach
                threading.Thread(target=_serve_one, args=(client, listeners[sock]), daemon=True).start()
            if any(s.fileno() == -1 for s in listeners):
                return
    finally:
        sel.close()


def start(proxied: list[tuple[socket.socket, dict[str, Any]]], container_ip: str, netns: Path | None = None) -> None:
    """Listen on each socket and forward to ``container_ip``:containerPort, reached from the network namespace
    ``netns`` (rootless: the one holding the bridges) or this process's. No-op without listeners."""
    if not proxied:
        return
    listeners = {}
    for sock, mapping in proxied:
        sock.listen(128)
        listeners[sock] = (container_ip, int(mapping["containerPort"]))
    threading.Thread(target=_accept_loop, args=(listeners, netns), daemon=True, name="userland-proxy").start()
