"""The composition root: reads configuration, picks implementations, wires them; the services live in this package's modules.

Opening an engine takes a shared lock on the root for the life of the
process. A process that finds itself alone (it gets the lock exclusively
first) sweeps what crashed processes left: ``tmp/``, partial blobs and layer
directories no metadata row names.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import sys
import tempfile
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.content.store import ContentStore
from dockyard.errors import InvalidArgumentError, NotFoundError, StorageError
from dockyard.image.store import ImageStore
from dockyard.metadata.db import Database
from dockyard.storage.driver import DRIVERS, Driver, snapshotter_for
from dockyard.storage.layers import LayerStoreImpl
from dockyard.storage.mount import overlay_supported

if TYPE_CHECKING:
    from dockyard.engine.build import BuildService
    from dockyard.engine.registry import PullPolicy, PullProgress, RegistryService
    from dockyard.image.store import Image
    from dockyard.engine.events import EventLog
    from dockyard.engine.system import SystemService
    from dockyard.engine.networks import NetworkService
    from dockyard.engine.volumes import VolumeService
    from dockyard.runtime.containers import ContainerStore
    from dockyard.runtime.network.attachment import ContainerNetworking
    from dockyard.runtime.volumes import VolumeStore
    from dockyard.storage.snapshotter import Snapshotter

DEFAULT_ROOT = "/var/lib/dockyard"
NETWORK_HOST_LOCK = Path("/run/dockyard/network.lock")  # host-wide: bridges and subnets are shared by every root


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
        self.content = ContentStore(root / "content")
        self.driver: Driver = self._driver(storage_driver)
        self.layers = LayerStoreImpl(self.db, self.driver)
        self.images = ImageStore(self.db, self.content, self.layers)
        self._containers: ContainerStore | None = None
        self._snapshotter: Snapshotter | None = None
        self._networking: ContainerNetworking | None = None
        self._registry: RegistryService | None = None
        self._builder: BuildService | None = None
        if alone:
            self._sweep()
        fcntl.flock(self._lock, fcntl.LOCK_SH)

    @property
    def containers(self) -> ContainerStore:
        """Built on first use: image commands start without loading the runtime."""
        if self._containers is None:
            from dockyard.runtime.containers import ContainerStore

            monitor = [sys.executable, "-m", "dockyard", "--root", str(self.root), "container-monitor"]
            self._containers = ContainerStore(
                self.root / "containers", self.db, self.images, self.driver, self.layers.cache_ids,
                self.layers.cleanup, lambda cid, fd: [*monitor, cid, *(["--attach-fd", str(fd)] if fd is not None else [])],
                self.root / "volumes", self.networking,
            )
            self._containers.snapshotter = self.snapshotter  # type: ignore[attr-defined]  # until its constructor takes it
        return self._containers

    @property
    def snapshotter(self) -> Snapshotter:
        """The driver's active layers (containers, build steps) over the layer store."""
        if self._snapshotter is None:
            self._snapshotter = snapshotter_for(self.driver, self.layers, self.tmp)
        return self._snapshotter

    @property
    def networking(self) -> ContainerNetworking:
        """Networks and container sandboxes (CNI); state under ``<root>/network``."""
        if self._networking is None:
            from dockyard.runtime.network.attachment import ContainerNetworking
            from dockyard.runtime.network.sandbox import Sandboxes
            from dockyard.runtime.network.store import NetworkStore

            networks = NetworkStore(self.db, self.root, NETWORK_HOST_LOCK)
            self._networking = ContainerNetworking(networks, Sandboxes(self.root / "network", networks))
        return self._networking

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

    @functools.cached_property
    def network_service(self) -> NetworkService:
        """``network ls`` and ``ps`` read rows and files only; CNI and the container runtime load when needed."""
        from dockyard.engine.networks import NetworkService

        return NetworkService(self.db, self.root / "network", lambda: self.networking, lambda: self.containers)

    @functools.cached_property
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

    def _driver(self, requested: str | None) -> Driver:
        marker = self.root / "storage-driver"
        stored = marker.read_text().strip() if marker.exists() else None
        if requested and requested not in DRIVERS:
            raise InvalidArgumentError(f"unknown storage driver {requested!r} (choose overlay2 or vfs)")
        if stored and requested and stored != requested:
            raise InvalidArgumentError(
                f"{self.root} holds images of the {stored} storage driver; use --storage-driver {stored} or another --root"
            )
        name = stored or requested or self._probe()
        if not stored:
            marker.write_text(name + "\n")
        return DRIVERS[name](self.root / name)  # type: ignore[abstract]

    def _probe(self) -> str:
        scratch = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            return "overlay2" if overlay_supported(scratch) else "vfs"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _sweep(self) -> None:
        from dockyard.build.workspace import sweep_mounts

        sweep_mounts(self.tmp)  # a killed build's step mounts, before tmp/ is cleared
        if any(n.startswith("build-") for n in (os.listdir(self.root / "runc") if (self.root / "runc").is_dir() else ())):
            from dockyard.runtime.runc import Runc
            from dockyard.runtime.step import sweep_steps

            sweep_steps(Runc(self.root / "runc"))  # a killed build's RUN container
        for name in os.listdir(self.tmp):
            path = self.tmp / name
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        self.content.sweep()
        self.layers.sweep()
        self._sweep_containers()
        if any((self.root / "network" / "sandboxes").glob("*.json")):  # sandboxes of containers that died with us
            self.networking.sweep(self._container_running)

    def _sweep_containers(self) -> None:
        """Containers a crash left without a database row: their processes, cgroups, mounts and files."""
        names = [n for r in ("containers", "runc", "crun") if (self.root / r).is_dir() for n in os.listdir(self.root / r)]
        if not names:
            return
        with self.db.transaction() as conn:
            known = {row[0] for row in conn.execute("SELECT id FROM containers")}
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
        return tempfile.mkstemp(dir=self.tmp, prefix="spool-")

    @property
    def registry(self) -> RegistryService:
        """Pull, push, login, search (engine/registry.py); built on first use."""
        if self._registry is None:
            from dockyard.engine.registry import RegistryService
            from dockyard.registry.client.credentials import default_config_dir

            self._registry = RegistryService(self.root, self.tmp, self.images, default_config_dir(os.environ))
        return self._registry

    def ensure_image(
        self, ref: str, pull: PullPolicy | str = "missing", platform: str | None = None, progress: PullProgress | None = None
    ) -> Image:
        """The local image ``ref``, pulled first when missing (or as ``pull`` says: missing, always, never)."""
        from dockyard.engine.registry import PullPolicy

        return self.registry.ensure_image(ref, PullPolicy(pull), platform, progress)

    @property
    def builder(self) -> BuildService:
        """Dockerfile builds and the build cache (engine/build.py); built on first use."""
        if self._builder is None:
            from dockyard.engine.build import BuildService

            self._builder = BuildService(self)
        return self._builder

    def close(self) -> None:
        self.db.close()
        self._lock.close()
