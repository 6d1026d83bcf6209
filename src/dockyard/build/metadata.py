"""The metadata instructions (ENV, LABEL, ARG, CMD, ...): they change only a stage's
config, each recording the ``created_by`` Docker 20.10's BuildKit writes for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from dockyard.build import history as hist
from dockyard.build import instructions as ins
from dockyard.build.state import StageState, expose_ports
from dockyard.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class Args:
    build: Mapping[str, str]  # --build-arg
    meta: Mapping[str, str]  # the ARGs before the first FROM


def _pairs(state: StageState, pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(state.expand(k), state.expand(v)) for k, v in pairs]


def _env(state: StageState, step: ins.Env, _: Args) -> None:
    pairs = _pairs(state, step.pairs)  # all expanded first: "ENV A=1 B=$A" sees the old A
    for key, value in pairs:
        state.set_env(key, value)
    state.record("ENV " + " ".join(f"{k}={v}" for k, v in pairs))


def _label(state: StageState, step: ins.Label, _: Args) -> None:
    pairs = _pairs(state, step.pairs)
    state.config["Labels"] = {**(state.config.get("Labels") or {}), **dict(pairs)}
    state.record("LABEL " + " ".join(f"{k}={v}" for k, v in pairs))


def _arg(state: StageState, step: ins.Arg, args: Args) -> None:
    for key, default in step.args:
        value: str | None = args.meta.get(key)
        if key in args.build:
            value = args.build[key]
        elif default is not None:
            value = state.expand(default)
        state.args[key] = value
        state.record(f"ARG {key}" + (f"={default}" if default is not None else ""))


def _user(state: StageState, step: ins.User, _: Args) -> None:
    state.config["User"] = state.expand(step.user)
    state.record(f"USER {state.config['User']}")


def _expose(state: StageState, step: ins.Expose, _: Args) -> None:
    ports = [p for word in step.ports for p in expose_ports(state.expand(word))]
    state.config["ExposedPorts"] = {**(state.config.get("ExposedPorts") or {}), **{p: {} for p in ports}}
    state.record(hist.expose(ports))


def _volume(state: StageState, step: ins.Volume, _: Args) -> None:
    paths = [state.expand(p) for p in step.paths]
    state.config["Volumes"] = {**(state.config.get("Volumes") or {}), **{p: {} for p in paths}}
    state.record("VOLUME " + hist.go_list(paths))


def _command(state: StageState, step: ins.Cmd | ins.Entrypoint, _: Args) -> None:
    args = [*state.shell, *step.cmd] if step.shell_form and step.cmd else list(step.cmd)
    if isinstance(step, ins.Cmd):
        state.config["Cmd"] = args
        state.config["ArgsEscaped"] = True
        state.cmd_set = True
    else:
        state.config["Entrypoint"] = args
        if not state.cmd_set:  # a new ENTRYPOINT drops the base image's CMD
            state.config["Cmd"] = None
    state.record(f"{step.keyword} {hist.go_quoted_list(args)}")


def _stopsignal(state: StageState, step: ins.StopSignal, _: Args) -> None:
    state.config["StopSignal"] = state.expand(step.signal)
    state.record(f"STOPSIGNAL {state.config['StopSignal']}")


def _healthcheck(state: StageState, step: ins.Healthcheck, _: Args) -> None:
    check: dict[str, Any] = {"Test": list(step.test)}
    for key, value in (("Interval", step.interval), ("Timeout", step.timeout),
                       ("StartPeriod", step.start_period), ("Retries", step.retries)):  # fmt: skip
        if value:
            check[key] = value
    state.config["Healthcheck"] = check
    state.record(hist.healthcheck(list(step.test), step.interval, step.timeout, step.start_period, step.retries))


def _shell(state: StageState, step: ins.Shell, _: Args) -> None:
    state.config["Shell"] = list(step.shell)
    state.record("SHELL " + hist.go_list(step.shell))


def _onbuild(state: StageState, step: ins.Onbuild, _: Args) -> None:
    state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), step.expression]  # no history entry


def _maintainer(state: StageState, step: ins.Maintainer, _: Args) -> None:
    state.image["author"] = state.expand(step.name)
    state.record(f"MAINTAINER {state.image['author']}")


_APPLY: dict[type, Callable[[StageState, Any, Args], None]] = {
    ins.Env: _env, ins.Label: _label, ins.Arg: _arg, ins.User: _user, ins.Expose: _expose, ins.Volume: _volume,
    ins.Cmd: _command, ins.Entrypoint: _command, ins.StopSignal: _stopsignal, ins.Healthcheck: _healthcheck,
    ins.Shell: _shell, ins.Onbuild: _onbuild, ins.Maintainer: _maintainer,
}  # fmt: skip


def apply_metadata(state: StageState, step: ins.Instruction, build_args: Mapping[str, str], meta: Mapping[str, str]) -> None:
    """Apply an instruction that only changes the config (not RUN, COPY, ADD, WORKDIR)."""
    apply = _APPLY.get(type(step))
    if apply is None:
        raise InvalidArgumentError(f"{step.keyword} is not a metadata instruction")
    apply(state, step, Args(build_args, meta))
