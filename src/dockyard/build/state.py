"""A stage's state while it builds: the image config so far, its layers, history, args."""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field
from typing import Any

from dockyard.build.shell import Lex, ShellWordError
from dockyard.errors import InvalidArgumentError
from dockyard.oci.digest import Digest

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ("/bin/sh", "-c")
# usable with --build-arg without an ARG line, and left out of history (Docker's builtin args)
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip


@dataclass(slots=True)
class HistoryItem:
    created_by: str
    empty_layer: bool
    created: str | None = None  # set for layer steps; metadata steps borrow a neighbour's time


@dataclass(slots=True)
class StageState:
    config: dict[str, Any]
    image: dict[str, Any]  # the base image's top-level fields (architecture, os, history, ...)
    diff_ids: list[Digest] = field(default_factory=list)
    chain: Digest | None = None
    key: str = ""  # the cache key of the last layer step
    history: list[HistoryItem] = field(default_factory=list)
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage, in order (None: no value)
    cmd_set: bool = False
    escape: str = "\\"

    def fork(self) -> StageState:
        """A stage built FROM this one starts from a copy (without this stage's ARGs)."""
        return StageState(copy.deepcopy(self.config), copy.deepcopy(self.image), list(self.diff_ids), self.chain,
                          self.key, [], {}, False, self.escape)

    @property
    def env(self) -> dict[str, str]:
        out = {}
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def scope(self) -> dict[str, str]:
        """What ``$VAR`` sees: the stage's ARGs, overridden by ENV."""
        return {**{k: v for k, v in self.args.items() if v is not None}, **self.env}

    def expand(self, word: str) -> str:
        try:
            return Lex(escape=self.escape).process_word(word, self.scope())
        except ShellWordError as exc:
            raise InvalidArgumentError(str(exc)) from None

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return self.config.get("WorkingDir") or "/"

    def set_env(self, key: str, value: str) -> None:
        env = [e for e in self.config.get("Env") or [] if e.partition("=")[0] != key]
        self.config["Env"] = env + [f"{key}={value}"]

    def record(self, created_by: str, empty_layer: bool = True, created: str | None = None) -> None:
        self.history.append(HistoryItem(created_by, empty_layer, created))

    def build_args_used(self) -> list[tuple[str, str]]:
        """ARGs in scope as RUN's history records them: an ENV of the same name wins, no value is empty."""
        env = self.env
        return [(k, env.get(k, v or "")) for k, v in self.args.items()]

    def build_arg_env(self) -> list[str]:
        """What RUN gets from ARGs: those with a value that no ENV overrides."""
        env = self.env
        return [f"{k}={v}" for k, v in self.args.items() if v is not None and k not in env]


def expose_ports(spec: str) -> list[str]:
    """``80``, ``53/udp``, ``8000-8002/tcp`` as Docker's nat.ParsePortSpecs reads them."""
    port, _, proto = spec.partition("/")
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()) or int(end or start) < int(start) or int(end or start) > 65535:
        raise InvalidArgumentError(f"invalid containerPort: {port}")
    if proto.lower() not in ("", "tcp", "udp", "sctp"):
        raise InvalidArgumentError(f"invalid proto: {proto}")
    return [f"{n}/{proto.lower() or 'tcp'}" for n in range(int(start), int(end or start) + 1)]


def resolve_path(workdir: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(workdir, path)) if path else workdir
