"""The system service (``engine.system``): ``info``, ``system df`` and ``system prune`` over every store.

Nothing here stores anything of its own: the counts, sizes and removals come
from the image store, the containers, volumes, networks and the build cache,
and prune calls each store's own removal in Docker's order (containers,
networks, volumes, images, build cache), so a stopped container's image and
network are free by the time their turn comes.
"""

from __future__ import annotations

import base64
import os
import platform
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from dockyard import __version__
from dockyard.errors import InvalidArgumentError, NotFoundError
from dockyard.oci.timefmt import parse_time

if TYPE_CHECKING:
    from dockyard.engine import Engine
    from dockyard.image.store import Image, Removal
    from dockyard.runtime.containers import Container

# statfs f_type magic -> the name Docker prints as "Backing Filesystem"
_FS_MAGIC = {"ef53": "extfs", "58465342": "xfs", "9123683e": "btrfs", "1021994": "tmpfs", "794c7630": "overlayfs",
             "2fc12fc1": "zfs", "6969": "nfs", "65735546": "fuse"}  # fmt: skip
_Keep = Callable[[float | None, dict[str, str]], bool]  # (created, labels) -> prune it?


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """What ``docker info`` reports about the server, for this store and host."""

    containers: int
    running: int
    paused: int
    stopped: int
    images: int
    server_version: str
    driver: str
    driver_status: tuple[tuple[str, str], ...]
    cgroup_driver: str
    cgroup_version: str
    runtimes: tuple[str, ...]
    default_runtime: str
    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str
    ncpu: int
    mem_total: int
    name: str
    id: str
    root_dir: str
    logging_driver: str = "json-file"
    os_type: str = "linux"
    security_options: tuple[str, ...] = ("name=seccomp,profile=default",)  # and name=rootless for a user's store


@dataclass(frozen=True, slots=True)
class ImageUsage:
    id: str
    tags: tuple[str, ...]  # familiar names, "repo:tag"
    created: datetime | None
    size: int
    shared_size: int
    containers: int


@dataclass(frozen=True, slots=True)
class ContainerUsage:
    id: str
    names: str
    image: str
    command: str
    local_volumes: int
    size_rw: int
    created: str
    status: str  # created, running, paused, restarting, exited, removing
    started_at: str
    finished_at: str
    exit_code: int

    @property
    def active(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True, slots=True)
class VolumeUsage:
    name: str
    driver: str
    links: int
    size: int


@dataclass(frozen=True, slots=True)
class CacheUsage:
    id: str
    size: int
    created: str
    shared: bool
    in_use: bool = False
    type: str = "regular"


@dataclass(frozen=True, slots=True)
class DiskUsage:
    layers_size: int
    images: tuple[ImageUsage, ...]
    containers: tuple[ContainerUsage, ...]
    volumes: tuple[VolumeUsage, ...]
    build_cache: tuple[CacheUsage, ...]


@dataclass(frozen=True, slots=True)
class PruneOptions:
    all: bool = False  # unused images, not only dangling ones
    volumes: bool = False
    until: tuple[float, ...] = ()  # unix times: only what was created before each
    labels: tuple[str, ...] = ()  # "key" or "key=value", all must be present
    not_labels: tuple[str, ...] = ()  # none may be present


@dataclass(frozen=True, slots=True)
class PruneReport:
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]
    images: tuple[Removal, ...]
    build_cache: tuple[str, ...]
    reclaimed: int


class SystemService:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # info ------------------------------------------------------------------

    def info(self) -> SystemInfo:
        engine = self._engine
        states = [c.state.get("Status", "created") for c in engine.containers.list()]
        running, paused = states.count("running"), states.count("paused")
        return SystemInfo(
            containers=len(states), running=running, paused=paused, stopped=len(states) - running - paused,
            images=len(engine.db.images()), server_version=__version__, driver=engine.driver.name,
            driver_status=self._driver_status(), cgroup_driver="cgroupfs", cgroup_version=_cgroup_version(),
            runtimes=_runtimes(), default_runtime="runc", kernel_version=platform.release(),
            operating_system=_os_release("PRETTY_NAME", "Linux"), os_version=_os_release("VERSION_ID", ""),
            architecture=platform.machine(), ncpu=os.cpu_count() or 1, mem_total=_mem_total(),
            name=socket.gethostname(), id=self._engine_id(), root_dir=str(engine.root),
            security_options=("name=seccomp,profile=default", *(("name=rootless",) if engine.rootless else ())),
        )

    def _driver_status(self) -> tuple[tuple[str, str], ...]:
        if self._engine.driver.name == "fuse-overlayfs":
            return (("Backing Filesystem", _backing_fs(str(self._engine.root))), ("Supports d_type", "true"))
        if self._engine.driver.name != "overlay2":
            return ()
        return (("Backing Filesystem", _backing_fs(str(self._engine.root))), ("Supports d_type", "true"),
                ("Native Overlay Diff", "true"), ("userxattr", "true" if self._engine.rootless else "false"))  # fmt: skip

    def _engine_id(self) -> str:
        """Docker's engine ID: 12 groups of 4 base32 characters, made once per root."""
        path = self._engine.root / "engine-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        text = base64.b32encode(os.urandom(30)).decode()[:48]
        value = ":".join(text[i : i + 4] for i in range(0, 48, 4))
        tmp = path.with_name(f".engine-id.{os.getpid()}")
        tmp.write_text(value + "\n")
        try:
            os.link(tmp, path)  # the first writer wins
        except FileExistsError:
            value = path.read_text().strip()
        finally:
            tmp.unlink()
        return value

    # df --------------------------------------------------------------------

    def disk_usage(self) -> DiskUsage:
        images, layers_size, image_chains = self._image_usage()
        return DiskUsage(layers_size, images, self._container_usage(), self._volume_usage(),
                         self._cache_usage(image_chains))  # fmt: skip

    def _image_usage(self) -> tuple[tuple[ImageUsage, ...], int, set[str]]:
        """Docker's rules: intermediate images (untagged, with children) are left out; a layer in
        two images is shared; the total counts each layer once."""
        store, db = self._engine.images, self._engine.db
        chains: dict[str, list[tuple[str, int]]] = {}
        refs: dict[str, int] = {}
        for row in db.images():
            stack = [(str(layer.chain_id), layer.size) for layer in store.layers_of(row)]
            chains[row.id] = stack
            for chain, _ in stack:
                refs[chain] = refs.get(chain, 0) + 1
        out = []
        for image in store.all():
            if not image.tags and db.children(image.row.id):
                continue
            stack = chains.get(image.row.id, [])
            shared = sum(size for chain, size in stack if refs[chain] > 1)
            out.append(ImageUsage(image.row.id, tuple(t.familiar for t in image.tags), image.config.created,
                                  image.row.size, shared, len(db.containers_using(image.row.id))))  # fmt: skip
        sizes = {chain: size for stack in chains.values() for chain, size in stack}
        return tuple(out), sum(sizes.values()), set(sizes)

    def _container_usage(self) -> tuple[ContainerUsage, ...]:
        from dockyard.runtime.container_fs import size_rw

        store = self._engine.containers
        out = []
        for c in store.list():
            state = c.state
            volumes = [v for v in c.record.get("Volumes", []) if v.get("type") == "volume"]
            out.append(ContainerUsage(
                c.id, c.name, str(c.record.get("Image", "")), " ".join(c.record["Process"]["args"]), len(volumes),
                size_rw(store, c), c.created, str(state.get("Status", "created")), str(state.get("StartedAt", "")),
                str(state.get("FinishedAt", "")), int(state.get("ExitCode", 0) or 0),
            ))  # fmt: skip
        return tuple(out)

    def _volume_usage(self) -> tuple[VolumeUsage, ...]:
        volumes = self._engine.volumes
        return tuple(VolumeUsage(v.name, v.driver, len(volumes.users(v.name)), volumes.size(v)) for v in volumes.list())

    def _cache_usage(self, image_chains: set[str]) -> tuple[CacheUsage, ...]:
        from dockyard.metadata.usage import build_cache_rows

        out, counted = [], set()
        for row in build_cache_rows(self._engine.db):
            layer = self._engine.db.layer(row.chain_id) if row.chain_id else None
            size = layer.size if layer and row.chain_id not in counted else 0
            counted.add(row.chain_id)
            out.append(CacheUsage(row.key.removeprefix("sha256:")[:25], size, row.created, row.chain_id in image_chains))
        return tuple(out)

    # prune -----------------------------------------------------------------

    def prune(self, options: PruneOptions) -> PruneReport:
        """Docker's order: stopped containers, unused networks, (volumes), unused images, build cache."""
        if options.volumes and options.until:
            raise InvalidArgumentError('The "until" filter is not supported with "--volumes"')
        keep = _keep(options)
        containers, container_space = self._prune_containers(keep)
        networks = self._prune_networks(keep)
        volumes, volume_space = self._prune_volumes(keep) if options.volumes else ((), 0)
        images, image_space = self._prune_images(options.all, keep)
        for kind, space in (("container", container_space), ("network", 0), *((("volume", volume_space),) if options.volumes else ()),
                            ("image", image_space)):  # fmt: skip
            self._engine.events.pruned(kind, space)
        # cache entries carry no labels or ages to filter on: with a filter the cache stays
        filtered = bool(options.until or options.labels or options.not_labels)
        report = None if filtered else self._engine.builder.prune()  # it logs its own prune event
        if report is None:
            self._engine.events.pruned("builder", 0)
        cache, cache_space = (report.removed, report.reclaimed) if report else ((), 0)
        return PruneReport(containers, networks, volumes, images, tuple(cache),
                           container_space + volume_space + image_space + cache_space)  # fmt: skip

    def _prune_containers(self, keep: _Keep) -> tuple[tuple[str, ...], int]:
        """Stopped containers; the integrator may route this through the container service's prune."""
        from dockyard.errors import DockyardError
        from dockyard.runtime.container_fs import size_rw

        store = self._engine.containers
        deleted, reclaimed = [], 0
        for c in store.list():
            if c.running or c.state.get("Status") in ("paused", "restarting", "starting"):
                continue
            if not keep(_created(c.created), c.record.get("Config", {}).get("Labels") or {}):
                continue
            size = size_rw(store, c)
            try:
                store.remove(c)
            except DockyardError:
                continue  # started or removed by another process meanwhile
            deleted.append(c.id)
            reclaimed += size
        return tuple(deleted), reclaimed

    def _prune_networks(self, keep: _Keep) -> tuple[str, ...]:
        """Custom networks no running container is on."""
        networking = self._engine.networking
        deleted = []
        for net in networking.networks.list():
            if net.predefined or not keep(_created(net.created), net.labels) or self._has_running(net.name):
                continue
            try:
                networking.networks.remove(net, [])
            except NotFoundError:
                continue
            deleted.append(net.name)
        return tuple(deleted)

    def _has_running(self, network: str) -> bool:
        for endpoint in self._engine.networking.sandboxes.members(network):
            try:
                if self._engine.containers.get(endpoint.container_id).running:
                    return True
            except NotFoundError:
                continue
        return False

    def _prune_volumes(self, keep: _Keep) -> tuple[tuple[str, ...], int]:
        removed, freed = self._engine.volumes.prune(lambda v: keep(None, v.labels or {}))
        return tuple(removed), freed

    def _prune_images(self, all_unused: bool, keep: _Keep) -> tuple[tuple[Removal, ...], int]:
        def select(image: Image) -> bool:
            if not all_unused and image.tags:
                return False
            created = image.config.created.timestamp() if image.config.created else 0.0
            return keep(created, image.config.labels)

        removals, reclaimed = self._engine.images.delete_unused(select)
        return tuple(removals), reclaimed


def _keep(options: PruneOptions) -> _Keep:
    """Docker's prune filters: created before every ``until``, every ``label`` present, no ``label!`` one."""

    def keep(created: float | None, labels: dict[str, str]) -> bool:
        if created is not None and any(created >= until for until in options.until):
            return False
        if any(_match_label(labels, item) for item in options.not_labels):
            return False
        return all(_match_label(labels, item) for item in options.labels)

    return keep


def _match_label(labels: dict[str, str], item: str) -> bool:
    key, sep, value = item.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _backing_fs(path: str) -> str:
    try:
        magic = subprocess.run(["stat", "-f", "-c", "%t", path], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "<unknown>"
    return _FS_MAGIC.get(magic, "<unknown>")


def _cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def _runtimes() -> tuple[str, ...]:
    import shutil

    return tuple(name for name in ("crun", "runc") if name == "runc" or shutil.which(name))


def _os_release(key: str, default: str) -> str:
    try:
        lines = open("/etc/os-release").read().splitlines()
    except OSError:
        return default
    for line in lines:
        name, _, value = line.partition("=")
        if name == key:
            return value.strip().strip('"')
    return default


def _mem_total() -> int:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _created(value: str) -> float | None:
    moment = parse_time(value)
    return moment.timestamp() if moment else None
