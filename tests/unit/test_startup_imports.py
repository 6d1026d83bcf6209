"""Light commands import only what they need: no tar code, registry client, builder or container runtime.

Each command runs in a fresh interpreter (as a user runs it) that records ``sys.modules`` on exit;
the test checks what was imported, not how long it took.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.helpers import images

HEAVY = ("dockyard.archive", "dockyard.registry", "dockyard.build", "dockyard.runtime", "dockyard.storage")
# where inspect's GraphDriver comes from: the layout worked out from metadata, without driver or layer store
GRAPH = {"dockyard.storage", "dockyard.storage.graph"}
# What the container read commands may load: the run state reader beside the record (metadata/) and,
# until ps stops building it, the container store.
CONTAINER_READS = {
    "dockyard.runtime", "dockyard.runtime.containers", "dockyard.runtime.container_state", "dockyard.runtime.attach",
    "dockyard.runtime.console", "dockyard.runtime.logs",
}  # fmt: skip
# what ``inspect`` brings (~8 ms): dataclasses asks for it only to write a docstring for a record without one
INSPECT_TREE = {"ast", "dis", "tokenize"}

# rmi deletes a layer directory through its storage driver's module alone (no tar code)
RMI_NEEDS = {
    "dockyard.storage", "dockyard.storage.overlay2", "dockyard.storage.vfs", "dockyard.storage.dirs",
    "dockyard.storage.mount",
}  # fmt: skip

RECORD = """
import json, os, sys
from dockyard.cli.main import main
try:
    code = main(sys.argv[1:])
finally:
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(sorted(sys.modules), f)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("the store's layers need root")
    base = tmp_path_factory.mktemp("startup")
    tar = images.busybox_rootfs_tar(base / "busybox.tar")
    root = base / "root"
    subprocess.run([sys.executable, "-m", "dockyard", "--root", str(root), "import", str(tar), "bb:1"], check=True, capture_output=True)
    return root


def imported(root: Path, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    proc = subprocess.run(
        [sys.executable, "-c", RECORD, "--root", str(root), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, "MODULES_OUT": str(out)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(out.read_text()))


def heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith(HEAVY)} - GRAPH


@pytest.mark.parametrize("args", [
    ["images"], ["image", "ls", "-a"], ["image", "inspect", "bb:1"], ["history", "bb:1"], ["tag", "bb:1", "bb:2"],
    ["--version"], ["--help"], ["version"],
])  # fmt: skip
def test_image_reads_import_no_heavy_module(store: Path, tmp_path: Path, args: list[str]) -> None:
    modules = imported(store, tmp_path, *args)
    assert "dockyard.cli.main" in modules
    assert heavy(modules) == set()
    assert not {"aiohttp", "urllib3", "tarfile", "dockyard.cli.build", "dockyard.cli.registry_client"} & modules


def test_rmi_imports_only_the_storage_driver(store: Path, tmp_path: Path) -> None:
    layer = tmp_path / "one.tar"
    with tarfile.open(layer, "w") as tf:
        info = tarfile.TarInfo("only-file")
        tf.addfile(info, io.BytesIO(b""))
    subprocess.run([sys.executable, "-m", "dockyard", "--root", str(store), "import", str(layer), "one:1"], check=True, capture_output=True)
    modules = imported(store, tmp_path, "rmi", "one:1")
    assert "dockyard.storage.overlay2" in modules or "dockyard.storage.vfs" in modules  # the layer's directory was deleted
    assert heavy(modules) - RMI_NEEDS == set()


def test_version_flag_imports_no_parser(store: Path, tmp_path: Path) -> None:
    modules = imported(store, tmp_path, "--version")
    assert not {"argparse", "dataclasses", "sqlite3", "dockyard.engine"} & modules


@pytest.mark.parametrize("args", [["ps", "-a"], ["inspect", "bb:1"]])
def test_container_reads_import_only_the_container_store(store: Path, tmp_path: Path, args: list[str]) -> None:
    modules = imported(store, tmp_path, *args)
    assert heavy(modules) - CONTAINER_READS == set()


@pytest.fixture(scope="module")
def container(store: Path) -> str:
    """A created container: ps and inspect then read a record, a state file and network files."""
    subprocess.run([sys.executable, "-m", "dockyard", "--root", str(store), "create", "--name", "light", "bb:1", "true"],
                   check=True, capture_output=True)  # fmt: skip
    return "light"


# what reading a container may load below the engine: its run state beside the record, and the network
# files its NetworkSettings come from (not CNI, the spec builder, a storage driver or the layer store)
CONTAINER_READ_ONLY = {
    "dockyard.runtime", "dockyard.runtime.container_state", "dockyard.runtime.network",
    "dockyard.runtime.network.records",
}  # fmt: skip
# the template engine, which a default table needs none of, the image config's record types, and the image
# store (a container names its image by ID; its GraphDriver comes from the layer rows)
NOT_FOR_CONTAINER_READS = {
    "dockyard.cli.gotemplate.execute", "dockyard.cli.gotemplate.parser", "dockyard.oci.config", "dockyard.image.store",
}  # fmt: skip


@pytest.mark.parametrize("args", [["ps", "-a"], ["inspect", "light"], ["container", "inspect", "light"]])
def test_container_reads_load_no_runtime_machinery(store: Path, container: str, tmp_path: Path, args: list[str]) -> None:
    modules = imported(store, tmp_path, *args)
    assert heavy(modules) - CONTAINER_READ_ONLY == set()
    assert NOT_FOR_CONTAINER_READS & modules == set()
    assert INSPECT_TREE & modules == set()


@pytest.mark.parametrize("args", [
    ["images"], ["image", "inspect", "bb:1"], ["history", "bb:1"], ["tag", "bb:1", "bb:3"], ["ps", "-a"],
    ["volume", "ls"], ["network", "ls"],
])  # fmt: skip
def test_light_commands_never_load_inspect(store: Path, tmp_path: Path, args: list[str]) -> None:
    """Every record class on these paths has a docstring, so dataclasses never needs ``inspect``."""
    assert INSPECT_TREE & imported(store, tmp_path, *args) == set()


@pytest.mark.parametrize("args", [["volume", "ls"], ["network", "ls"], ["images"], ["ps", "-a"]])
def test_listings_load_no_event_log_or_log_format(store: Path, tmp_path: Path, args: list[str]) -> None:
    """Listing writes no event and reads no container log: neither module loads."""
    assert {"dockyard.metadata.events", "dockyard.runtime.logs"} & imported(store, tmp_path, *args) == set()
