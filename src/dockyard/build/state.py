"""A stage's state while it builds: the image config so far, its layers, history, args.

Metadata instructions (ENV, LABEL, CMD, ...) only change this state; they are
applied here, with the ``created_by`` Docker records for each.
"""

from __future__ import annotations

import copy
import posixpath
from dataclasses import dataclass, field
from typing import Any, Mapping

from dockyard.build import history as hist
from dockyard.build import instructions as ins
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
    key: str = ""  # the cache key of the last step
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


def apply_metadata(state: StageState, step: ins.Instruction, build_args: Mapping[str, str], meta: Mapping[str, str]) -> None:
    """Apply an instruction that only changes the config (not RUN, COPY, ADD, WORKDIR)."""
    cfg = state.config
    if isinstance(step, ins.Env):
        pairs = [(state.expand(k), state.expand(v)) for k, v in step.pairs]
        for key, value in pairs:
            state.set_env(key, value)
        state.record("ENV " + " ".join(f"{k}={v}" for k, v in pairs))
    elif isinstance(step, ins.Label):
        pairs = [(state.expand(k), state.expand(v)) for k, v in step.pairs]
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
        state.record("LABEL " + " ".join(f"{k}={v}" for k, v in pairs))
    elif isinstance(step, ins.Arg):
        for key, default in step.args:
            value: str | None = meta.get(key)
            if key in build_args:
                value = build_args[key]
            elif default is not None:
                value = state.expand(default)
            state.args[key] = value
            state.record(f"ARG {key}" + (f"={default}" if default is not None else ""))
    elif isinstance(step, ins.User):
        cfg["User"] = state.expand(step.user)
        state.record(f"USER {cfg['User']}")
    elif isinstance(step, ins.Expose):
        ports = [p for word in step.ports for p in expose_ports(state.expand(word))]
        cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **{p: {} for p in ports}}
        state.record(hist.expose(ports))
    elif isinstance(step, ins.Volume):
        paths = [state.expand(p) for p in step.paths]
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths}}
        state.record("VOLUME " + hist.go_list(paths))
    elif isinstance(step, (ins.Cmd, ins.Entrypoint)):
        args = [*state.shell, *step.cmd] if step.shell_form and step.cmd else list(step.cmd)
        if isinstance(step, ins.Cmd):
            cfg["Cmd"] = args
            cfg["ArgsEscaped"] = True
            state.cmd_set = True
        else:
            cfg["Entrypoint"] = args
            if not state.cmd_set:
                cfg["Cmd"] = None
        state.record(f"{step.keyword} {hist.go_quoted_list(args)}")
    elif isinstance(step, ins.StopSignal):
        cfg["StopSignal"] = state.expand(step.signal)
        state.record(f"STOPSIGNAL {cfg['StopSignal']}")
    elif isinstance(step, ins.Healthcheck):
        check: dict[str, Any] = {"Test": list(step.test)}
        for key, value in (("Interval", step.interval), ("Timeout", step.timeout),
                           ("StartPeriod", step.start_period), ("Retries", step.retries)):
            if value:
                check[key] = value
        cfg["Healthcheck"] = check
        state.record(hist.healthcheck(list(step.test), step.interval, step.timeout, step.start_period, step.retries))
    elif isinstance(step, ins.Shell):
        cfg["Shell"] = list(step.shell)
        state.record("SHELL " + hist.go_list(step.shell))
    elif isinstance(step, ins.Onbuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), step.expression]
    elif isinstance(step, ins.Maintainer):
        state.image["author"] = state.expand(step.name)
        state.record(f"MAINTAINER {state.image['author']}")
    else:
        raise InvalidArgumentError(f"{step.keyword} is not a metadata instruction")
