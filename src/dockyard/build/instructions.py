"""Typed instructions from the parser's nodes (BuildKit's ``instructions`` package).

``parse_dockerfile`` returns the ARGs before the first FROM and the stages,
each a list of instruction dataclasses that keep the line they came from.
Variables are not expanded here: the builder does that per step, with the
environment and build args of the moment.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from dockyard.build.flags import Flags
from dockyard.build.parser import (
    DockerfileSyntaxError,
    Heredoc,
    Node,
    chomp_heredoc,
    parse,
    parse_heredoc,
)
from dockyard.errors import InvalidArgumentError

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
KEYWORDS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Instruction:
    line: int
    original: str

    @property
    def keyword(self) -> str:
        return type(self).__name__.upper()


@dataclass(frozen=True, slots=True)
class InlineFile:
    """A heredoc's body: a file for COPY/ADD, a script for RUN."""

    name: str
    data: str
    expand: bool = True
    chomp: bool = False


@dataclass(frozen=True, slots=True)
class From(Instruction):
    base: str = ""
    name: str = ""
    platform: str = ""


@dataclass(frozen=True, slots=True)
class Run(Instruction):
    cmd: tuple[str, ...] = ()
    shell_form: bool = True
    files: tuple[InlineFile, ...] = ()
    mounts: tuple[str, ...] = ()
    network: str = ""


@dataclass(frozen=True, slots=True)
class Copy(Instruction):
    sources: tuple[str, ...] = ()
    dest: str = ""
    contents: tuple[InlineFile, ...] = ()
    source_stage: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    is_add: bool = False

    @property
    def keyword(self) -> str:
        return "ADD" if self.is_add else "COPY"


@dataclass(frozen=True, slots=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Arg(Instruction):
    args: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Workdir(Instruction):
    path: str = ""


@dataclass(frozen=True, slots=True)
class User(Instruction):
    user: str = ""


@dataclass(frozen=True, slots=True)
class Expose(Instruction):
    ports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Volume(Instruction):
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Cmd(Instruction):
    cmd: tuple[str, ...] = ()
    shell_form: bool = True


@dataclass(frozen=True, slots=True)
class Entrypoint(Instruction):
    cmd: tuple[str, ...] = ()
    shell_form: bool = True


@dataclass(frozen=True, slots=True)
class Shell(Instruction):
    shell: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StopSignal(Instruction):
    signal: str = ""


@dataclass(frozen=True, slots=True)
class Healthcheck(Instruction):
    test: tuple[str, ...] = ()
    interval: int = 0  # nanoseconds, as Docker's config stores them
    timeout: int = 0
    start_period: int = 0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Onbuild(Instruction):
    expression: str = ""


@dataclass(frozen=True, slots=True)
class Maintainer(Instruction):
    name: str = ""


@dataclass(slots=True)
class Stage:
    index: int
    source: From
    commands: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name


@dataclass(slots=True)
class Dockerfile:
    meta_args: list[Arg]
    stages: list[Stage]
    escape: str = "\\"
    warnings: list[str] = field(default_factory=list)

    def stage(self, name: str) -> Stage | None:
        """A stage by name (case-insensitive) or index."""
        for stage in self.stages:
            if stage.name and stage.name == name.lower():
                return stage
        if name.isdigit() and int(name) < len(self.stages):
            return self.stages[int(name)]
        return None


class UnknownInstructionError(DockerfileSyntaxError):
    pass


def parse_dockerfile(text: str | bytes) -> Dockerfile:
    result = parse(text)
    meta: list[Arg] = []
    stages: list[Stage] = []
    for node in result.nodes:
        instruction = parse_instruction(node)
        if isinstance(instruction, From):
            stages.append(Stage(len(stages), instruction))
        elif not stages:
            if not isinstance(instruction, Arg):
                raise DockerfileSyntaxError("no build stage in current context", node.start_line)
            meta.append(instruction)
        else:
            stages[-1].commands.append(instruction)
    return Dockerfile(meta, stages, result.escape, result.warnings)


def parse_instruction(node: Node) -> Instruction:
    keyword = node.value.lower()
    parser = _PARSERS.get(keyword)
    if parser is None:
        hint = difflib.get_close_matches(keyword, KEYWORDS, n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise UnknownInstructionError(f"unknown instruction: {node.value.upper()}{suggestion}", node.start_line)
    try:
        return parser(node, Flags(node.flags), node.start_line, node.original)
    except DockerfileSyntaxError:
        raise
    except InvalidArgumentError as exc:
        raise DockerfileSyntaxError(str(exc), node.start_line, node.end_line) from None


def _command_args(node: Node) -> list[str]:
    """Exec form keeps the JSON words; shell form is the one string as written."""
    if node.json:
        return node.args
    return [" ".join(node.args)] if node.args else []


def _pairs(node: Node, keyword: str) -> tuple[tuple[str, str], ...]:
    args = node.args
    if not args:
        raise InvalidArgumentError(f"{keyword} requires at least one argument")
    if len(args) % 3:
        raise InvalidArgumentError(f"Bad input to {keyword}, too many arguments")
    out = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise InvalidArgumentError(f"{keyword} names can not be blank")
        out.append((args[i], args[i + 1]))
    return tuple(out)


def _inline_files(docs: list[Heredoc]) -> tuple[InlineFile, ...]:
    return tuple(InlineFile(d.name, d.content, d.expand, d.chomp) for d in docs)


def _from(node: Node, flags: Flags, line: int, original: str) -> From:
    args = node.args
    platform = flags.string("platform")
    flags.finish()
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise InvalidArgumentError(
                f"invalid name for build stage: \"{args[2]}\", name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InvalidArgumentError("FROM requires either one or three arguments")
    return From(line, original, base=args[0], name=name, platform=platform)


def _run(node: Node, flags: Flags, line: int, original: str) -> Run:
    mounts = flags.strings("mount")
    network = flags.string("network")
    flags.string("security")
    flags.finish()
    if network not in ("", "default", "none", "host"):
        raise InvalidArgumentError(f"unsupported network mode {network}")
    args = _command_args(node)
    if not args:
        raise InvalidArgumentError("RUN requires at least one argument")
    return Run(line, original, cmd=tuple(args), shell_form=not node.json, files=_inline_files(node.heredocs),
               mounts=tuple(mounts), network=network)


def _copy(node: Node, flags: Flags, line: int, original: str, is_add: bool = False) -> Copy:
    keyword = "ADD" if is_add else "COPY"
    args = node.args
    if len(args) < 2:
        raise InvalidArgumentError(
            f"{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        )
    chown, chmod = flags.string("chown"), flags.string("chmod")
    link = flags.boolean("link")
    stage = "" if is_add else flags.string("from")
    if is_add:
        flags.boolean("keep-git-dir")
        flags.string("checksum")
    flags.finish()
    dest = args[-1]
    if parse_heredoc(dest) is not None:
        raise InvalidArgumentError(f"{keyword} cannot accept a heredoc as a destination")
    docs = {d.name: d for d in node.heredocs}
    sources: list[str] = []
    contents: list[InlineFile] = []
    for src in args[:-1]:
        heredoc = parse_heredoc(src) if not node.json else None
        if heredoc is None:
            sources.append(src)
            continue
        doc = docs.get(heredoc.name, heredoc)
        data = chomp_heredoc(doc.content) if heredoc.chomp else doc.content
        contents.append(InlineFile(heredoc.name, data, heredoc.expand, heredoc.chomp))
    return Copy(line, original, sources=tuple(sources), dest=dest, contents=tuple(contents), source_stage=stage,
                chown=chown, chmod=chmod, link=link, is_add=is_add)


def _add(node: Node, flags: Flags, line: int, original: str) -> Copy:
    return _copy(node, flags, line, original, is_add=True)


def _env(node: Node, flags: Flags, line: int, original: str) -> Env:
    flags.finish()
    return Env(line, original, pairs=_pairs(node, "ENV"))


def _label(node: Node, flags: Flags, line: int, original: str) -> Label:
    flags.finish()
    return Label(line, original, pairs=_pairs(node, "LABEL"))


def _arg(node: Node, flags: Flags, line: int, original: str) -> Arg:
    flags.finish()
    if not node.args:
        raise InvalidArgumentError("ARG requires at least one argument")
    out: list[tuple[str, str | None]] = []
    for word in node.args:
        key, sep, value = word.partition("=")
        if sep and not key:
            raise InvalidArgumentError("ARG names can not be blank")
        out.append((key, value if sep else None))
    return Arg(line, original, args=tuple(out))


def _single(keyword: str, node: Node, flags: Flags) -> str:
    flags.finish()
    if len(node.args) != 1:
        raise InvalidArgumentError(f"{keyword} requires exactly one argument")
    return node.args[0]


def _workdir(node: Node, flags: Flags, line: int, original: str) -> Workdir:
    return Workdir(line, original, path=_single("WORKDIR", node, flags))


def _user(node: Node, flags: Flags, line: int, original: str) -> User:
    return User(line, original, user=_single("USER", node, flags))


def _stopsignal(node: Node, flags: Flags, line: int, original: str) -> StopSignal:
    return StopSignal(line, original, signal=_single("STOPSIGNAL", node, flags))


def _maintainer(node: Node, flags: Flags, line: int, original: str) -> Maintainer:
    return Maintainer(line, original, name=_single("MAINTAINER", node, flags))


def _expose(node: Node, flags: Flags, line: int, original: str) -> Expose:
    flags.finish()
    if not node.args:
        raise InvalidArgumentError("EXPOSE requires at least one argument")
    return Expose(line, original, ports=tuple(sorted(node.args)))


def _volume(node: Node, flags: Flags, line: int, original: str) -> Volume:
    flags.finish()
    if not node.args:
        raise InvalidArgumentError("VOLUME requires at least one argument")
    paths = tuple(v.strip() for v in node.args)
    if any(not p for p in paths):
        raise InvalidArgumentError("VOLUME specified can not be an empty string")
    return Volume(line, original, paths=paths)


def _cmd(node: Node, flags: Flags, line: int, original: str) -> Cmd:
    flags.finish()
    return Cmd(line, original, cmd=tuple(_command_args(node)), shell_form=not node.json)


def _entrypoint(node: Node, flags: Flags, line: int, original: str) -> Entrypoint:
    flags.finish()
    return Entrypoint(line, original, cmd=tuple(_command_args(node)), shell_form=not node.json)


def _shell(node: Node, flags: Flags, line: int, original: str) -> Shell:
    flags.finish()
    if not node.args:
        raise InvalidArgumentError("SHELL requires at least one argument")
    if not node.json:
        raise InvalidArgumentError("SHELL requires the arguments to be in JSON form")
    return Shell(line, original, shell=tuple(node.args))


def _onbuild(node: Node, flags: Flags, line: int, original: str) -> Onbuild:
    flags.finish()
    if not node.next or not node.next[0].children:
        raise InvalidArgumentError("ONBUILD requires at least one argument")
    trigger = node.next[0].children[0].value.upper()
    if trigger == "ONBUILD":
        raise InvalidArgumentError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InvalidArgumentError(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return Onbuild(line, original, expression=expression)


def parse_duration(value: str, name: str) -> int:
    """Go's time.ParseDuration (the units HEALTHCHECK needs), in nanoseconds; 0 when unset."""
    if not value:
        return 0
    total, rest = 0.0, value
    while rest:
        match = _DURATION.match(rest)
        if not match:
            raise InvalidArgumentError(f'time: invalid duration "{value}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        rest = rest[match.end():]
    if 0 < total < 1_000_000:
        raise InvalidArgumentError(f'Interval "{name}" cannot be less than 1ms')
    return int(total)


def _healthcheck(node: Node, flags: Flags, line: int, original: str) -> Healthcheck:
    if not node.args:
        raise InvalidArgumentError("HEALTHCHECK requires at least one argument")
    kind, rest = node.args[0].upper(), node.args[1:]
    if kind == "NONE":
        if rest:
            raise InvalidArgumentError("HEALTHCHECK NONE takes no arguments")
        flags.finish()
        return Healthcheck(line, original, test=("NONE",))
    durations = {k: flags.string(k) for k in ("interval", "timeout", "start-period", "start-interval")}
    retries_text = flags.string("retries")
    flags.finish()
    if kind != "CMD":
        raise InvalidArgumentError(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    cmd = rest if node.json else ([" ".join(rest)] if rest else [])
    if not cmd:
        raise InvalidArgumentError("Missing command after HEALTHCHECK CMD")
    retries = 0
    if retries_text:
        try:
            retries = int(retries_text)
        except ValueError:
            raise InvalidArgumentError(f'strconv.ParseInt: parsing "{retries_text}": invalid syntax') from None
        if retries < 0:
            raise InvalidArgumentError(f"--retries cannot be negative ({retries})")
    return Healthcheck(
        line, original, test=("CMD" if node.json else "CMD-SHELL", *cmd),
        interval=parse_duration(durations["interval"], "interval"),
        timeout=parse_duration(durations["timeout"], "timeout"),
        start_period=parse_duration(durations["start-period"], "start-period"), retries=retries,
    )


_PARSERS = {
    "from": _from, "run": _run, "copy": _copy, "add": _add, "env": _env, "label": _label, "arg": _arg,
    "workdir": _workdir, "user": _user, "expose": _expose, "volume": _volume, "cmd": _cmd,
    "entrypoint": _entrypoint, "shell": _shell, "stopsignal": _stopsignal, "healthcheck": _healthcheck,
    "onbuild": _onbuild, "maintainer": _maintainer,
}  # fmt: skip
