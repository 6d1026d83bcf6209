"""The network and volume services over a real database and volume directory: rows, filters, and what
listing imports (``network ls``/``volume ls`` must not load CNI, runc, iptables or subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.engine.network_json import network_json
from dockyard.engine.network_reports import NetworkReport
from dockyard.engine.networks import NetworkFilters
from dockyard.engine.volume_json import inspect_mounts, volume_json
from dockyard.engine.volumes import PRUNE_FILTERS, VolumeCreateOptions, VolumeFilters, VolumeService
from dockyard.errors import ConflictError, InvalidArgumentError
from dockyard.metadata.db import Database
from dockyard.metadata.networks import (
    Network,
    NetworkNotFoundError,
    delete_network,
    get_network,
    insert_network,
    list_networks,
)
from dockyard.metadata.volumes import volume_uses, volume_users
from dockyard.runtime.volumes import VolumeNotFoundError, VolumeStore

HEAVY = ("dockyard.runtime.network.cni", "dockyard.runtime.network.iptables", "dockyard.runtime.network.store",
         "dockyard.runtime.network.attachment", "dockyard.runtime.runc", "dockyard.runtime.containers", "subprocess")


def _add_container(db: Database, cid: str, volumes: list[str]) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO images VALUES ('img', NULL, NULL, '', 0, 0)")
        config = {"Volumes": [{"type": "volume", "name": v, "source": f"/v/{v}", "destination": f"/{v}",
                               "readonly": False} for v in volumes]}
        conn.execute("INSERT INTO containers VALUES (?,?,?,?,?)", (cid, f"c-{cid}", "img", "", json.dumps(config)))


def test_network_rows(db: Database) -> None:
    assert [n.name for n in list_networks(db)] == ["bridge", "host", "none"]
    insert_network(db, Network("ab" * 32, "mynet", "bridge", "2026-01-01T00:00:00Z", {"labels": {"a": "1"}}))
    with pytest.raises(ConflictError, match="network with name mynet already exists"):
        insert_network(db, Network("cd" * 32, "mynet", "bridge", "2026-01-01T00:00:00Z", {}))
    assert get_network(db, "mynet").labels == {"a": "1"}
    assert get_network(db, "abab").name == "mynet"  # an ID prefix
    with pytest.raises(NetworkNotFoundError, match="network nope not found"):
        get_network(db, "nope")
    delete_network(db, "ab" * 32)
    assert "mynet" not in {n.name for n in list_networks(db)}


def test_network_filters(db: Database) -> None:
    insert_network(db, Network("ef" * 32, "web", "bridge", "", {"labels": {"tier": "front"}}))
    nets = list_networks(db)

    def names(*values: str) -> list[str]:
        return [n.name for n in nets if NetworkFilters.parse(list(values)).matches(n)]

    assert names("type=custom") == ["web"]
    assert names("type=builtin") == ["bridge", "host", "none"]
    assert names("label=tier=front", "name=we") == ["web"]
    assert names("label=tier=back") == []
    assert names("driver=null") == ["none"]
    with pytest.raises(InvalidArgumentError, match="Invalid filter 'colour'"):
        NetworkFilters.parse(["colour=red"])


def test_network_inspect_json(db: Database) -> None:
    net = Network("12" * 32, "n1", "bridge", "then", {"subnet": "10.9.0.0/24", "gateway": "10.9.0.1",
                                                     "subnet_given": True, "gateway_given": False})
    doc = network_json(NetworkReport(net, ()))
    assert doc["IPAM"] == {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.9.0.0/24"}]}
    assert doc["Containers"] == {} and doc["Options"] == {} and doc["Name"] == "n1"


def test_volume_users_and_dangling(db: Database, tmp_path: Path) -> None:
    service = VolumeService(VolumeStore(tmp_path / "volumes", db), db)
    for name in ("used", "free", "used2"):
        service.create(VolumeCreateOptions(name, labels={"k": name}))
    _add_container(db, "c1", ["used", "used2"])
    _add_container(db, "c2", ["used"])
    assert volume_users(db, "used") == ["c1", "c2"]
    assert {(u.container_id, u.volume) for u in volume_uses(db)} == {("c1", "used"), ("c1", "used2"), ("c2", "used")}
    assert [v.name for v in service.list(VolumeFilters.parse(["dangling=true"]))] == ["free"]
    assert [v.name for v in service.list(VolumeFilters.parse(["dangling=0", "name=2"]))] == ["used2"]
    assert [v.name for v in service.list(VolumeFilters.parse(["label=k=free"]))] == ["free"]
    with pytest.raises(ConflictError, match=r"volume is in use - \[c1, c2\]"):
        service.remove("used")
    report = service.prune(VolumeFilters.parse(["label!=k=used"], PRUNE_FILTERS))
    assert report.deleted == ("free",)
    with pytest.raises(VolumeNotFoundError, match="No such volume: free"):
        service.inspect("free")
    assert volume_json(service.inspect("used"))["Labels"] == {"k": "used"}


@pytest.mark.parametrize(("values", "message"), [
    (["dangling"], "bad format of filter"), (["size=1"], "Invalid filter 'size'"),
    (["dangling=maybe"], "Invalid filter 'dangling=maybe'"),
])  # fmt: skip
def test_volume_filter_errors(values: list[str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        VolumeFilters.parse(values)
    with pytest.raises(InvalidArgumentError):
        VolumeFilters.parse(["name=x"], PRUNE_FILTERS)


def test_inspect_mounts() -> None:
    record = {"Volumes": [{"type": "bind", "source": "/h", "destination": "/c", "readonly": True},
                          {"type": "volume", "name": "v", "source": "/s", "destination": "/d", "readonly": False}]}
    mounts = inspect_mounts(record)
    assert mounts[0] == {"Type": "bind", "Source": "/h", "Destination": "/c", "Mode": "ro", "RW": False,
                         "Propagation": "rprivate"}
    assert mounts[1]["Name"] == "v" and mounts[1]["Driver"] == "local"


def test_listing_imports_no_runtime_machinery(tmp_path: Path) -> None:
    """What ``network ls``, ``volume ls`` and ``ps``'s network columns run, in a fresh interpreter: they load
    nothing heavy beyond what the composition root (``dockyard.engine``) itself imports."""
    code = f"""
import sys
from pathlib import Path
import dockyard.engine
root = set(sys.modules)
import dockyard.cli.networks, dockyard.cli.volumes
from dockyard.engine.networks import NetworkService
from dockyard.engine.volumes import VolumeFilters, VolumeService
from dockyard.metadata.db import Database
from dockyard.runtime.volumes import VolumeStore
db = Database(Path({str(tmp_path)!r}) / "m.db")
def fail():
    raise AssertionError("listing loaded the runtime")
service = NetworkService(db, Path({str(tmp_path)!r}) / "network", fail, fail)
assert len(service.list()) == 3
class Stopped:  # what ps hands over: a container record (a stand-in for runtime.containers.Container)
    id, running = "c" * 64, False
    record = {{"HostConfig": {{"NetworkMode": "default"}}, "Config": {{}}, "Networking": {{"Aliases": ["web"]}}}}
report = service.of_container(Stopped(), ids=False)
assert [(e.network, e.aliases, e.live) for e in report.endpoints] == [("bridge", ("web",), None)], report
VolumeService(VolumeStore(Path({str(tmp_path)!r}) / "volumes", db), db).list(VolumeFilters.parse(["dangling=1"]))
print(" ".join(m for m in {HEAVY!r} if m in sys.modules and m not in root))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_cli_modules_stay_above_the_engine() -> None:
    """The network and volume faces parse, call the engine and print: outside TYPE_CHECKING they import only
    CLI modules that are not commands, the engine and the error classes."""
    import grimp

    graph = grimp.build_graph("dockyard", exclude_type_checking_imports=True, cache_dir=None)
    commands = {"dockyard.cli.networks", "dockyard.cli.volumes", "dockyard.cli.containers"}
    for module in ("dockyard.cli.networks", "dockyard.cli.volumes", "dockyard.cli.shared"):
        imported = graph.find_modules_directly_imported_by(module)
        below = {m for m in imported if not m.startswith(("dockyard.cli.", "dockyard.engine")) and m != "dockyard.errors"}
        assert not below, (module, below)
        assert not imported & commands, (module, imported & commands)
