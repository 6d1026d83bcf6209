"""A container's files: ``commit``, ``diff``, ``export``, ``cp``, ``container prune``, and the
``container`` management command that names every container command under it."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, confirm, require_args
from dockyard.cli.filters import parse_filters, parse_until
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, InvalidArgumentError
from dockyard.oci.timefmt import parse_time

if TYPE_CHECKING:
    from dockyard.runtime.container_state import Container

# ``dockyard container NAME`` → the top-level command it is (Docker's management command aliases)
CONTAINER_ALIASES = {
    "ls": "ps", "list": "ps", "ps": "ps", "create": "create", "run": "run", "start": "start", "stop": "stop",
    "restart": "restart", "kill": "kill", "rm": "rm", "remove": "rm", "logs": "logs", "pause": "pause",
    "unpause": "unpause", "top": "top", "stats": "stats", "rename": "rename", "wait": "wait", "port": "port",
    "exec": "exec", "attach": "attach", "update": "update", "commit": "commit", "diff": "diff",
    "export": "export", "cp": "cp",
}  # fmt: skip


def register(commands: argparse._SubParsersAction) -> None:
    for name, setup in (("commit", _commit_args), ("diff", _diff_args), ("export", _export_args), ("cp", _cp_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}"))


def register_container_group(commands: argparse._SubParsersAction) -> None:
    """``dockyard container …``: call after every container command is registered at the top level."""
    group = commands.add_parser("container", help="Manage containers")
    sub = group.add_subparsers(dest="container_command", metavar="COMMAND", parser_class=type(group))
    for name, top in CONTAINER_ALIASES.items():
        if top in commands.choices:
            sub._name_parser_map[name] = commands.choices[top]  # the same parser: same flags, same handler
    _prune_args(sub.add_parser("prune", prog="dockyard container prune"))
    inspect = sub.add_parser("inspect", prog="dockyard container inspect")
    inspect.add_argument("args", nargs="*", metavar="CONTAINER")
    inspect.add_argument("-f", "--format", default="")
    inspect.add_argument("-s", "--size", action="store_true")
    inspect.set_defaults(handler=_container_inspect)


def _container_inspect(ctx: Context, args: argparse.Namespace) -> int:
    """``container inspect``: containers only ("No such container" for anything else)."""
    from dockyard.cli.format import render, render_inspect, to_json

    require_args(args, "container inspect", 1)
    found: list[dict[str, object]] = []
    missing: list[str] = []
    service = ctx.engine.container_service
    for name in args.args:
        try:
            container = service.get(name)
        except DockyardError:
            missing.append(name)
            continue
        found.append(service.inspect(container, size=args.size))
    sys.stdout.write(render_inspect(args.format, found) if args.format else to_json(found) + "\n")
    for name in missing:
        print(f"Error: No such container: {name}", file=sys.stderr)
    return EXIT_ERROR if missing else 0


# commit --------------------------------------------------------------------------


def _bool_flag(value: str) -> bool:
    if value.lower() in ("true", "1", "t"):
        return True
    if value.lower() in ("false", "0", "f"):
        return False
    raise argparse.ArgumentTypeError(f'invalid syntax: "{value}"')


def _commit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER [REPOSITORY[:TAG]]")
    p.add_argument("-m", "--message", default="")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    # a bool flag takes no separate value (-p CONTAINER), only --pause=false
    p.add_argument("-p", dest="pause", action="store_const", const=True, default=True)
    p.add_argument("--pause", dest="pause", type=_bool_flag, nargs="?", const=True, default=True)
    p.set_defaults(handler=commit_cmd)


def commit_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.container_options import CommitOptions
    from dockyard.oci.reference import parse_docker_ref

    require_args(args, "commit", 1)
    require_args(args, "commit", 2, at_most=True)
    tag = None
    if len(args.args) == 2:
        tag = parse_docker_ref(args.args[1])
        if tag.digest is not None:
            raise InvalidArgumentError("refusing to create a tag with a digest reference")
    service = ctx.engine.container_service
    container = service.get(args.args[0])
    opts = CommitOptions(message=args.message, author=args.author, changes=args.change, pause=args.pause, tag=tag)
    print(service.commit(container, opts))
    return 0


# diff, export ------------------------------------------------------------------


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.set_defaults(handler=diff_cmd)


def diff_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "diff", 1, exact=True)
    service = ctx.engine.container_service
    sys.stdout.write("".join(c.line() + "\n" for c in service.diff(service.get(args.args[0]))))
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-o", "--output", default="")
    p.set_defaults(handler=export_cmd)


def export_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "export", 1, exact=True)
    service = ctx.engine.container_service
    container = service.get(args.args[0])
    if not args.output:
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect", EXIT_ERROR)
        sys.stdout.flush()
        service.export(container, sys.stdout.fileno())
        return 0
    # written beside the target, renamed into place once complete
    tmp = f"{args.output}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            service.export(container, fd)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, args.output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return 0


# cp --------------------------------------------------------------------------------


def _cp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="SRC_PATH DEST_PATH")
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(handler=cp_cmd)


def _split_container_path(arg: str) -> tuple[str | None, str]:
    """``CONTAINER:PATH`` or a local path (Docker: a colon before any slash names a container)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    if "/" in name:
        return None, arg
    return name, path


def cp_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.container_options import ContainerPathNotFoundError, CopyOptions, CopyPathError

    require_args(args, "cp", 2, exact=True)
    (src_ctr, src), (dest_ctr, dest) = (_split_container_path(a) for a in args.args)
    if src_ctr is None and dest_ctr is None:
        raise UsageError("must specify at least one container source", EXIT_ERROR)
    if src_ctr is not None and dest_ctr is not None:
        raise UsageError("copying between containers is not supported", EXIT_ERROR)
    opts = CopyOptions(archive=args.archive, follow_link=args.follow_link)
    service = ctx.engine.container_service
    name = src_ctr or dest_ctr
    assert name is not None
    try:
        try:
            container = service.get(name)
        except DockyardError:
            raise ContainerPathNotFoundError(f"No such container:path: {name}:{src if src_ctr else dest}") from None
        if src_ctr is not None:
            if dest == "-":
                sys.stdout.flush()
            service.copy_from(container, src, None if dest == "-" else dest, sys.stdout.fileno(), opts)
        else:
            service.copy_to(container, None if src == "-" else src, dest, sys.stdin.fileno(), opts)
    except CopyPathError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except ContainerPathNotFoundError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return 0


# container prune -------------------------------------------------------------------


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(handler=prune_cmd)


def _prune_select(filters: dict[str, list[str]]) -> Callable[[Container], bool]:
    for key in filters:
        if key not in ("until", "label", "label!"):
            raise InvalidArgumentError(f"Invalid filter '{key}'")
    until = [parse_until(v) for v in filters.get("until", [])]

    def match(labels: dict[str, str], item: str) -> bool:
        key, sep, value = item.partition("=")
        return key in labels and (not sep or labels[key] == value)

    def select(container: Container) -> bool:
        created = parse_time(container.created)
        if created and any(created.timestamp() >= u for u in until):
            return False
        labels = container.stored.config.labels
        if any(match(labels, item) for item in filters.get("label!", [])):
            return False
        return all(match(labels, item) for item in filters.get("label", []))

    return select


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    select = _prune_select(parse_filters(args.filter))
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    report = ctx.engine.container_service.prune(select)
    if report.deleted:
        print("Deleted Containers:")
        print("".join(cid + "\n" for cid in report.deleted))
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0
