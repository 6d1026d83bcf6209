"""main builds only the parser of the command a command line names: the table must match what the modules register."""

from __future__ import annotations

import argparse

import pytest

from dockyard.cli.commands import COMMANDS, HIDDEN, SUBCOMMANDS
from dockyard.cli.main import build_parser, command_word, command_words, known


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_table_matches_the_modules() -> None:
    everything = _commands(build_parser())
    present = {name for name in (*COMMANDS, *HIDDEN) if known(name)}
    assert set(everything) == present
    assert {"images", "run", "ps", "inspect", "version", "container", "image", "container-monitor"} <= present
    for group, children in SUBCOMMANDS.items():
        if group in everything:
            declared = set(_commands(everything[group]))
            assert set(children) <= declared, (group, set(children) - declared)


@pytest.mark.parametrize("name", sorted(n for n in COMMANDS if known(n)))
def test_each_command_builds_alone(name: str) -> None:
    declared = _commands(build_parser([name]))
    if name == "container":  # its children are the container commands themselves: it declares them all
        assert name in declared and {"run", "ps", "rm"} <= set(declared)
    else:
        assert set(declared) == {name}


@pytest.mark.parametrize(("words", "expected"), [
    (["image", "ls"], {"ls", "list"}), (["image", "list"], {"ls", "list"}), (["image", "pull"], {"pull"}),
    (["container", "ls"], {"ls", "list", "ps"}), (["container", "prune"], {"prune"}),
    (["network", "ls"], None), (["image"], None), (["image", "nonsense"], None),
])  # fmt: skip
def test_management_command_builds_the_child_named(words: list[str], expected: set[str] | None) -> None:
    group = _commands(build_parser(words))[words[0]]
    children = _commands(group)
    if expected is None:
        assert set(SUBCOMMANDS[words[0]]) <= set(children)
    else:
        assert set(children) == expected


def test_container_children_are_the_top_level_parsers() -> None:
    declared = _commands(build_parser(["container", "ls"]))
    assert set(declared) == {"container", "ps"}
    assert _commands(declared["container"])["ls"] is declared["ps"]


@pytest.mark.parametrize(("argv", "words"), [
    (["run", "--rm", "x"], ["run"]), (["--root", "/r", "-s", "vfs", "images"], ["images"]), (["--root=/r", "-D", "ps"], ["ps"]),
    (["-D"], []), ([], []), (["inspect", "x"], ["inspect"]), (["image", "ls", "-q"], ["image", "ls"]),
    (["container", "-h"], ["container"]), (["network", "create", "-d", "bridge", "n"], ["network", "create"]),
    (["--", "images"], []),
])  # fmt: skip
def test_command_words(argv: list[str], words: list[str]) -> None:
    assert command_words(argv) == words
    assert command_word(argv) == (words[0] if words else None)
