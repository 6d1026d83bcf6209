"""main builds only the command family a command line names: the tables must match what the modules register."""

from __future__ import annotations

import argparse

import pytest

from dockyard.cli.context import Parser
from dockyard.cli.main import (
    CONTAINER_COMMANDS,
    IMAGE_COMMANDS,
    SYSTEM_COMMANDS,
    build_parser,
    command_word,
    register_containers,
    register_images,
    register_system,
)


def _registered(register: object) -> set[str]:
    commands = Parser(prog="t").add_subparsers(dest="command", parser_class=Parser)
    register(commands)  # type: ignore[operator]
    return set(commands.choices)


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def test_tables_match_the_modules() -> None:
    images = _registered(register_images) - {"inspect"}  # inspect needs both families
    containers = _registered(register_containers)
    system = _registered(register_system)
    assert images == IMAGE_COMMANDS and containers == CONTAINER_COMMANDS and system == SYSTEM_COMMANDS
    assert not images & containers and not system & (images | containers)


@pytest.mark.parametrize(("argv", "word"), [
    (["run", "--rm", "x"], "run"), (["--root", "/r", "-s", "vfs", "images"], "images"), (["--root=/r", "-D", "ps"], "ps"),
    (["-D"], None), ([], None), (["inspect", "x"], "inspect"),
])  # fmt: skip
def test_command_word(argv: list[str], word: str | None) -> None:
    assert command_word(argv) == word


def test_family_parsers() -> None:
    everything = _commands(build_parser())
    assert everything == IMAGE_COMMANDS | CONTAINER_COMMANDS | SYSTEM_COMMANDS | {"inspect"}
    assert _commands(build_parser("info")) == SYSTEM_COMMANDS
    assert _commands(build_parser("run")) == CONTAINER_COMMANDS
    assert _commands(build_parser("images")) == IMAGE_COMMANDS | {"inspect"}
    assert _commands(build_parser("inspect")) == everything
    assert _commands(build_parser("nonsense")) == everything  # argparse lists every choice in its error
