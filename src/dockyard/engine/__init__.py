"""The composition root: reads configuration, picks implementations, wires them; the services live in this package's modules.

Opening an engine takes a shared lock on the root for the life of the
process. A process that finds itself alone (it gets the lock exclusively
first) sweeps what crashed processes left: ``tmp/``, partial blobs and layer
directories no metadata row names.
"""

from __future__ import annotations

import fcntl
import os
import sys
from functools import cached_property
from pathlib import Path

from dockyard.errors import InvalidArgumentError, NotFoundError, StorageError
from dockyard.metadata.db import Database

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

    from dockyard.content.store import ContentStore
    from dockyard.engine.build import BuildService
    from dockyard.engine.events import EventLog
    from dockyard.engine.images import ImageService
    from dockyard.engine.networks import NetworkService
    from dockyard.engine.registry import PullPolicy, PullProgress, RegistryService
    from dockyard.engine.system import SystemService
    from dockyard.engine.volumes import VolumeService
    from dockyard.image.store import Image, ImageStore
    from dockyard.metadata.db import ImageRow
    from dockyard.engine.containers import ContainerService
    from dockyard.runtime.containers import ContainerStore
    from dockyard.runtime.network.attachment import ContainerNetworking
    from dockyard.runtime.volumes import VolumeStore
    from dockyard.storage.driver import Driver
    from dockyard.storage.graph import GraphDriver
    from dockyard.storage.layers import LayerStoreImpl
    from dockyard.storage.snapshotter import Snapshotter

# The stores are built on first use, so a command imports only the layers it touches
# (``images`` reads metadata and never loads the storage driver or the tar code).
DRIVERS = ("overlay2", "fuse-overlayfs", "vfs")
OVERLAY_LAYOUT = ("overlay2", "fuse-overlayfs")  # layer dirs in Docker's overlay2 layout, with short links in l/
DEFAULT_ROOT = "/var/lib/dockyard"
NETWORK_LOCK = "network.lock"  # in the run dir, host-wide for root: bridges and subnets are shared by every root


def default_root() -> Path:
    """``--root`` when not given: ``DOCKYARD_ROOT``, else root's store, or a user's (engine/rootless.py)
    when started by one (its namespace's 0 too)."""
    env = os.environ.get("DOCKYARD_ROOT")
    if env:
        return Path(env)
    if os.getuid() == 0:
        with open("/proc/self/uid_map") as f:
            if f.read().split() == ["0", "0", "4294967295"]:  # the initial user namespace: root itself
                return Path(DEFAULT_ROOT)
    from dockyard.engine.rootless import user_paths

    return user_paths().root


def enter_user_namespace() -> None:
    """Before a command touches layers or containers, a user's process joins (or makes) its user namespace,
    where layer files keep their owners. Nothing for root, nor inside the namespace (uid 0 there)."""
    if os.getuid() != 0:
        from dockyard.engine.rootless import join_user_namespace

        join_user_namespace()


def dockyard_command() -> list[str]:
    """``dockyard`` as a new interpreter that finds this process's modules without site processing (~40 ms a start,
    as the launcher skips it): where a threaded process (the API service) cannot fork a container's monitor."""
    paths = [p for p in sys.path if p]  # '' would be the child's working directory, not this one's
    boot = f"import sys; sys.path[:] = {paths!r}; from dockyard.cli.main import entry; entry()"
    return [sys.executable, "-S", "-c", boot]


class Engine:
    def __init__(self, root: Path, storage_driver: str | None = None) -> None:
        root = Path(os.path.abspath(root))  # mounts and runc run elsewhere: a relative --root would not reach them
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.tmp = root / "tmp"
            self.tmp.mkdir(exist_ok=True)
            self._lock = open(root / "lock", "a+")
        except OSError as exc:
            raise StorageError(f"cannot use root {root}: {exc.strerror}") from exc
        alone = self._try_exclusive()
        self.alone = alone  # no other dockyard process had the root open when this one started
        self.db = Database(root / "dockyard.db")
        self.driver_name = self._driver_name(storage_driver)
        self.driver_home = root / self.driver_name
        # the driver's directories exist from the first open, as the driver makes them (the driver
        # object itself is built on first use)
        (self.driver_home / "l" if self.driver_name in OVERLAY_LAYOUT else self.driver_home).mkdir(parents=True, exist_ok=True)
        if alone:
            self._sweep()
        fcntl.flock(self._lock, fcntl.LOCK_SH)

    @cached_property
    def rootless(self) -> bool:
        """Started by an unprivileged user (and running in its user namespace)."""
        from dockyard.engine.rootless import is_rootless

        return is_rootless()

    @cached_property
    def run_dir(self) -> Path:
        """Run-time state outside the store: ``/run/dockyard`` for root, the user's own dir when rootless
        (engine/rootless.py)."""
        from dockyard.engine.rootless import ROOT_RUN_DIR, private_run_dir, user_paths

        run_dir = user_paths().run_dir
        return run_dir if run_dir == ROOT_RUN_DIR else private_run_dir(run_dir)

    @cached_property
    def driver(self) -> Driver:
        if self.driver_name == "overlay2":
            from dockyard.storage.overlay2 import Overlay2

            return Overlay2(self.driver_home, userxattr=self.rootless)
        if self.driver_name == "fuse-overlayfs":
            from dockyard.storage.overlay2 import FuseOverlay

            return FuseOverlay(self.driver_home)
        from dockyard.storage.vfs import Vfs

        return Vfs(self.driver_home)

    @cached_property
    def layers(self) -> LayerStoreImpl:
        from dockyard.storage.layers import LayerStoreImpl

        return LayerStoreImpl(self.db, self.driver)

    @cached_property
    def content(self) -> ContentStore:
        from dockyard.content.store import ContentStore

        return ContentStore(self.root / "content")

    @cached_property
    def images(self) -> ImageStore:
        """The image store; its layer store (storage, tar code) is built only when an operation needs layers."""
        from dockyard.image.store import ImageStore

        return ImageStore(self.db, self.content, lambda: self.layers, self._remove_layer_dirs)

    def _remove_layer_dirs(self, cache_ids: list[str]) -> None:
        """What ``rmi`` deletes on disk: the driver alone, without the layer store's tar code."""
        for cache_id in cache_ids:
            self.driver.remove(cache_id)

    @cached_property
    def image_service(self) -> ImageService:
        """What the image commands do: list, inspect, history, tag, rmi, save, load, import, prune."""
        from dockyard.engine.images import ImageService

        return ImageService(self)

    @cached_property
    def containers(self) -> ContainerStore:
        """Built on first use: image commands start without loading the runtime."""
        from dockyard.runtime.containers import ContainerStore

        monitor = [*dockyard_command(), "--root", str(self.root), "container-monitor"]
        return ContainerStore(
            self.root / "containers", self.db, self.images, self.snapshotter, self.layers.cleanup,
            lambda cid, fd: [*monitor, cid, *(["--attach-fd", str(fd)] if fd is not None else [])],
            self.root / "volumes", self.networking,
        )

    def graph_driver(self, image: ImageRow | None, key: str | None = None, merged: str | None = None) -> GraphDriver:
        """Docker's GraphDriver of ``image`` (``key`` None) or of the active layer ``key`` over it, from metadata
        alone: ``inspect`` loads neither the driver nor the layer store."""
        from dockyard.storage.graph import graph_driver

        cache_ids = [row.cache_id for row in self.db.layer_chain(image.top_layer)] if image and image.top_layer else []
        return graph_driver(self.driver_name, self.driver_home, cache_ids, key, merged)

    @cached_property
    def snapshotter(self) -> Snapshotter:
        """The driver's active layers (containers, build steps) over the layer store."""
        return self.driver.snapshotter(self.layers, self.tmp)

    @cached_property
    def container_service(self) -> ContainerService:
        """Container operations for the faces (engine/containers.py)."""
        from dockyard.engine.containers import ContainerService

        return ContainerService(self)

    @cached_property
    def networking(self) -> ContainerNetworking:
        """Networks and container sandboxes (CNI); state under ``<root>/network``."""
        return self.networking_on(self.db)

    def networking_on(self, db: Database) -> ContainerNetworking:
        """The same over another connection to the store's database (a build's worker threads need their own).
        Rootless: slirp4netns and the user's rootless network namespace (runtime/network/rootless_netns.py)."""
        from dockyard.runtime import userns
        from dockyard.runtime.network.attachment import ContainerNetworking
        from dockyard.runtime.network.sandbox import Sandboxes
        from dockyard.runtime.network.store import NetworkStore

        if userns.in_user_namespace():
            from dockyard.runtime.network.rootless_netns import networking

            return ContainerNetworking(*networking(db, self.root, self.run_dir))
        networks = NetworkStore(db, self.root, self.run_dir / NETWORK_LOCK)
        return ContainerNetworking(networks, Sandboxes(self.root / "network", networks))

    @property
    def volumes(self) -> VolumeStore:
        """The volume commands use it alone, without loading the container runtime."""
        from dockyard.runtime.volumes import VolumeStore

        return VolumeStore(self.root / "volumes", self.db)

    @cached_property
    def events(self) -> EventLog:
        """The event log (engine/events.py): what commands did, for ``events``."""
        from dockyard.engine.events import EventLog

        return EventLog(self.db)

    @cached_property
    def system(self) -> SystemService:
        """``info``, ``system df`` and ``system prune`` (engine/system.py)."""
        from dockyard.engine.system import SystemService

        return SystemService(self)

    @cached_property
    def network_service(self) -> NetworkService:
        """``network ls`` and ``ps`` read rows and files only; CNI and the container runtime load when needed."""
        from dockyard.engine.networks import NetworkService

        return NetworkService(self.db, self.root / "network", lambda: self.networking, lambda: self.containers)

    @cached_property
    def volume_service(self) -> VolumeService:
        from dockyard.engine.volumes import VolumeService

        return VolumeService(self.volumes, self.db)

    def _try_exclusive(self) -> bool:
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(self._lock, fcntl.LOCK_SH)
            return False
        return True

    def _driver_name(self, requested: str | None) -> str:
        marker = self.root / "storage-driver"
        try:
            stored: str | None = marker.read_text().strip()
        except FileNotFoundError:
            stored = None
        if requested and requested not in DRIVERS:
            raise InvalidArgumentError(f"unknown storage driver {requested!r} (choose overlay2, fuse-overlayfs or vfs)")
        if stored and requested and stored != requested:
            raise InvalidArgumentError(
                f"{self.root} holds images of the {stored} storage driver; use --storage-driver {stored} or another --root"
            )
        name = stored or requested or self._probe()
        if not stored:
            marker.write_text(name + "\n")
        return name

    def _probe(self) -> str:
        from dockyard.storage.mount import overlay_supported

        import shutil
        import tempfile

        scratch = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            if overlay_supported(scratch, userxattr=self.rootless):
                return "overlay2"
            # a user namespace where the kernel refuses overlay: fuse-overlayfs (Podman's fallback too)
            if self.rootless and shutil.which("fuse-overlayfs") and overlay_supported(scratch, fuse=True):
                return "fuse-overlayfs"
            return "vfs"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _sweep(self) -> None:
        """Each step looks first and imports the code that cleans only when there is something to clean."""
        leftovers = os.listdir(self.tmp)
        if leftovers and _mounted_under(self.tmp):
            from dockyard.build.workspace import sweep_mounts

            sweep_mounts(self.tmp)  # a killed build's step mounts, before tmp/ is cleared
        if any(n.startswith("build-") for n in (os.listdir(self.root / "runc") if (self.root / "runc").is_dir() else ())):
            from dockyard.runtime.runc import Runc
            from dockyard.runtime.step import sweep_steps

            sweep_steps(Runc(self.root / "runc"))  # a killed build's RUN container
        for name in leftovers:
            import shutil

            path = self.tmp / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        ingest = self.root / "content" / "ingest"
        if ingest.is_dir() and os.listdir(ingest):
            self.content.sweep()
        if self._layer_leftovers():
            self.layers.sweep()
        self._sweep_containers()
        if any((self.root / "network" / "sandboxes").glob("*.json")):  # sandboxes of containers that died with us
            self.networking.sweep(self._container_running)

    def _layer_leftovers(self) -> bool:
        """A driver directory no layer row names, or (overlay2) a short link to a removed layer."""
        try:
            names = set(os.listdir(self.driver_home))
        except FileNotFoundError:
            return False
        has_links = "l" in names
        names.discard("l")
        if names - self.db.cache_ids():
            return True
        # every overlay2 layer has one short link: more links than layers means a dangling one
        # (counted, not followed: a stat per layer at every start costs more than the rest of the check)
        return self.driver_name in OVERLAY_LAYOUT and has_links and len(os.listdir(self.driver_home / "l")) != len(names)

    def _sweep_containers(self) -> None:
        """Containers a crash left without a database row: their processes, cgroups, mounts and files."""
        names = [n for r in ("containers", "runc", "crun") if (self.root / r).is_dir() for n in os.listdir(self.root / r)]
        if not names:
            return
        known = self.db.container_ids()
        if any(n not in known for n in names):
            from dockyard.runtime.orphans import sweep

            sweep(self.root, known)

    def _container_running(self, cid: str) -> bool:
        """Asking corrects the state of a container whose monitor died (and detaches its network)."""
        try:
            return self.containers.get(cid).running
        except NotFoundError:
            return False

    def spool_file(self) -> tuple[int, str]:
        """A temporary file under the root, on the store's filesystem (swept if we crash)."""
        import tempfile

        return tempfile.mkstemp(dir=self.tmp, prefix="spool-")

    @cached_property
    def registry(self) -> RegistryService:
        """Pull, push, login, search (engine/registry.py); built on first use."""
        from dockyard.engine.registry import RegistryService
        from dockyard.registry.client.credentials import default_config_dir

        return RegistryService(self.root, self.tmp, self.images, default_config_dir(os.environ))

    def ensure_image(
        self, ref: str, pull: PullPolicy | str = "missing", platform: str | None = None, progress: PullProgress | None = None
    ) -> Image:
        """The local image ``ref``, pulled first when missing (or as ``pull`` says: missing, always, never)."""
        from dockyard.engine.registry import PullPolicy

        return self.registry.ensure_image(ref, PullPolicy(pull), platform, progress)

    @cached_property
    def builder(self) -> BuildService:
        """Dockerfile builds and the build cache (engine/build.py); built on first use."""
        from dockyard.engine.build import BuildService

        return BuildService(self)

    def close(self) -> None:
        self.db.close()
        self._lock.close()


def _mounted_under(path: Path) -> bool:
    """Whether anything is mounted below ``path`` (what a killed build leaves in tmp/)."""
    prefix = os.path.realpath(path) + "/"
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4].startswith(prefix) for line in f)
