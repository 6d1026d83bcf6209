"""The volume service: ``volume create/ls/inspect/rm/prune`` with typed options in and typed reports out.

Listing reads the volume directories and, only for ``dangling``, the
containers table; it loads none of the mount machinery, so ``volume ls``
starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import InvalidArgumentError
from dockyard.metadata.db import Database
from dockyard.metadata.volumes import volume_uses
from dockyard.runtime.volumes import Volume, VolumeStore

LS_FILTERS = frozenset({"dangling", "name", "label", "driver"})
PRUNE_FILTERS = frozenset({"label", "label!"})


@dataclass(frozen=True, slots=True)
class VolumeCreateOptions:
    """What ``volume create`` asks for."""

    name: str | None = None  # None: an anonymous volume
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VolumeFilters:
    """``--filter`` of ``volume ls`` and ``volume prune``, parsed and checked."""

    name: tuple[str, ...] = ()
    driver: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    label_not: tuple[str, ...] = ()  # label!=
    dangling: bool | None = None

    @classmethod
    def parse(cls, values: list[str], allowed: frozenset[str] = LS_FILTERS) -> VolumeFilters:
        """Docker's errors: ``bad format of filter``, ``Invalid filter 'KEY'``."""
        found: dict[str, list[str]] = {}
        for value in values:
            key, sep, arg = value.partition("=")
            if not sep:
                raise InvalidArgumentError("bad format of filter (expected name=value)")
            found.setdefault(key.strip().lower(), []).append(arg)
        for key in found:
            if key not in allowed:
                raise InvalidArgumentError(f"Invalid filter '{key}'")
        dangling = found.get("dangling", [])
        if any(v.lower() not in ("true", "false", "1", "0") for v in dangling):
            raise InvalidArgumentError(f"Invalid filter 'dangling={dangling[-1]}'")
        return cls(tuple(found.get("name", ())), tuple(found.get("driver", ())), tuple(found.get("label", ())),
                   tuple(found.get("label!", ())), dangling[-1].lower() in ("true", "1") if dangling else None)

    def matches(self, volume: Volume, used: set[str]) -> bool:
        """``used``: names of the volumes some container mounts (read only for ``dangling``)."""
        if self.dangling is not None and self.dangling == (volume.name in used):
            return False
        if self.name and not any(n in volume.name for n in self.name):
            return False
        if self.driver and volume.driver not in self.driver:
            return False
        if any(_labels_match([e], volume.labels, default=False) for e in self.label_not):
            return False
        return _labels_match(list(self.label), volume.labels)


def _labels_match(wanted: list[str], labels: dict[str, str] | None, *, default: bool = True) -> bool:
    found = labels or {}
    pairs = [w.partition("=") for w in wanted]
    return all(k in found and (not sep or found[k] == v) for k, sep, v in pairs) if pairs else default


@dataclass(frozen=True, slots=True)
class VolumePruneReport:
    """The volumes ``volume prune`` removed and the bytes it freed."""

    deleted: tuple[str, ...]
    reclaimed: int  # bytes


class VolumeService:
    def __init__(self, store: VolumeStore, db: Database) -> None:
        self.store = store
        self.db = db

    def create(self, opts: VolumeCreateOptions) -> Volume:
        """Idempotent for an existing name (Docker returns it unchanged)."""
        # none given: null, as dockerd stores it
        return self.store.create(opts.name, driver=opts.driver, labels=opts.labels or None, options=opts.options or None)

    def list(self, filters: VolumeFilters = VolumeFilters()) -> list[Volume]:
        used = {u.volume for u in volume_uses(self.db)} if filters.dangling is not None else set()
        return [v for v in self.store.list() if filters.matches(v, used)]

    def inspect(self, name: str) -> Volume:
        """Raises VolumeNotFoundError."""
        return self.store.get(name)

    def remove(self, name: str, *, force: bool = False) -> None:
        """Raises VolumeNotFoundError (not with ``force``), ConflictError while a container uses it."""
        self.store.remove(name, force=force)

    def prune(self, filters: VolumeFilters = VolumeFilters()) -> VolumePruneReport:
        """Every unused volume the filters pick (Docker 20.10's prune: named ones too)."""
        from dockyard.engine.events import EventLog

        removed, freed = self.store.prune(lambda v: filters.matches(v, set()))
        EventLog(self.db).pruned("volume", freed)
        return VolumePruneReport(tuple(removed), freed)
