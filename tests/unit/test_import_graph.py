"""The import graph: no cycles, and the command line reaches the work only through the engine.

Imports under ``if TYPE_CHECKING:`` are annotations, not imports that run: they may name a type
from anywhere (a face prints typed reports), and they cannot form a cycle at run time. Every
other import counts, including those inside functions.
"""

from __future__ import annotations

import grimp
import pytest

# what a face may import besides the engine and the other CLI modules: the errors it catches and the
# pure data types (digests, references, times) it parses from flags and prints
BELOW_ENGINE_ALLOWED = ("dockyard.errors", "dockyard.oci")


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("dockyard", cache_dir=None, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    cyclic = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        cyclic.add_module(module)
    cyclic.add_import(importer="pkg.a", imported="pkg.b")
    cyclic.add_import(importer="pkg.b", imported="pkg.a")
    cyclic.add_import(importer="pkg.c", imported="pkg.a")
    assert _cycles(cyclic) == [["pkg.a", "pkg.b"]]


# the one edge between the faces: ``system service`` is the CLI command that starts the API face
FACE_TO_FACE_ALLOWED = {("dockyard.cli.system_service", "dockyard.api.server")}


@pytest.mark.parametrize("face", ["dockyard.cli", "dockyard.api"])
def test_faces_import_nothing_below_the_engine(graph: grimp.ImportGraph, face: str) -> None:
    """Each face reaches the work through the engine only, and never calls the other face."""
    below = {
        (module, imported)
        for module in graph.find_descendants(face) | {face}
        for imported in graph.find_modules_directly_imported_by(module)
        if _within(imported, ("dockyard",))
        and not _within(imported, (face, "dockyard.engine", *BELOW_ENGINE_ALLOWED))
        and imported != "dockyard"
        and (module, imported) not in FACE_TO_FACE_ALLOWED
    }
    assert sorted(below) == []


def test_command_modules_do_not_import_each_other(graph: grimp.ImportGraph) -> None:
    """Shared helpers live in leaf modules; a command module never imports another command module."""
    from dockyard.cli.commands import COMMANDS, HIDDEN

    commands = {f"dockyard.cli.{m}" for spec in (*COMMANDS.values(),) for m in spec[3] if m != "container_group"}
    commands |= {f"dockyard.cli.{m}" for modules in HIDDEN.values() for m in modules}
    crossing = sorted(
        (module, imported)
        for module in commands if module in graph.modules
        for imported in graph.find_modules_directly_imported_by(module)
        if imported in commands and imported != module
    )
    assert crossing == []
