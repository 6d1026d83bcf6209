"""Containers: create, start (through a monitor process), stop, remove, list, look up.

A container is a row in the ``containers`` table (its ``config`` column holds
the record below as JSON), a reference on the image's top layer, and a
directory ``containers/<id>/`` (see ``rootfs``). Its run state lives in
``state.json``, written by the monitor while one runs; a monitor that died
(kill -9) is noticed on the next look and the state corrected.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dockyard.errors import ConflictError, DockyardError, InvalidArgumentError
from dockyard.image.store import ImageStore
from dockyard.metadata.container_record import ContainerRecord, HealthConfig, ProcessRecord
from dockyard.metadata.containers import ContainerRecords
from dockyard.metadata.db import Database
from dockyard.metadata.events import container_event
from dockyard.oci.digest import Digest
from dockyard.oci.timefmt import rfc3339_nano
from dockyard.runtime import container_layer, health, links, resources, rootfs, spawn
from dockyard.runtime.container_state import (
    Container,
    ContainerReader,
    mark_stopped,
    monitor_alive,
    signal_container,
    write_state,
)
from dockyard.runtime.isolation import Isolation, check_container_network, parse_signal
from dockyard.runtime.names import VALID_NAME, new_id, random_name
from dockyard.runtime.network.attachment import ContainerNetworking, NetworkOptions
from dockyard.runtime.rootfs import Paths
from dockyard.runtime.runc import Runc
from dockyard.runtime.spec import Overrides, merge_process
from dockyard.runtime.volumes import VolumeStore, copy_up, parse_mount_flag, parse_volume_flag
from dockyard.runtime.volumes_from import inherited_mounts, mount_targets
from dockyard.storage.mount import Mount
from dockyard.storage.snapshotter import Snapshotter


class ContainerStartError(DockyardError):
    """The runtime could not start the process; ``code`` is Docker's exit code for it (125/126/127)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class CreateOptions:
    image: str
    name: str | None = None
    overrides: Overrides = field(default_factory=Overrides)
    hostname: str | None = None
    network: str = "none"
    volumes: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()  # --mount values
    auto_remove: bool = False
    interactive: bool = False
    tty: bool = False
    detach: bool = False  # run -d: nothing attaches at start (Docker's AttachStd*/StdinOnce say so)
    no_new_privileges: bool = False
    isolation: Isolation = field(default_factory=Isolation)  # security, limits, restart, stop, init, runtime
    net: NetworkOptions = field(default_factory=NetworkOptions)  # -p, -P, --expose, --add-host
    healthcheck: HealthConfig | None = None  # the --health-* flags (merged with the image's at create)
    links: tuple[str, ...] = ()  # --link NAME[:ALIAS]
    volumes_from: tuple[str, ...] = ()  # --volumes-from CONTAINER[:ro|rw]


def _threaded() -> bool:
    """Whether this process runs more than one thread (threading is only loaded by code that starts some)."""
    threading = sys.modules.get("threading")
    return threading is not None and threading.active_count() > 1


class ContainerStore:
    """Lifecycle: ``create`` → ``start`` (spawns the monitor) → ``stop`` → ``remove``; ``remove`` is idempotent."""

    def __init__(self, home: Path, db: Database, images: ImageStore, snapshotter: Snapshotter,
                 release: Callable[[list[str]], None],
                 monitor_argv: Callable[[str, int | None], list[str]], volumes_home: Path,
                 networking: ContainerNetworking | None = None) -> None:
        self.home = home
        self.db = db
        self.images = images
        self.snapshotter = snapshotter
        self.release = release
        self.monitor_argv = monitor_argv
        self.volumes_home = volumes_home
        self.networking = networking  # None: only --network host|none
        self.volumes = VolumeStore(volumes_home, db)
        self.records = ContainerRecords(db)
        self.reader = ContainerReader(self.records, home, self.monitor_died)
        self.runc = Runc(home.parent / "runc")
        home.mkdir(parents=True, exist_ok=True)

    def runtime(self, record: dict[str, Any]) -> Runc:
        """The OCI runtime the container was created with (``--runtime``), with a state root of its own."""
        name = record.get("HostConfig", {}).get("Runtime") or "runc"
        return self.runc if name == "runc" else Runc(self.home.parent / name, binary=name)

    def runtimes(self) -> list[Runc]:
        from dockyard.runtime.isolation import RUNTIMES

        return [self.runtime({"HostConfig": {"Runtime": name}}) for name in RUNTIMES if shutil.which(name)]

    # lookup ------------------------------------------------------------------

    def get(self, name: str) -> Container:
        """Docker's order: full ID, exact name, then a unique ID prefix."""
        return self.reader.get(name)

    def list(self) -> list[Container]:
        """Newest first."""
        return self.reader.list()

    def paths(self, cid: str) -> Paths:
        return Paths(self.home, cid)

    # state -------------------------------------------------------------------

    def state(self, cid: str) -> dict[str, Any]:
        """The run state alone (the state file, corrected for a dead monitor): cheap to poll."""
        return self.reader.state(cid)

    def monitor_died(self, cid: str, state: dict[str, Any]) -> dict[str, Any]:
        """The monitor was killed: kill what it left, unmount, and say so (the corrected state)."""
        for runtime in self.runtimes():
            runtime.delete(cid)  # --force: kills the container's processes first
        resources.remove_cgroups(cid)
        if self.networking is not None:
            self.networking.detach(cid)
        paths = self.paths(cid)
        rootfs.unmount_rootfs(paths)
        state = {**state, "Status": "exited", "Pid": 0, "ExitCode": state.get("ExitCode") or 137,
                 "FinishedAt": rfc3339_nano(), "Error": "monitor exited unexpectedly"}
        write_state(paths, state)
        return state

    # create ------------------------------------------------------------------

    def create(self, opts: CreateOptions) -> Container:
        if opts.name is not None and not VALID_NAME.fullmatch(opts.name):
            raise InvalidArgumentError(f'Invalid container name ({opts.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        if self.networking is None and opts.network not in ("none", "host"):
            raise InvalidArgumentError(f"network {opts.network} not found")
        image = self.images.resolve(opts.image)
        config = self.images.config(image.id).config
        process = merge_process(config, opts.overrides)
        specs = [parse_volume_flag(v) for v in opts.volumes] + [parse_mount_flag(m) for m in opts.mounts]
        taken = mount_targets(opts.volumes, opts.mounts)
        specs += [parse_mount_flag(m) for m in inherited_mounts(self.get, opts.volumes_from, taken)]
        linked = links.resolve(opts.links, opts.network, self.get)
        cid = new_id()
        host_network = opts.network == "host"
        hostname = opts.hostname or (os.uname().nodename if host_network else cid[:12])
        network = opts.network
        if network.startswith("container:"):  # its network namespace, hosts and resolv.conf (dockerd's checks first)
            n = opts.net
            check_container_network(opts.hostname, bool(opts.isolation.flags.dns), bool(n.extra_hosts),
                                    bool(n.publish or n.publish_all), bool(n.expose))
            network = "container:" + self.get(network[10:]).id
        if opts.hostname and opts.isolation.flags.uts_mode == "host":
            raise InvalidArgumentError("conflicting options: hostname and the UTS mode")
        isolation = opts.isolation.with_peers(lambda name: self.get(name).id)  # --pid/--ipc container:NAME
        isolation.validate()
        check = health.merged(opts.healthcheck, config.get("Healthcheck"))
        volumes = self.volumes.resolve(specs, list(config.get("Volumes") or {}))
        record = _record(opts, image.id, config, process, hostname, volumes)
        record["Config"].update(isolation.config(config))
        record["HostConfig"].update(isolation.host_config())
        record["Seccomp"] = opts.isolation.seccomp_profile
        record["HostConfig"].update(Links=[link.stored() for link in linked] or None,
                                    VolumesFrom=list(opts.volumes_from) or None)
        if check is not None:
            record["Config"]["Healthcheck"] = check.document()
        if self.networking is not None:
            net_config, net_host, record["Networking"] = self.networking.record_fields(network, opts.net, config)
            record["Config"].update(net_config)
            record["HostConfig"].update(net_host)
        paths = self.paths(cid)
        paths.dir.mkdir(parents=True)
        try:
            top = self._top_layer(image.id)
            container_layer.create(self.snapshotter, top, paths)
            copy_up(container_layer.union_mounts(self.snapshotter, top, paths), paths.rootfs, volumes)
            rootfs.write_etc_files(paths, hostname, host_network)
            if self.networking is not None:
                self.networking.write_hosts(paths.hosts, record)
            paths.log.touch(mode=0o640)
            created = rfc3339_nano()
            write_state(paths, {"Status": "created", "Pid": 0, "ExitCode": 0, "Error": "",
                                "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z"})
            self._insert(cid, opts, image.id, image.top_layer, created, record)
            if self.networking is not None:
                self.networking.join_at_create(cid, record, opts.net.others)
        except BaseException:
            rootfs.remove_dir(paths)
            self.volumes.undo(volumes)
            raise
        return self.get(cid)

    def _insert(self, cid: str, opts: CreateOptions, image_id: str, top: str | None, created: str, record: dict[str, Any]) -> None:
        for attempt in range(20):
            name = opts.name or random_name(attempt)
            try:
                self.records.insert(ContainerRecord.parse(cid, name, image_id, created, record), top, opts.image)
                container_event(self.db, "create", cid, name, record)
                return
            except sqlite3.IntegrityError:
                if opts.name is not None:
                    other = self.get(opts.name).id
                    raise ConflictError(
                        f'Conflict. The container name "/{opts.name}" is already in use by container "{other}". '
                        "You have to remove (or rename) that container to be able to reuse that name."
                    ) from None
        raise ConflictError("could not find a free container name")

    # start -------------------------------------------------------------------

    def start(self, container: Container, attach: socket.socket | None = None) -> subprocess.Popen[bytes] | None:
        """Spawn the monitor (None if already running). ``attach``: one end of a socket pair the monitor
        takes as its first attach client (the caller keeps the other end and must send HELLO on it).

        The monitor's exit status is the container's; its stderr carries only a start error.
        """
        if container.running:
            return None
        if self.networking is not None:
            self.networking.check_start(container.id, container.record)
            links.gather(container, self.get, self.networking.describe)  # dockerd's words for a child that is down
        fd = attach.fileno() if attach is not None else None
        if _threaded():
            # a fork of a threaded process (the API server) inherits other threads' sqlite state and locks
            # mid-use: the monitor starts as a new interpreter there
            return subprocess.Popen(
                self.monitor_argv(container.id, fd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True, pass_fds=() if fd is None else (fd,),
            )
        # a forked monitor skips a new interpreter's start; it keeps the root's lock (no sweep while it runs)
        keep = spawn.fds_of(self.home.parent / "lock") | ({fd} if fd is not None else set())
        return spawn.fork(lambda: self.monitor(container.id, fd), keep, self.db.close, self.db.reopen)  # type: ignore[return-value]

    def monitor(self, cid: str, attach_fd: int | None) -> int:
        """The monitor's body (runs in its own process): see ``container_monitor``."""
        from dockyard.runtime.container_monitor import monitor

        return monitor(self, cid, attach_fd)

    def wait_started(self, container: Container, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
        """For ``start``/``run -d``: return once the process runs (or ran), else raise the start error.

        The monitor closes its stderr once the process runs, so this sleeps in ``select`` rather than polling.
        """
        deadline = time.monotonic() + timeout
        fd = proc.stderr.fileno() if proc.stderr is not None else None
        message = b""
        while time.monotonic() < deadline:
            if fd is not None and select.select([fd], [], [], 0.05)[0]:
                chunk = os.read(fd, 1 << 16)
                message += chunk
                if chunk:
                    continue
                fd = None  # EOF: it runs, or its monitor is gone having said why
            elif fd is None:
                time.sleep(0.01)
            if proc.poll() is not None:
                if message.strip():
                    raise start_error(message.decode(errors="replace").strip(), proc.returncode)
                return
            state = self.state(container.id)
            if state.get("MonitorPid") == proc.pid and state.get("Status") in ("running", "exited", "restarting"):
                if state.get("Status") == "exited" and state.get("Error") and not state.get("Pid"):
                    # it never ran: the monitor wrote why before its state, which may come first to this look
                    raise start_error(state["Error"], int(state.get("ExitCode") or 125))
                return
        raise ContainerStartError("timed out waiting for the container to start", 125)

    def _top_layer(self, image_id: str) -> Digest | None:
        """The chain ID of the image's top layer (None: an image of no layers)."""
        image_row = self.db.image(image_id)
        return Digest.parse(image_row.top_layer) if image_row and image_row.top_layer else None

    def rootfs_mounts(self, container: Container) -> list[Mount]:
        """The union of the image's layers and the container's writable layer (a bind for vfs or no layers)."""
        return container_layer.union_mounts(self.snapshotter, self._top_layer(container.image_id), self.paths(container.id))

    # stop, remove ------------------------------------------------------------

    def stop(self, container: Container, timeout: float | None = None) -> None:
        """SIGTERM (or the stop signal), then SIGKILL after ``timeout`` (else ``--stop-timeout``, else 10) seconds.

        Idempotent; marks the container stopped by hand first, so no restart policy brings it back.
        """
        if not container.running:
            return
        mark_stopped(self.paths(container.id))
        sig = container.record["Config"].get("StopSignal") or "TERM"
        stored = container.record["Config"].get("StopTimeout")
        wait = timeout if timeout is not None else (stored if stored is not None else 10)
        runtime = self.runtime(container.record)
        if wait > 0:
            try:
                number = str(parse_signal(sig))  # an image's STOPSIGNAL may be any of Docker's spellings
            except InvalidArgumentError:
                number = "TERM"
            container_event(self.db, "kill", container.id, container.name, container.record, signal=number)
            signal_container(runtime, container, number)
            if self._wait_exit(container.id, wait):
                container_event(self.db, "stop", container.id, container.name, container.record)
                return
        container_event(self.db, "kill", container.id, container.name, container.record, signal="9")
        signal_container(runtime, container, "KILL")
        self._wait_exit(container.id, 30)
        container_event(self.db, "stop", container.id, container.name, container.record)

    def _wait_exit(self, cid: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(cid)
            if state.get("Status") not in ("running", "starting", "restarting", "paused") or not monitor_alive(state):
                # the monitor still tears down after writing "exited": wait for it to be gone
                while monitor_alive(state) and time.monotonic() < deadline + 10:
                    time.sleep(0.01)
                return True
            time.sleep(0.02)
        return False

    def remove(self, container: Container, *, force: bool = False, volumes: bool = False) -> None:
        """``volumes``: also remove the container's anonymous volumes (``rm -v``, ``--rm``)."""
        if container.state.get("Status") == "paused" and not force:
            raise ConflictError(
                f"You cannot remove a paused container {container.id}. "
                "Unpause and then stop the container before attempting removal or force remove"
            )
        if container.running:
            if not force:
                raise ConflictError(
                    f"You cannot remove a running container {container.id}. "
                    "Stop the container before attempting removal or force remove"
                )
            self.stop(container, timeout=0)
        runtime = self.runtime(container.record)
        if (runtime.state_root / container.id).exists():  # the monitor deleted it already, as a rule
            runtime.delete(container.id)
        resources.remove_cgroups(container.id)
        if self.networking is not None:
            self.networking.detach(container.id)
            self.networking.forget(container.id)
        paths = self.paths(container.id)
        rootfs.unmount_rootfs(paths)
        freed = self.records.delete(container.id, container.image_id)
        container_event(self.db, "destroy", container.id, container.name, container.record)
        self.release(freed.cache_ids)
        self.images.delete_content(freed.content)
        if volumes:
            self.volumes.remove_anonymous(container.record.get("Volumes", []))
        rootfs.remove_dir(paths)


def check_start_error(proc: subprocess.Popen[bytes]) -> None:
    """After the monitor exited: raise the start error it reported, if any."""
    message = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
    if message:
        raise start_error(message, proc.returncode)


def start_error(message: str, returncode: int | None) -> ContainerStartError:
    return ContainerStartError(message, returncode if returncode in (125, 126, 127) else 125)


def _config_volumes(opts: CreateOptions, volumes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Config.Volumes: the anonymous volumes of ``-v`` and the image; dockerd leaves ``--mount``'s out."""
    mounted = {parse_mount_flag(m).target for m in opts.mounts}
    return {v["destination"]: {} for v in volumes if v.get("anonymous") and v["destination"] not in mounted} or None


def _record(opts: CreateOptions, image_id: str, config: dict[str, Any], process: ProcessRecord, hostname: str,
            volumes: list[dict[str, Any]]) -> dict[str, Any]:
    o = opts.overrides
    return {
        "Image": opts.image,
        "Process": process.document(),
        "Config": {
            "Hostname": hostname, "Domainname": "", "User": o.user if o.user is not None else config.get("User", ""),
            "AttachStdin": opts.interactive and not opts.detach, "AttachStdout": not opts.detach,
            "AttachStderr": not opts.detach, "Tty": opts.tty, "OpenStdin": opts.interactive,
            "StdinOnce": opts.interactive and not opts.detach, "Env": list(process.env),
            "Cmd": list(o.cmd) if o.cmd or o.entrypoint else config.get("Cmd"),
            "Image": opts.image, "Volumes": _config_volumes(opts, volumes),
            "WorkingDir": o.workdir or config.get("WorkingDir", ""),
            "Entrypoint": list(o.entrypoint) if o.entrypoint is not None else config.get("Entrypoint"),
            "OnBuild": None, "Labels": config.get("Labels") or {}, "StopSignal": config.get("StopSignal"),
        },
        "HostConfig": {
            "Binds": [v for v in opts.volumes if ":" in v] or None,
            "Mounts": [{"Type": "volume" if "bind" not in m else "bind", "Spec": m} for m in opts.mounts] or None, "NetworkMode": "host" if opts.network == "host" else "none",
            "AutoRemove": opts.auto_remove, "SecurityOpt": ["no-new-privileges"] if opts.no_new_privileges else None,
        },
        "Volumes": volumes,
        "NoNewPrivileges": opts.no_new_privileges,
    }
