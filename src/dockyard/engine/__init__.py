"""The composition root: reads configuration, picks implementations, wires them; the services live in this package's modules.

Opening an engine takes a shared lock on the root for the life of the
process. A process that finds itself alone (it gets the lock exclusively
first) sweeps what crashed processes left: ``tmp/``, partial blobs and layer
directories no metadata row names.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dockyard.content.store import ContentStore
from dockyard.errors import InvalidArgumentError, NotFoundError, StorageError
from dockyard.image.store import ImageStore
from dockyard.metadata.db import Database
from dockyard.storage.driver import Driver, Overlay2, Vfs
from dockyard.storage.layers import LayerStoreImpl
from dockyard.storage.mount import overlay_supported

if TYPE_CHECKING:
    from dockyard.engine.containers import ContainerService
    from dockyard.runtime.containers import ContainerStore
    from dockyard.runtime.network.attachment import ContainerNetworking
    from dockyard.runtime.volumes import VolumeStore

DRIVERS = {"overlay2": Overlay2, "vfs": Vfs}
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
        self.db = Database(root / "dockyard.db")
        self.content = ContentStore(root / "content")
        self.driver: Driver = self._driver(storage_driver)
        self.layers = LayerStoreImpl(self.db, self.driver)
        self.images = ImageStore(self.db, self.content, self.layers)
        self._containers: ContainerStore | None = None
        self._container_service: ContainerService | None = None
        self._networking: ContainerNetworking | None = None
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
        return self._containers

    @property
    def container_service(self) -> ContainerService:
        """Container operations for the faces (engine/containers.py)."""
        if self._container_service is None:
            from dockyard.engine.containers import ContainerService

            self._container_service = ContainerService(self)
        return self._container_service

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
        from dockyard.metadata.containers import ContainerRecords

        known = ContainerRecords(self.db).ids()
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

    def build_services(self, pull: Callable[[str], None], progress: Any, clamp_mtime: float | None) -> Any:
        """The builder's parts (build.builder.Services): RUN steps through runc, layers and cache in this store."""
        from dockyard.build.builder import Services
        from dockyard.build.steps import Env
        from dockyard.runtime.runc import Runc
        from dockyard.runtime.step import RuncStepRunner

        runner = RuncStepRunner(Runc(self.root / "runc"), self.tmp)
        env = Env(self.driver, self.tmp, runner, clamp_mtime, self.root / "build-cache")
        return Services(self.images, self.layers.cache_ids, env, pull, progress)

    def build_cache(self) -> Any:
        """The build cache (build.cache.BuildCache) with its RUN cache mounts."""
        from dockyard.build.cache import BuildCache

        return BuildCache(self.db, self.layers, self.root / "build-cache")

    def close(self) -> None:
        self.db.close()
        self._lock.close()
