"""The container commands are a face over ContainerService: they import the engine, never the layers below it
(except, for type checking, the records they print), and the shared helpers import no command module."""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

CONTAINER_CLI = ("attach", "container_files", "container_logs", "containers", "isolation",
                 "lifecycle", "shared", "terminal")
COMMAND_MODULES = ("attach", "build", "container_files", "container_logs", "containers", "images", "lifecycle",
                   "networks", "registry_client", "registry_server", "volumes")
FACE_MAY_IMPORT = ("dockyard.cli", "dockyard.engine", "dockyard.errors", "dockyard.oci")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("dockyard", exclude_type_checking_imports=True)


@pytest.mark.parametrize("name", CONTAINER_CLI)
def test_container_commands_import_nothing_below_the_engine(graph: grimp.ImportGraph, name: str) -> None:
    imported = graph.find_modules_directly_imported_by(f"dockyard.cli.{name}")
    below = sorted(m for m in imported if m.startswith("dockyard.") and not m.startswith(FACE_MAY_IMPORT))
    assert below == []


def test_the_shared_helpers_import_no_command_module(graph: grimp.ImportGraph) -> None:
    imported = graph.find_modules_directly_imported_by("dockyard.cli.shared")
    assert sorted(m for m in imported if m.removeprefix("dockyard.cli.") in COMMAND_MODULES) == []


def test_no_import_cycle_through_the_container_modules(graph: grimp.ImportGraph) -> None:
    modules = [m for m in graph.modules if m.startswith(("dockyard.engine.container", "dockyard.runtime.container",
                                                         "dockyard.metadata.container"))]
    assert len(modules) >= 8
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            assert not graph.chain_exists(imported, module), f"{module} <-> {imported}"


def test_ps_and_inspect_load_no_runtime_beyond_the_container_record() -> None:
    """What reading containers imports (the state file and record readers, not runc, networks, volumes, specs)."""
    code = (
        "import sys; from dockyard.engine import containers, container_json; "
        "from dockyard.runtime import container_state; "
        "print(sorted(m for m in sys.modules if m.startswith(('dockyard.runtime', 'dockyard.build', 'dockyard.registry'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['dockyard.runtime', 'dockyard.runtime.container_state']"


def test_the_start_up_sweep_reads_container_ids_without_the_record_classes() -> None:
    code = "import sys, dockyard.metadata.containers; print('dockyard.metadata.container_record' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
