"""Dockerfile instructions given to ``import -c`` / ``commit -c``, applied to a container config.

Only the instructions Docker accepts there: CMD, ENTRYPOINT, ENV, EXPOSE,
WORKDIR, USER, LABEL, VOLUME, ONBUILD, STOPSIGNAL.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from dockyard.errors import InvalidArgumentError

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "WORKDIR", "USER", "LABEL", "VOLUME", "ONBUILD", "STOPSIGNAL")


def _command(rest: str) -> list[str]:
    """JSON (exec) form when it parses as a list of strings, else the shell form."""
    text = rest.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(rest: str, instruction: str) -> list[tuple[str, str]]:
    words = shlex.split(rest, posix=True)
    if not words:
        raise InvalidArgumentError(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        # legacy form: ENV key value with spaces
        key, _, value = rest.strip().partition(" ")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"{instruction} names can not be blank" if not key else f"Syntax error - can't find = in {word!r}. Must be of the form: name=value")
        out.append((key, value))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> None:
    """Apply each change line to ``config`` (Docker's container config, mutated in place)."""
    for line in changes:
        instruction, _, rest = line.strip().partition(" ")
        keyword = instruction.upper()
        if keyword not in ALLOWED:
            raise InvalidArgumentError(f"{instruction} is not a valid change command")
        if not rest.strip() and keyword != "CMD":
            raise InvalidArgumentError(f"{keyword} requires at least one argument")
        _APPLY[keyword](config, rest.strip())


def _env(config: dict[str, Any], rest: str) -> None:
    env = list(config.get("Env") or [])
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(_pairs(rest, "LABEL"))
    config["Labels"] = labels


def _expose(config: dict[str, Any], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for port in rest.split():
        ports[port if "/" in port else f"{port}/tcp"] = {}
    config["ExposedPorts"] = ports


def _volume(config: dict[str, Any], rest: str) -> None:
    volumes = dict(config.get("Volumes") or {})
    paths = _command(rest) if rest.startswith("[") else rest.split()
    if paths[:2] == ["/bin/sh", "-c"]:
        paths = rest.split()
    for path in paths:
        volumes[path] = {}
    config["Volumes"] = volumes


def _set(key: str, value_of: Any) -> Any:
    def apply(config: dict[str, Any], rest: str) -> None:
        config[key] = value_of(rest)

    return apply


_APPLY = {
    "CMD": _set("Cmd", _command),
    "ENTRYPOINT": _set("Entrypoint", _command),
    "ENV": _env,
    "EXPOSE": _expose,
    "WORKDIR": _set("WorkingDir", lambda rest: rest),
    "USER": _set("User", lambda rest: rest),
    "LABEL": _label,
    "VOLUME": _volume,
    "ONBUILD": lambda config, rest: config.__setitem__("OnBuild", [*(config.get("OnBuild") or []), rest]),
    "STOPSIGNAL": _set("StopSignal", lambda rest: rest),
}
