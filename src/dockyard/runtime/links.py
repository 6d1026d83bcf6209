"""Docker's legacy links (``--link NAME[:ALIAS]``, HostConfig.Links) on the default bridge.

A link is kept in the parent's record as ``CHILD_ID:ALIAS`` (HostConfig.Links), so a renamed child stays
linked; ``inspect`` shows ``/CHILD:/PARENT/ALIAS`` with the names of the moment, as dockerd builds it from its
link graph. The link's name ``PARENT/ALIAS`` also names the child (``rm --link`` removes it). At each start of
the parent (dockerd's setupLinkedContainers), every child must run on the bridge: the parent gets the child's
variables (``ALIAS_NAME``, ``ALIAS_PORT_...``, ``ALIAS_ENV_...``) and a hosts line ``IP ALIAS HOSTNAME NAME``.
On a user network, links are the endpoint's business (names resolve there anyway): dockerd registers none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from dockyard.errors import DockyardError, InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from dockyard.metadata.container_record import ContainerRecord
    from dockyard.metadata.containers import ContainerRecords
    from dockyard.runtime.container_state import Container

DEFAULT_BRIDGE = "bridge"


@dataclass(frozen=True, slots=True)
class Link:
    """One link of a parent: the child's ID and the alias the parent knows it by."""

    child: str
    alias: str

    @classmethod
    def parse(cls, stored: str) -> Link:
        child, _, alias = stored.partition(":")
        return cls(child, alias)

    def stored(self) -> str:
        return f"{self.child}:{self.alias}"


def parse_link(spec: str) -> tuple[str, str]:
    """Docker's ParseLink: ``NAME[:ALIAS]`` (the alias is the name when absent), or ``/NAME:/PARENT/ALIAS`` as
    inspect shows links (a HostConfig copied from another container)."""
    if not spec:
        raise InvalidArgumentError("empty string specified for links")
    parts = spec.split(":")
    if len(parts) > 2:
        raise InvalidArgumentError(f"bad format for links: {spec}")
    if len(parts) == 1:
        return spec, spec
    if parts[0].startswith("/"):
        return parts[0][1:], parts[1].rsplit("/", 1)[-1]
    return parts[0], parts[1]


def user_network(mode: str) -> bool:
    return mode not in ("", "default", "bridge", "host", "none") and not mode.startswith("container:")


def check_mode(mode: str, specs: tuple[str, ...]) -> None:
    """dockerd's validation of the parent's network mode against links."""
    if not specs:
        return
    if mode == "host":
        raise InvalidArgumentError("conflicting options: host type networking can't be used with links. "
                                   "This would result in undefined behavior")
    if mode.startswith("container:"):
        raise InvalidArgumentError("conflicting options: container type network can't be used with links. "
                                   "This would result in undefined behavior")


def resolve(specs: tuple[str, ...], mode: str, get: Callable[[str], Container]) -> tuple[Link, ...]:
    """The links of a new container (dockerd's registerLinks): every child must exist; none on a user network."""
    check_mode(mode, specs)
    if user_network(mode):
        return ()
    links: dict[str, Link] = {}
    for spec in specs:
        name, alias = parse_link(spec)
        try:
            child = get(name)
            while child.stored.host_config.network_mode.startswith("container:"):
                child = get(child.stored.host_config.network_mode[10:])
        except NotFoundError as exc:
            raise InvalidArgumentError(f"could not get container for {name}: {exc}") from None
        if child.stored.host_config.network_mode == "host":
            check_mode("host", specs)
        links[alias] = Link(child.id, alias)
    return tuple(links.values())


def of(host_config: dict[str, Any]) -> tuple[Link, ...]:
    return tuple(Link.parse(s) for s in host_config.get("Links") or ())


def unlink(records: ContainerRecords, parent: ContainerRecord, alias: str) -> None:
    """Drop the parent's link ``alias`` from its record."""
    kept = tuple(s for s in parent.host_config.links or () if Link.parse(s).alias != alias)
    records.replace(replace(parent, host_config=replace(parent.host_config, links=kept or None)))


# at start --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Linked:
    """A child as the parent's start sees it: where it is and what it offers."""

    alias_path: str  # /PARENT/ALIAS
    child_name: str
    hostname: str
    ip: str
    env: tuple[str, ...]
    exposed: tuple[str, ...]  # "80/tcp"


class LinkError(DockyardError):
    """A child the parent cannot start without (not running, not on the bridge)."""


def gather(parent: Container, get: Callable[[str], Container],
           addresses: Callable[[str], dict[str, dict[str, Any]]]) -> list[Linked]:
    """The children of a starting parent on the default bridge; LinkError as dockerd words it."""
    if parent.record["HostConfig"]["NetworkMode"] not in ("default", "bridge"):
        return []
    out = []
    for link in of(parent.record["HostConfig"]):
        try:
            child = get(link.child)
        except NotFoundError:
            continue  # removed since: dockerd's link graph forgets it with the child
        alias_path = f"/{parent.name}/{link.alias}"
        if not child.running:
            raise LinkError(f"Cannot link to a non running container: /{child.name} AS {alias_path}")
        bridge = addresses(child.id).get(DEFAULT_BRIDGE)
        if bridge is None:
            raise LinkError(f"container {child.id} not attached to default bridge network")
        config = child.record["Config"]
        out.append(Linked(alias_path, child.name, config.get("Hostname") or "", bridge["IPAddress"],
                          tuple(config.get("Env") or ()), tuple(config.get("ExposedPorts") or ())))
    return out


def hosts_entries(children: list[Linked]) -> list[str]:
    """``--add-host`` style ``NAMES:IP`` entries: the alias, the child's hostname, and its name unless that is
    the alias (dockerd's sandbox options for a legacy link)."""
    out = []
    for c in children:
        alias = c.alias_path.rsplit("/", 1)[-1]
        names = [alias, c.hostname] + ([c.child_name] if alias != c.child_name else [])
        out.append(f"{' '.join(n for n in names if n)}:{c.ip}")
    return out


def env(children: list[Linked]) -> list[str]:
    return [v for c in children for v in link_env(c)]


def _port(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return int(number), proto or "tcp"


def link_env(c: Linked) -> list[str]:
    """Docker 20.10's Link.ToEnv: the default port, ranges of contiguous ports, each port, the name, the
    child's environment (without HOME and PATH)."""
    alias = c.alias_path.rsplit("/", 1)[-1].upper().replace("-", "_")
    # nat.Sort: by number, tcp first at the same number
    ports = sorted((_port(k) for k in c.exposed), key=lambda p: (p[0], p[1] != "tcp"))
    out = []
    if ports:
        out.append(f"{alias}_PORT={ports[0][1]}://{c.ip}:{ports[0][0]}")
    i = 0
    while i < len(ports):
        number, proto = ports[i]
        j = _next_contiguous(ports, number, i)
        if j > i + 1:
            prefix, (end, end_proto) = f"{alias}_PORT_{number}_{proto.upper()}", ports[j]
            out += [f"{prefix}_START={proto}://{c.ip}:{number}", f"{prefix}_ADDR={c.ip}", f"{prefix}_PROTO={proto}",
                    f"{prefix}_PORT_START={number}",
                    f"{alias}_PORT_{number}_{end_proto.upper()}_END={end_proto}://{c.ip}:{end}",
                    f"{alias}_PORT_{number}_{end_proto.upper()}_PORT_END={end}"]
            i = j + 1
        else:
            i += 1
    for number, proto in ports:
        prefix = f"{alias}_PORT_{number}_{proto.upper()}"
        out += [f"{prefix}={proto}://{c.ip}:{number}", f"{prefix}_ADDR={c.ip}", f"{prefix}_PORT={number}",
                f"{prefix}_PROTO={proto}"]
    out.append(f"{alias}_NAME={c.alias_path}")
    for item in c.env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{alias}_ENV_{key}={value}")
    return out


def _next_contiguous(ports: list[tuple[int, str]], value: int, index: int) -> int:
    """Docker 20.10's nextContiguous: the last index of the run of numbers that follows ``value``."""
    if index + 1 == len(ports):
        return index
    for i in range(index + 1, len(ports)):
        if ports[i][0] > value + 1:
            return i - 1
        value += 1
    return len(ports) - 1
