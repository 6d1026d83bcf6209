"""The ``networks`` table (schema in ``db``, migration 2): typed rows, plain reads, writes.

A row holds Docker's fields (name, driver, created) and a JSON ``config``:
``internal``, ``labels``, ``options`` (driver options, ``-o``), ``ipam_options``
(null: none given), and for bridge networks ``bridge`` (the Linux device), the
IPv4 pool's ``subnet``, ``gateway``, ``ip_range``, ``aux`` (name -> address),
``subnet_given``/``gateway_given`` (what the user chose), ``ipv6`` (the IPv6
pool, the same keys, when IPv6 is enabled) and ``nat`` (2: the forwarding
rules are in place). Reads
run on the process's connection without ``transaction()`` (WAL lets them
run beside a writer); writes run inside ``db.transaction()``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

from dockyard.errors import ConflictError, InvalidArgumentError, NotFoundError
from dockyard.metadata.db import Database

PREDEFINED = ("bridge", "host", "none")
_COLUMNS = "SELECT id, name, driver, created, config FROM networks"


class NetworkNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"network {name} not found")


@dataclass(frozen=True, slots=True)
class Network:
    """A row of ``networks``: a user or predefined network."""

    id: str
    name: str
    driver: str  # bridge, host, null
    created: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return str(self.config.get("bridge", ""))

    @property
    def subnet(self) -> str:
        return str(self.config.get("subnet", ""))

    @property
    def gateway(self) -> str:
        return str(self.config.get("gateway", ""))

    @property
    def internal(self) -> bool:
        return bool(self.config.get("internal"))

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("labels") or {})

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def options(self) -> dict[str, str]:
        return dict(self.config.get("options") or {})

    @property
    def ipv6(self) -> dict[str, Any]:
        """The IPv6 pool (``subnet``, ``gateway``, ...); empty when IPv6 is not enabled."""
        return dict(self.config.get("ipv6") or {})

    def pools(self) -> list[dict[str, Any]]:
        """The IPv4 pool then the IPv6 one, each ``{subnet, gateway, ip_range, aux, subnet_given, gateway_given}``."""
        v4 = [self.config] if self.subnet else []
        return v4 + ([self.ipv6] if self.ipv6.get("subnet") else [])


@dataclass(frozen=True, slots=True)
class IpamPool:
    """One entry of IPAM.Config: ``--subnet``, ``--ip-range``, ``--gateway``, ``--aux-address`` of one family."""

    subnet: str | None = None
    ip_range: str | None = None
    gateway: str | None = None
    aux_addresses: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class NetworkSpec:
    """What ``network create`` asks for: the options the engine takes and the runtime builds a network from.
    ``pools``: at most one IPv4 and one IPv6 pool; ``options``: driver options (``com.docker.network.*``)."""

    name: str
    driver: str = "bridge"
    pools: tuple[IpamPool, ...] = ()
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    ipv6: bool = False
    ipam_options: dict[str, str] | None = None


def _read(db: Database, sql: str, params: tuple[str, ...] = ()) -> list[Network]:
    # a plain read: no BEGIN IMMEDIATE, so listing never queues behind a writer
    rows = db._conn.execute(sql, params).fetchall()
    return [Network(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def list_networks(db: Database) -> list[Network]:
    """Every network, by name."""
    return sorted(_read(db, _COLUMNS), key=lambda n: n.name)


def get_network(db: Database, name: str) -> Network:
    """Docker's order: full ID, exact name, then a unique ID prefix."""
    rows = _read(db, f"{_COLUMNS} WHERE id=? OR name=?", (name, name))
    if not rows and name:
        rows = _read(db, f"{_COLUMNS} WHERE id >= ? AND id < ?", (name, name + "g"))
    if len(rows) > 1 and not any(n.id == name or n.name == name for n in rows):
        raise InvalidArgumentError(f"network {name} is ambiguous ({len(rows)} matches found based on ID prefix)")
    if not rows:
        raise NetworkNotFoundError(name)
    rows.sort(key=lambda n: (n.id != name, n.name != name))
    return rows[0]


def name_taken(db: Database, name: str) -> bool:
    return db._conn.execute("SELECT 1 FROM networks WHERE name=?", (name,)).fetchone() is not None


def insert_network(db: Database, net: Network) -> None:
    """Raises ConflictError when another command took the name meanwhile."""
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO networks VALUES (?,?,?,?,?)",
                         (net.id, net.name, net.driver, net.created, json.dumps(net.config)))
    except sqlite3.IntegrityError:
        raise ConflictError(f"network with name {net.name} already exists") from None


def update_config(db: Database, net: Network, config: dict[str, Any]) -> Network:
    with db.transaction() as conn:
        conn.execute("UPDATE networks SET config=? WHERE id=?", (json.dumps(config), net.id))
    return Network(net.id, net.name, net.driver, net.created, config)


def delete_network(db: Database, net_id: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM networks WHERE id=?", (net_id,))
