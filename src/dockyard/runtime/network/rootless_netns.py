"""Container networks for an unprivileged user (rootless), as Podman arranges them.

- The default network (``bridge``): a slirp4netns per container attached to the container's own namespace
  (``tap0``, 10.0.2.100/24); published ports are slirp4netns' host forwards.
- User-defined networks: their bridges live in one network namespace per user, the *rootless netns*
  (``<run dir>/rootless-netns/netns``), where the CNI plugins, ``ip`` and ``iptables`` run (``nsexec``).
  One slirp4netns attached to it gives it outbound access; published ports are served by the container's
  monitor, which accepts on the host and connects to the container's address from inside that namespace.

The rootless netns outlives the commands: its slirp4netns runs in a session of its own, its pid on file;
the next command that needs it finds it alive, or makes it again (after a reboot, a killed slirp4netns).

    <run dir>/rootless-netns/netns       the namespace (nsfs bind mount, in the user's mount namespace)
    <run dir>/rootless-netns/slirp.pid   its slirp4netns; slirp.sock its API; slirp.log what it said
"""

from __future__ import annotations

import fcntl
import socket
from pathlib import Path
from typing import Any, Callable

from dockyard.metadata.db import Database
from dockyard.runtime.network import netns, nsexec, slirp
from dockyard.runtime.network.hosts import Endpoint
from dockyard.runtime.network.ports import Reservation
from dockyard.runtime.network.sandbox import Link, Member, Sandbox, Sandboxes
from dockyard.runtime.network.store import Network, NetworkSpec, NetworkStore
from dockyard.runtime.rootfs import is_mounted

DEFAULT = "bridge"


class RootlessNetns:
    """The user's namespace for the bridges of user-defined networks, made on first use."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "rootless-netns"
        self.path = self.dir / "netns"

    def alive(self) -> bool:
        try:
            pid = int((self.dir / "slirp.pid").read_text())
            return b"slirp4netns" in Path(f"/proc/{pid}/cmdline").read_bytes() and is_mounted(self.path)
        except (OSError, ValueError):
            return False

    def ensure(self) -> Path:
        """The namespace, with its slirp4netns running; made (again) under a lock when it is not."""
        if self.alive():
            return self.path
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.alive():
                netns.remove(self.path)
                netns.create(self.path)
                running = slirp.start(self.path, self.dir / "slirp.sock", self.dir / "slirp.log")
                (self.dir / "slirp.pid").write_text(f"{running.pid}\n")
        return self.path

    def existing(self) -> Path | None:
        """The namespace when it exists (tearing down never makes it)."""
        return self.path if is_mounted(self.path) else None


class RootlessNetworkStore(NetworkStore):
    """User networks' bridges, subnets and NAT rules inside the rootless netns; the default network has none
    (slirp4netns serves it)."""

    def __init__(self, db: Database, root: Path, run_dir: Path, rootless: RootlessNetns) -> None:
        super().__init__(db, root, run_dir / "network.lock")
        self.rootless = rootless

    def create(self, spec: NetworkSpec) -> Network:
        if spec.driver != "bridge":
            return super().create(spec)  # the refusals, with Docker's words
        with nsexec.inside(self.rootless.ensure()):
            return super().create(spec)

    def ensure(self, net: Network) -> Network:
        if net.name == DEFAULT or net.driver != "bridge":
            return net
        with nsexec.inside(self.rootless.ensure()):
            return super().ensure(net)

    def remove(self, net: Network, active: list[str]) -> None:
        with nsexec.inside(self.rootless.existing()):
            super().remove(net, active)


class RootlessSandboxes(Sandboxes):
    """A container's sandbox as ``Sandboxes`` makes it, with the default network through slirp4netns and
    the CNI plugins of user networks run in the rootless netns."""

    def __init__(self, home: Path, networks: NetworkStore, rootless: RootlessNetns) -> None:
        super().__init__(home, networks)
        self.rootless = rootless
        self.proxy_all = True  # no DNAT reaches a container from the host: every published port is proxied

    def _bridges(self, links: list[Link]) -> Path | None:
        return self.rootless.ensure() if any(link.network != DEFAULT for link in links) else None

    def attach(self, cid: str, member: Member, links: list[Link], held: Callable[[], set[tuple[str, int, str]]]) -> Sandbox:
        bridges = self._bridges(links)
        self.proxy_netns = bridges
        with nsexec.inside(bridges):
            return super().attach(cid, member, links, held)

    def connect(self, cid: str, link: Link) -> None:
        with nsexec.inside(self._bridges([link])):
            super().connect(cid, link)

    def _join(self, cid: str, doc: dict[str, Any], net: Network, link: Link, ifname: str, ports: Reservation) -> None:
        if net.name != DEFAULT:
            super()._join(cid, doc, net, link, ifname, ports)
            return
        entry = {"network": net.name, "network_id": net.id, "ifname": "tap0", "conflist": None,
                 "mappings": [m for _, m in ports.proxied if m["hostIP"] != "::"], "proxied": [],
                 "aliases": [], "result": None, "slirp": None}
        ports.close()  # slirp4netns binds the ports it was given, now that they are known free
        ports.proxied.clear()
        doc["attachments"].append(entry)
        self._write(cid, doc)
        running = slirp.start(Path(doc["netns"]), self.cache_dir / f"{cid}.slirp.sock", self.cache_dir / f"{cid}.slirp.log")
        entry["slirp"] = running.pid
        entry["result"] = {"ips": [{"address": f"{slirp.ADDRESS}/{slirp.PREFIX}", "gateway": slirp.GATEWAY}],
                           "interfaces": [{"name": "tap0", "sandbox": doc["netns"]}]}
        self._write(cid, doc)
        for m in entry["mappings"]:
            slirp.add_hostfwd(running.api_socket, m["protocol"], m["hostIP"], m["hostPort"], m["containerPort"])
        member = doc["member"]
        with self.endpoints.locked():
            self.endpoints.add(net.name, Endpoint(cid, member["container_name"], slirp.ADDRESS, slirp.PREFIX, "",
                                                  member["hosts_path"], member["hostname"], (), tuple(member["extra_hosts"]), 0))

    def detach(self, cid: str, sockets: list[socket.socket] | None = None) -> list[str]:
        with nsexec.inside(self.rootless.existing()):
            return super().detach(cid, sockets)

    def disconnect(self, cid: str, network: str) -> None:
        with nsexec.inside(self.rootless.existing()):
            super().disconnect(cid, network)

    def _leave(self, cid: str, doc: dict[str, Any], entry: dict[str, Any], refresh: bool = True) -> list[str]:
        if entry.get("conflist") is not None:
            return super()._leave(cid, doc, entry, refresh)
        if entry.get("slirp"):
            slirp.stop(entry["slirp"])
        for name in (f"{cid}.slirp.sock", f"{cid}.slirp.log"):
            (self.cache_dir / name).unlink(missing_ok=True)
        with self.endpoints.locked():
            self.endpoints.remove(entry["network"], cid)
        return []


def networking(db: Database, root: Path, run_dir: Path) -> tuple[NetworkStore, Sandboxes]:
    """The network store and sandboxes of a rootless engine."""
    rootless = RootlessNetns(run_dir)
    store = RootlessNetworkStore(db, root, run_dir, rootless)
    return store, RootlessSandboxes(root / "network", store, rootless)
