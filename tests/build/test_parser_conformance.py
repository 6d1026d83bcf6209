"""BuildKit's parser and shell-word test vectors, read from the shared conformance data."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.parser import DockerfileSyntaxError, parse
from dockyard.build.shell import Lex, ShellWordError


def _shared() -> Path:
    here = Path(__file__).resolve().parents[2] / ".." / "shared"
    return here if (here / "conformance").is_dir() else Path("/work/shared")


VECTORS = _shared() / "conformance" / "dockerfile"


def _dirs(name: str) -> list[str]:
    return sorted(p.name for p in (VECTORS / name).iterdir() if p.is_dir())


@pytest.mark.parametrize("case", _dirs("testfiles"))
def test_parse_case(case: str) -> None:
    directory = VECTORS / "testfiles" / case
    result = parse((directory / "Dockerfile").read_bytes())
    assert result.dump() + "\n" == (directory / "result").read_text()


@pytest.mark.parametrize("case", _dirs("testfiles-negative"))
def test_parse_negative_case(case: str) -> None:
    with pytest.raises(DockerfileSyntaxError):
        parse((VECTORS / "testfiles-negative" / case / "Dockerfile").read_bytes())


def _env_var_cases() -> list[tuple[int, str, str]]:
    out = []
    for number, line in enumerate((VECTORS / "envVarTest").read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (part.strip() for part in line.strip().split("|"))
        assert platform in ("W", "A", "U"), f"line {number}"
        if platform != "W":
            out.append((number, source, expected))
    return out


@pytest.mark.parametrize(("number", "source", "expected"), _env_var_cases())
def test_env_var_case(number: int, source: str, expected: str) -> None:
    env = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}
    if expected == "error":
        with pytest.raises(ShellWordError):
            Lex().process_word(source, env)
    else:
        assert Lex().process_word(source, env) == expected, f"envVarTest line {number}"


def test_words_cases() -> None:
    env: dict[str, str] = {}
    checked = 0
    for number, line in enumerate((VECTORS / "wordsTest").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[3:].lstrip(" ").partition("=")
            env[key] = value
            continue
        source, expected = line.split("|")
        try:
            words = Lex().process_words(source.strip(), env)
        except ShellWordError:
            words = ["error"]
        assert words == expected.lstrip(" ").split(","), f"wordsTest line {number}: {source!r}"
        checked += 1
    assert checked > 20
