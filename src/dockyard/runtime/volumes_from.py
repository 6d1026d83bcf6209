"""Docker's ``VolumesFrom`` (``--volumes-from``, Compose's ``volumes_from``): a new container mounts the
volumes and binds of other containers at the same paths, as ``--mount`` values the create already parses.
HostConfig.VolumesFrom keeps the references as given; the mounts show in the container's Mounts, not in
HostConfig.Mounts, as in dockerd.

Each reference is ``CONTAINER[:ro|:rw]``: ``ro`` makes every inherited mount read-only; ``rw`` (Compose's
default) keeps each mount's own mode, as dockerd never makes a read-only mount writable. A path the new container mounts itself wins over an inherited one, as in dockerd.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.metadata.container_record import MountRecord
    from dockyard.runtime.container_state import Container


def inherited_mounts(get: Callable[[str], Container], refs: Iterable[str], taken: set[str]) -> tuple[str, ...]:
    """The ``--mount`` values for ``refs``; ContainerNotFoundError (404) for an unknown container."""
    out: list[str] = []
    for ref in refs:
        name, _, mode = ref.partition(":")
        if mode not in ("", "ro", "rw") or not name:
            raise InvalidArgumentError(f"invalid mode: {mode}")
        for m in get(name).stored.mounts:
            if m.type == "tmpfs" or m.destination in taken:
                continue
            taken.add(m.destination)
            out.append(_mount_flag(m, m.readonly or mode == "ro"))
    return tuple(out)


def _mount_flag(m: MountRecord, readonly: bool) -> str:
    if m.type == "volume":
        flag = f"type=volume,source={m.name},target={m.destination}"
    else:
        flag = f"type=bind,source={m.source},target={m.destination}"
        if m.propagation:
            flag += f",bind-propagation={m.propagation}"
    return flag + (",readonly" if readonly else "")


def mount_targets(volumes: Iterable[str], mounts: Iterable[str]) -> set[str]:
    """The container paths ``-v`` values (``[SRC:]DEST[:MODE]``) and ``--mount`` values (``target=``) name."""
    targets = set()
    for v in volumes:
        parts = v.split(":")
        targets.add(parts[1] if len(parts) > 1 else parts[0])
    for m in mounts:
        for field in m.split(","):
            key, _, value = field.partition("=")
            if key in ("target", "destination", "dst"):
                targets.add(value)
    return targets
