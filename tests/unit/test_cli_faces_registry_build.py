"""The registry, build and manifest commands are thin faces: they reach the work through ``dockyard.engine`` only.

Below the engine they may import only the types they print (``oci``) and the
errors they catch; never the registry client, the builder, the stores or
another command module.
"""

from __future__ import annotations

import grimp
import pytest

FACES = ("registry_client", "build", "build_progress", "registry_server", "manifest", "shared")
ENGINE_AND_TYPES = ("dockyard.engine", "dockyard.oci", "dockyard.errors")
CLI_HELPERS = ("dockyard.cli.context", "dockyard.cli.units", "dockyard.cli.format", "dockyard.cli.shared")
OWN_PARTS = {"dockyard.cli.build": ("dockyard.cli.build_progress",)}  # a command's own display module


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("dockyard", cache_dir=None)


@pytest.mark.parametrize("face", FACES)
def test_face_imports_only_the_engine_and_printed_types(graph: grimp.ImportGraph, face: str) -> None:
    module = f"dockyard.cli.{face}"
    allowed = ENGINE_AND_TYPES + CLI_HELPERS + OWN_PARTS.get(module, ())
    imported = graph.find_modules_directly_imported_by(module) - {"dockyard"}
    assert sorted(m for m in imported if not _within(m, allowed)) == []
