"""What containers need from networking, in one place: the record fields ``create`` stores, the
check ``start`` makes before spawning the monitor, and the monitor's attach/detach.

Network modes (HostConfig.NetworkMode, as Docker records them): ``default``
(no ``--network``: the ``bridge`` network), ``bridge``, a user network's
name, ``host`` (the host's namespace, nothing to set up) and ``none`` (a
namespace with only loopback, which runc creates).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dockyard.runtime.network.hosts import parse_extra_host, render, write_in_place
from dockyard.runtime.network.ports import (
    PortBinding,
    from_port_bindings,
    parse_expose,
    parse_publish,
    port_bindings,
    reserve,
)
from dockyard.runtime.network.sandbox import Request, Sandbox, Sandboxes
from dockyard.runtime.network.store import NetworkStore

Held = Callable[[], set[tuple[str, int, str]]]


@dataclass(frozen=True, slots=True)
class NetworkOptions:
    """``run``/``create`` flags about ports and hosts, as typed (the mode is CreateOptions.network)."""

    publish: tuple[str, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()


def network_name(mode: str) -> str | None:
    """The network a mode attaches to through CNI (None: host or none)."""
    if mode in ("host", "none"):
        return None
    return "bridge" if mode == "default" else mode


def bindings(record: dict[str, Any]) -> tuple[PortBinding, ...]:
    """The ports to publish at start: ``-p`` ones, plus every other exposed port with ``-P``."""
    host = record["HostConfig"]
    out = from_port_bindings(host.get("PortBindings"))
    if host.get("PublishAllPorts"):
        bound = {b.key for b in out}
        for key in record["Config"].get("ExposedPorts") or {}:
            if key not in bound:
                port, _, proto = key.partition("/")
                out.append(PortBinding(int(port), proto or "tcp"))
    return tuple(out)


class ContainerNetworking:
    def __init__(self, networks: NetworkStore, sandboxes: Sandboxes) -> None:
        self.networks = networks
        self.sandboxes = sandboxes

    def record_fields(self, mode: str, opts: NetworkOptions, image_config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(Config, HostConfig) fields for the container's record; raises on a bad flag or unknown network."""
        name = network_name(mode)
        if name is not None:
            self.networks.get(name)
        for e in opts.extra_hosts:
            parse_extra_host(e)
        published = [b for spec in opts.publish for b in parse_publish(spec)]
        exposed = dict.fromkeys(image_config.get("ExposedPorts") or {})
        for spec in opts.expose:
            exposed.update(dict.fromkeys(parse_expose(spec)))
        exposed.update(dict.fromkeys(b.key for b in published))
        config = {"ExposedPorts": {k: {} for k in exposed} or None}
        host = {"NetworkMode": mode, "PortBindings": port_bindings(published),
                "PublishAllPorts": opts.publish_all, "ExtraHosts": list(opts.extra_hosts) or None}
        return config, host

    def check_start(self, record: dict[str, Any], held: Held) -> None:
        """Before the monitor is spawned: the network exists and the host ports are free (Docker's errors)."""
        name = network_name(record["HostConfig"]["NetworkMode"])
        if name is None:
            return
        self.networks.get(name)
        sockets, _ = reserve(bindings(record), held())
        for s in sockets:
            s.close()

    def write_hosts(self, hosts: Path, record: dict[str, Any]) -> None:
        """At create: the base file plus ``--add-host`` entries (the own line comes at attach)."""
        extra = record["HostConfig"].get("ExtraHosts") or []
        if extra:
            write_in_place(hosts, render(hosts.read_text(), extra))

    def attach(self, cid: str, name: str, record: dict[str, Any], hosts: Path, held: Held) -> Sandbox | None:
        net = network_name(record["HostConfig"]["NetworkMode"])
        if net is None:
            return None
        req = Request(net, name, record["Config"]["Hostname"], hosts, bindings(record),
                      tuple(record["HostConfig"].get("ExtraHosts") or ()))
        return self.sandboxes.attach(cid, req, held)

    def detach(self, cid: str, sockets: list[socket.socket] | None = None) -> None:
        self.sandboxes.detach(cid, sockets)

    def sweep(self, alive: Callable[[str], bool]) -> None:
        """Detach every sandbox whose container is not running (crashed monitors, removed containers)."""
        for cid in self.sandboxes.attached():
            if not alive(cid):
                self.sandboxes.detach(cid)

