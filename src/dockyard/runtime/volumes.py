"""Volumes: named and anonymous directories that outlive containers, and the mounts that use them.

A volume is the directory ``volumes/<name>/`` (Docker's layout): ``_data``
holds its files and ``volume.json`` its driver, labels, options, creation
time and whether it is anonymous. ``volume.json`` is written to a temporary
name and hard-linked into place, so it appears whole and only once (a
concurrent create of the same name finds it and returns it); a directory
without it (a crash before the link) is not a volume and is reused by the
next create of that name. Removal renames the directory to a hidden name
before deleting it. A container names its mounts in its record (``Volumes``): each
entry says its type (``volume`` or ``bind``), source, destination, mode, and
for volumes the name and whether the volume is anonymous (``rm -v`` and
``--rm`` remove those).

The spec grammar (``-v``, ``--mount``) is parsed here, so ``create`` resolves
every mount at once, before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable

from dockyard.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    StorageError,
)
from dockyard.metadata.db import Database
from dockyard.metadata.volumes import volume_users
from dockyard.oci.timefmt import rfc3339_nano

# ``volume ls`` imports this module: the mount and copy-up machinery (storage, archive, subprocess) and the
# removal tools (shutil, with its compression modules) load on use
if TYPE_CHECKING:
    from dockyard.storage.driver import Mount

# moby volume/local: names of the local driver
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_MODES = {"ro", "rw", "z", "Z", "nocopy", "rprivate", "private", "rshared", "shared", "rslave", "slave",
          "cached", "delegated", "consistent"}
LOCAL_OPTIONS = ("type", "device", "o", "size")
METADATA = "volume.json"


class VolumeNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such volume: {name}")


@dataclass(frozen=True, slots=True)
class Volume:
    """A named or anonymous volume as stored under the root."""

    name: str
    driver: str
    labels: dict[str, str] | None
    options: dict[str, str] | None
    created: str
    anonymous: bool
    mountpoint: Path


@dataclass(frozen=True, slots=True)
class MountSpec:
    """One ``-v``/``--mount`` value, parsed; ``source`` is a volume name, a host path or None (anonymous)."""

    type: str  # volume | bind | tmpfs
    source: str | None
    target: str
    readonly: bool = False
    mode: str = ""
    nocopy: bool = False
    propagation: str = ""
    tmpfs_options: tuple[str, ...] = ()  # size=, mode= for a tmpfs
    subpath: str = ""  # a volume's directory to mount instead of the whole (volume-subpath=, VolumeOptions.Subpath)


def _bad(spec: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid volume specification: '{spec}'")


def parse_volume_flag(spec: str) -> MountSpec:
    """``-v [SOURCE:]TARGET[:OPTIONS]``: SOURCE absolute is a bind, else a volume name; no SOURCE: anonymous."""
    parts = spec.split(":")
    if len(parts) == 1:
        parts = ["", parts[0]]
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        raise _bad(spec)
    source, target = parts[0], os.path.normpath(parts[1])
    mode = parts[2] if len(parts) == 3 else ""
    options = mode.split(",") if mode else []
    if any(o not in _MODES for o in options) or target == "/":
        raise _bad(spec)
    readonly = "ro" in options
    propagation = next((o for o in options if o.endswith(("private", "shared", "slave"))), "")
    if not source:
        return MountSpec("volume", None, target, readonly, mode, "nocopy" in options)
    if source.startswith("/"):
        return MountSpec("bind", os.path.normpath(source), target, readonly, mode, propagation=propagation or "rprivate")
    if not _VOLUME_NAME.fullmatch(source) and not re.fullmatch(r"[a-zA-Z0-9]", source):
        raise InvalidArgumentError(
            f'create {source}: "{source}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
        )
    return MountSpec("volume", source, target, readonly, mode or "z", "nocopy" in options)


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}


def _tmpfs_options(size: str | None, mode: str | None) -> tuple[str, ...]:
    """``tmpfs-size`` (bytes, or with k/m/g as Docker's RAMInBytes) and ``tmpfs-mode`` (octal)."""
    out: list[str] = []
    if size:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]*)", size)
        if not match or match.group(2).lower() not in _UNITS:
            raise InvalidArgumentError(f"invalid value for tmpfs-size: {size}")
        out.append(f"size={int(float(match.group(1)) * _UNITS[match.group(2).lower()])}")
    if mode:
        if not re.fullmatch(r"[0-7]{1,4}", mode):
            raise InvalidArgumentError(f"invalid value for tmpfs-mode: {mode}")
        out.append(f"mode={mode}")
    return tuple(out)


def _truthy(key: str, value: str | None) -> bool:
    if value is None or value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise InvalidArgumentError(f'invalid value for {key}: {value}')


def parse_mount_flag(spec: str) -> MountSpec:
    """``--mount type=bind|volume,source=…,target=…[,readonly][,volume-nocopy]`` (Docker's CSV fields)."""
    fields: dict[str, str | None] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        fields[key.strip().lower()] = value if sep else None
    kind = fields.pop("type", None) or "volume"
    source = fields.pop("source", None) or fields.pop("src", None)
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    readonly = any(_truthy(k, fields.pop(k)) for k in ("readonly", "ro") if k in fields)
    nocopy = "volume-nocopy" in fields and _truthy("volume-nocopy", fields.pop("volume-nocopy"))
    propagation = fields.pop("bind-propagation", None) or ""
    tmpfs = _tmpfs_options(fields.pop("tmpfs-size", None), fields.pop("tmpfs-mode", None))
    subpath = fields.pop("volume-subpath", None) or ""
    for unsupported in [k for k in fields if k not in ("consistency", "volume-driver")]:
        raise InvalidArgumentError(f"unexpected key '{unsupported}' in '{spec}'")
    if not target:
        raise InvalidArgumentError("target is required")
    if kind not in ("bind", "volume", "tmpfs"):
        raise InvalidArgumentError(f'invalid mount config for type "{kind}": mount type unknown')
    if kind == "tmpfs":
        if source:
            raise InvalidArgumentError('invalid mount config for type "tmpfs": field Source must not be specified')
        return MountSpec("tmpfs", None, os.path.normpath(target), readonly, tmpfs_options=tmpfs)
    if kind == "bind":
        if not source:
            raise InvalidArgumentError('invalid mount config for type "bind": field Source must not be empty')
        if not os.path.exists(source):
            raise InvalidArgumentError(f'invalid mount config for type "bind": bind source path does not exist: {source}')
        return MountSpec("bind", os.path.normpath(source), os.path.normpath(target), readonly,
                         "", propagation=propagation or "rprivate")
    if subpath:
        if not source:
            raise InvalidArgumentError('invalid mount config for type "volume": must not set Subpath when using anonymous volumes')
        if os.path.isabs(subpath) or os.path.normpath(subpath).split("/")[0] == "..":
            raise InvalidArgumentError('invalid mount config for type "volume": subpath must be a relative path within the volume')
    return MountSpec("volume", source, os.path.normpath(target), readonly, "z" if source else "", nocopy,
                     subpath=os.path.normpath(subpath) if subpath else "")


def subpath_source(base: str, subpath: str) -> str:
    """``base/subpath`` once it is known to exist beneath ``base`` with no symbolic link on the way (dockerd's
    safepath.Join; a link planted in a shared volume cannot point a mount outside it)."""
    fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for part in subpath.split("/"):
            try:
                nxt = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except OSError as exc:
                raise InvalidArgumentError(f"cannot access path {os.path.join(base, subpath)}: "
                                           f"{(exc.strerror or str(exc)).lower()}") from None
            os.close(fd)
            fd = nxt
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise InvalidArgumentError(f"cannot access path {os.path.join(base, subpath)}: "
                                           "too many levels of symbolic links")
    finally:
        os.close(fd)
    return os.path.join(base, subpath)


def bind_device(options: dict[str, str]) -> str | None:
    """The host directory of a local volume created with ``type=none,o=bind,device=DIR`` (Compose files use
    it to name a host directory), else None. dockerd mounts it on ``_data``; a container mounts it directly."""
    if options.get("type") != "none" or "bind" not in options.get("o", "").split(",") or set(options) - {"type", "o", "device"}:
        return None
    device = options.get("device", "")
    if not os.path.isabs(device):
        return None
    return os.path.normpath(device)


class VolumeStore:
    """Lifecycle: ``create`` (idempotent for an existing name) → used by containers → ``remove`` once unused."""

    def __init__(self, home: Path, db: Database) -> None:
        self.home = home
        self.db = db
        self._made: set[str] = set()  # volumes this process created (``undo`` removes them)

    def _path(self, name: str) -> Path:
        return self.home / name / "_data"

    def _read(self, name: str) -> Volume | None:
        try:
            meta = json.loads((self.home / name / METADATA).read_text())
        except (OSError, ValueError):
            return None
        return Volume(name, meta["Driver"], meta["Labels"], meta["Options"], meta["CreatedAt"], bool(meta["Anonymous"]),
                      self._path(name))

    def get(self, name: str) -> Volume:
        volume = self._read(name) if _VOLUME_NAME.fullmatch(name) or re.fullmatch(r"[a-zA-Z0-9]", name) else None
        if volume is None:
            raise VolumeNotFoundError(name)
        return volume

    def list(self) -> list[Volume]:
        try:
            names = sorted(n for n in os.listdir(self.home) if not n.startswith("."))
        except FileNotFoundError:
            return []
        return [v for v in map(self._read, names) if v is not None]

    def create(self, name: str | None = None, *, driver: str = "local", labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, anonymous: bool = False) -> Volume:
        """Docker returns an existing volume of that name unchanged; ``name=None`` makes an anonymous one."""
        if driver != "local":
            raise InvalidArgumentError(f'create {name or ""}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        if name is None:
            name, anonymous = os.urandom(32).hex(), True
        elif not _VOLUME_NAME.fullmatch(name):
            if re.fullmatch(r"[a-zA-Z0-9]?", name):
                raise InvalidArgumentError(f"create {name}: volume name is too short, names should be at least two alphanumeric characters")
            raise InvalidArgumentError(
                f'create {name}: "{name}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'
            )
        for key in options or {}:
            if key not in LOCAL_OPTIONS:
                raise InvalidArgumentError(f'create {name}: invalid option key: "{key}"')
        if options and bind_device(options) is None:
            raise InvalidArgumentError(f"create {name}: driver options (-o) other than a bind "
                                       "(type=none, o=bind, device=DIR) are not supported by dockyard's local driver yet")
        return self._create(name, {"Driver": driver, "Labels": labels, "Options": options,
                                   "CreatedAt": rfc3339_nano(time.time_ns() // 10**9 * 10**9), "Anonymous": anonymous})

    def _create(self, name: str, meta: dict[str, Any]) -> Volume:
        self._path(name).mkdir(parents=True, exist_ok=True)
        tmp = self.home / name / f".{METADATA}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(meta, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, self.home / name / METADATA)  # fails if it exists: the first create wins
            self._made.add(name)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        fd = os.open(self.home / name, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        from dockyard.metadata.events import record as record_event  # not at import: ``volume ls`` emits nothing

        record_event(self.db, "volume", "create", name, {"driver": str(meta["Driver"])})  # Docker: for an existing one too
        return self.get(name)

    def users(self, name: str) -> list[str]:
        """IDs of the containers that mount volume ``name``."""
        return volume_users(self.db, name)

    def remove(self, name: str, *, force: bool = False) -> None:
        """Refuses a volume in use, even with ``force`` (as Docker); ``force`` ignores a missing one."""
        users = self.users(name)
        if users:
            raise ConflictError(f"remove {name}: volume is in use - [{', '.join(users)}]")
        try:
            self.get(name)
            doomed = self.home / f".removing-{name}-{os.urandom(4).hex()}"
            os.rename(self.home / name, doomed)
        except (VolumeNotFoundError, FileNotFoundError):
            if not force:
                raise VolumeNotFoundError(name) from None
            return
        from dockyard.metadata.events import record as record_event

        record_event(self.db, "volume", "destroy", name, {"driver": "local"})
        import shutil

        shutil.rmtree(doomed, ignore_errors=True)

    def prune(self, select: Callable[[Volume], bool]) -> tuple[list[str], int]:
        """Remove unused volumes ``select`` picks; return their names and the bytes freed."""
        removed: list[str] = []
        freed = 0
        import shutil

        for leftover in self.home.glob(".removing-*"):  # a removal a crash interrupted
            shutil.rmtree(leftover, ignore_errors=True)
        for volume in self.list():
            if not select(volume) or self.users(volume.name):
                continue
            size = self.size(volume)
            try:
                self.remove(volume.name)
            except (ConflictError, VolumeNotFoundError):
                continue  # taken or removed by another process meanwhile
            removed.append(volume.name)
            freed += size
        return removed, freed

    @staticmethod
    def size(volume: Volume) -> int:
        from dockyard.archive.apply import directory_size

        try:
            return directory_size(volume.mountpoint)
        except OSError:
            return 0

    # mounts of a container -------------------------------------------------

    def resolve(self, specs: list[MountSpec], image_volumes: list[str]) -> list[dict[str, Any]]:
        """Create the volumes ``specs`` and the image's VOLUME paths need; return the record's mount entries.

        On error the volumes made here are removed again.
        """
        targets = [s.target for s in specs]
        dupes = {t for t in targets if targets.count(t) > 1}
        if dupes:
            raise InvalidArgumentError(f"Duplicate mount point: {min(dupes)}")
        specs = specs + [MountSpec("volume", None, os.path.normpath(p)) for p in image_volumes
                         if os.path.normpath(p) not in targets]
        entries: list[dict[str, Any]] = []
        try:
            for spec in specs:
                entries.append(self._entry(spec))
        except BaseException:
            self.undo(entries)
            raise
        return entries

    def _entry(self, spec: MountSpec) -> dict[str, Any]:
        entry = {"type": spec.type, "destination": spec.target, "readonly": spec.readonly, "mode": spec.mode,
                 "propagation": spec.propagation}
        if spec.type == "bind":
            assert spec.source is not None
            return {**entry, "source": spec.source, "name": None}
        if spec.type == "tmpfs":
            return {**entry, "source": "", "name": None, "tmpfs_options": list(spec.tmpfs_options)}
        volume = self.create(spec.source) if spec.source else self.create(None)
        device = bind_device(volume.options or {})
        return {**entry, "source": device or str(volume.mountpoint), "name": volume.name, "driver": volume.driver,
                "anonymous": spec.source is None, "nocopy": spec.nocopy, **({"subpath": spec.subpath} if spec.subpath else {})}

    def undo(self, entries: list[dict[str, Any]]) -> None:
        """A create that failed after ``resolve``: remove the volumes it made, so nothing is left behind."""
        self.remove_anonymous([{**e, "anonymous": True} for e in entries if e.get("name") in self._made])

    def remove_anonymous(self, entries: list[dict[str, Any]]) -> None:
        """``rm -v`` / ``--rm``: drop the anonymous volumes of a removed container (others may still use them)."""
        for entry in entries:
            if entry.get("anonymous"):
                try:
                    self.remove(entry["name"], force=True)
                except ConflictError:
                    pass


def _wants_copy(entry: dict[str, Any]) -> bool:
    if entry.get("type") != "volume" or entry.get("nocopy") or entry.get("subpath"):
        return False
    data = Path(entry["source"])
    return not data.is_dir() or not any(data.iterdir())


def copy_up(mounts: list[Mount], root: Path, entries: list[dict[str, Any]]) -> None:
    """At ``create``, as Docker: each empty volume gets the image's content at its mount path.

    The container's union is mounted in a private mount namespace for the copy only.
    """
    if not any(_wants_copy(e) for e in entries):
        return
    from dockyard.runtime import fsview
    from dockyard.runtime.rootfs import secure_join

    view = fsview.View(root, tuple(mounts))

    def work() -> None:
        mounted = fsview.enter(view, secure_join)
        populate(entries, lambda path: secure_join(mounted, path))

    fsview.run_private(work)


def populate(entries: list[dict[str, Any]], resolve_in_root: Callable[[str], Path]) -> None:
    """Docker's copy-up: an empty volume mounted over a directory of the image gets that directory's content.

    ``resolve_in_root`` maps a container path to the host path inside the mounted root filesystem.
    """
    for entry in entries:
        if not _wants_copy(entry):
            continue
        data = Path(entry["source"])
        data.mkdir(parents=True, exist_ok=True)
        image_dir = resolve_in_root(entry["destination"])
        if not image_dir.is_dir() or image_dir.is_symlink() or any(data.iterdir()):
            continue
        st = image_dir.stat()
        os.chown(data, st.st_uid, st.st_gid)
        os.chmod(data, st.st_mode & 0o7777)
        if any(image_dir.iterdir()):
            import subprocess

            # GNU cp keeps owners, modes, xattrs, links and devices
            result = subprocess.run(["cp", "-a", f"{image_dir}/.", str(data)], capture_output=True, text=True)
            if result.returncode != 0:
                raise StorageError(f"copy image content into volume {entry['name']}: {result.stderr.strip()}")
