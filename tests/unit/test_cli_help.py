"""Docker's top level: ``--help``, ``COMMAND --help``, an unknown command and ``version``, against the docker CLI itself.

The docker CLI 28 client (/usr/local/bin/docker) prints its help and version's client part without a
daemon; Debian's 20.10 client (/usr/bin/docker) prints the unknown-command message the issue asks for.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dockyard.cli.commands import COMMANDS
from dockyard.cli.main import known

DOCKER_28 = "/usr/local/bin/docker"
DOCKER_20 = "/usr/bin/docker"
needs_docker_28 = pytest.mark.skipif(not os.access(DOCKER_28, os.X_OK), reason="docker CLI 28 not installed")
needs_docker_20 = pytest.mark.skipif(not os.access(DOCKER_20, os.X_OK), reason="docker CLI 20.10 not installed")


def dockyard(*args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "dockyard", *(["--root", str(root)] if root else []), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def docker(binary: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", "DOCKER_CONFIG": "/nonexistent"}
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=env)


def sections(text: str) -> dict[str, list[str]]:
    """The lines of each ``Heading:`` block of a help text."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if re.fullmatch(r"[A-Z][A-Za-z ]+:", line):
            current = line[:-1]
            out[current] = []
        elif current and line.strip():
            out[current].append(line)
        elif not line.strip():
            current = None
    return out


def _names(lines: list[str]) -> list[str]:
    return [line.split()[0] for line in lines]


@needs_docker_28
def test_top_level_help_groups_commands_as_docker_does() -> None:
    ours = dockyard("--help")
    theirs = docker(DOCKER_28, "--help")
    assert ours.returncode == 0 and ours.stderr == ""
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0].replace("docker", "dockyard")
    mine, docker_sections = sections(ours.stdout), sections(theirs.stdout)
    assert [s for s in mine if s != "Global Options"] == ["Common Commands", "Management Commands", "Commands"]
    assert list(mine)[-1] == "Global Options"
    listed = {name for group, lines in mine.items() if group != "Global Options" for name in _names(lines)}
    assert listed == {name for name in COMMANDS if known(name)}
    assert "container-monitor" not in ours.stdout
    for group in ("Common Commands", "Management Commands", "Commands"):
        docker_names = _names(docker_sections[group])
        ours_in_docker = [n for n in _names(mine[group]) if n in docker_names]
        assert ours_in_docker == [n for n in docker_names if n in ours_in_docker], group  # same order
        for line in mine[group]:  # the description starts where Docker's does
            assert re.match(r"  \S+ +\S", line) and line[14] != " " and line[13] == " ", line
        assert all(n in docker_names or n == "registry" for n in _names(mine[group])), group
    assert ours.stdout.rstrip().endswith("Run 'dockyard COMMAND --help' for more information on a command.")


def _option_heads(lines: list[str]) -> dict[str, str]:
    """``--name`` -> ``-n, --name type`` of each flag line of an Options table."""
    out = {}
    for line in lines:
        match = re.match(r"  ((?:-\w, )?--([\w-]+)(?: \w+)?)(?:   |$)", line.replace("      --", "  --"))
        if match:
            out[match.group(2)] = match.group(1)
    return out


@needs_docker_28
@pytest.mark.parametrize("command", ["images", "history", "image ls", "rmi", "tag", "version"])
def test_command_help_layout(command: str) -> None:
    ours = dockyard(*command.split(), "--help")
    theirs = docker(DOCKER_28, *command.split(), "--help")
    assert ours.returncode == 0
    mine_lines, their_lines = ours.stdout.splitlines(), theirs.stdout.splitlines()
    assert mine_lines[0] == their_lines[0].replace("docker", "dockyard")  # Usage:  dockyard images [OPTIONS] ...
    assert mine_lines[1] == "" and mine_lines[2] == their_lines[2] or command == "version"
    mine, docker_sections = sections(ours.stdout), sections(theirs.stdout)
    assert list(mine) == [s for s in docker_sections if s in mine]
    if "Aliases" in docker_sections:
        assert mine["Aliases"] == [line.replace("docker", "dockyard") for line in docker_sections["Aliases"]]
    mine_flags, docker_flags = _option_heads(mine.get("Options", [])), _option_heads(docker_sections.get("Options", []))
    for name, head in mine_flags.items():
        if name in docker_flags:
            assert head == docker_flags[name]
    assert list(mine_flags) == sorted(mine_flags)


def test_run_help_layout() -> None:
    out = dockyard("run", "--help")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[:4] == ["Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]", "", "Create and run a new container from an image", ""]
    assert "Options:" in lines and any(line.startswith("  -e, --env list") for line in lines)


@needs_docker_28
def test_management_command_help() -> None:
    ours = dockyard("image", "--help")
    theirs = docker(DOCKER_28, "image", "--help")
    mine, docker_sections = sections(ours.stdout), sections(theirs.stdout)
    assert ours.stdout.splitlines()[0] == "Usage:  dockyard image COMMAND"
    assert mine["Commands"] == docker_sections["Commands"]
    bare = dockyard("image")  # Docker shows the group's help on stderr and exits 0
    assert bare.returncode == 0 and bare.stderr == ours.stdout


@needs_docker_28
@pytest.mark.parametrize("words", [("foo", "bar"), ("image", "bogus"), ("container", "bogus")])
def test_unknown_command_is_dockers_message(words: tuple[str, ...]) -> None:
    ours = dockyard(*words)
    theirs = docker(DOCKER_28, *words)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, "") == (1, "")
    assert ours.stderr == theirs.stderr.replace("docker", "dockyard")
    assert ours.stderr.startswith(f"dockyard: unknown command: dockyard {words[0]}")


def test_version_flag_needs_no_parser() -> None:
    out = dockyard("--version")
    assert (out.returncode, out.stdout) == (0, "dockyard version 0.1.0\n")


@needs_docker_28
def test_version_layout(tmp_path: Path) -> None:
    ours = dockyard("version", root=tmp_path / "root")
    theirs = docker(DOCKER_28, "version")
    assert ours.returncode == 0, ours.stderr
    mine_lines, their_lines = ours.stdout.splitlines(), theirs.stdout.splitlines()
    assert mine_lines[0] == their_lines[0] == "Client:"
    for label in (" Version:", " API version:", " OS/Arch:", " Context:"):
        mine = next(line for line in mine_lines if line.startswith(label))
        theirs_line = next(line for line in their_lines if line.startswith(label))
        assert mine.index(mine.split()[-1]) == theirs_line.index(theirs_line.split()[-1]) == 20  # values in one column
    assert " Python version:    3." in ours.stdout
    assert any(line.startswith("Server: dockyard Engine") for line in mine_lines)
    assert "  Storage driver:" in ours.stdout


def test_version_format(tmp_path: Path) -> None:
    out = dockyard("version", "--format", "{{.Client.Version}} {{.Server.Version}} {{.Client.Os}}", root=tmp_path / "root")
    assert (out.returncode, out.stdout) == (0, "0.1.0 0.1.0 linux\n")
    as_json = dockyard("version", "-f", "{{json .Client}}", root=tmp_path / "root")
    assert '"ApiVersion":"1.41"' in as_json.stdout


def test_version_without_a_usable_store_prints_the_client_part(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    out = dockyard("version", root=blocked / "root")
    assert out.returncode == 1
    assert out.stdout.startswith("Client:\n Version:           0.1.0\n") and "Server:" not in out.stdout
    assert out.stderr.startswith("Error response from daemon: cannot use root")
