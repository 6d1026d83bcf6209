"""``volume create/ls/rm/inspect/prune`` and the Mounts array of a container's inspect document."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, confirm, require_args
from dockyard.cli.filters import parse_filters
from dockyard.cli.format import render, to_json
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, InvalidArgumentError, NotFoundError

LS_FORMAT = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
              "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}
LS_FILTERS = {"dangling", "name", "label", "driver"}
PRUNE_FILTERS = {"label", "label!"}


def register(commands: argparse._SubParsersAction) -> None:
    volume = commands.add_parser("volume", help="Manage volumes")
    sub = volume.add_subparsers(dest="volume_command", metavar="COMMAND", parser_class=type(volume))
    for names, setup in ((["create"], _create_args), (["ls", "list"], _ls_args), (["rm", "remove"], _rm_args),
                         (["inspect"], _inspect_args), (["prune"], _prune_args)):
        setup(sub.add_parser(names[0], aliases=names[1:], prog=f"dockyard volume {names[0]}"))


def _key_values(items: list[str], what: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if what == "opt" and not sep:
            raise UsageError(f'invalid argument "{item}" for "-o, --opt" flag: invalid key value pair format in driver options')
        out[key] = value
    return out


# create ----------------------------------------------------------------------


def _create_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="VOLUME")
    p.add_argument("--name")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.set_defaults(handler=create_cmd)


def create_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "volume create", 1, at_most=True)
    if args.name and args.args and args.name != args.args[0]:
        raise UsageError("conflicting options: either specify --name or provide positional arg, not both", EXIT_ERROR)
    name = args.name or (args.args[0] if args.args else None)
    volume = ctx.engine.volumes.create(name, driver=args.driver, labels=_key_values(args.label, "label"),
                                       options=_key_values(args.opt, "opt"))
    print(volume.name)
    return 0


# ls ----------------------------------------------------------------------------


def _ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.set_defaults(handler=ls_cmd)


def _labels_match(wanted: list[str], labels: dict[str, str] | None, *, default: bool = True) -> bool:
    found = labels or {}
    pairs = [w.partition("=") for w in wanted]
    return all(k in found and (not sep or found[k] == v) for k, sep, v in pairs) if pairs else default


def volume_filter(ctx: Context, filters: dict[str, list[str]], allowed: set[str]) -> Callable[[Any], bool]:
    for key in filters:
        if key not in allowed:
            raise InvalidArgumentError(f"Invalid filter '{key}'")
    dangling = filters.get("dangling", [])
    if any(v.lower() not in ("true", "false", "1", "0") for v in dangling):
        raise InvalidArgumentError(f"Invalid filter 'dangling={dangling[-1]}'")
    store = ctx.engine.volumes

    def keep(volume: Any) -> bool:
        if dangling and (dangling[-1].lower() in ("true", "1")) == bool(store.users(volume.name)):
            return False
        if filters.get("name") and not any(n in volume.name for n in filters["name"]):
            return False
        if filters.get("driver") and volume.driver not in filters["driver"]:
            return False
        excluded = filters.get("label!", [])
        if excluded and any(_labels_match([e], volume.labels, default=False) for e in excluded):
            return False
        return _labels_match(filters.get("label", []), volume.labels)

    return keep


def _row(volume: Any) -> dict[str, Any]:
    labels = ",".join(f"{k}={v}" for k, v in sorted((volume.labels or {}).items()))
    # key order is {{json .}}'s: Docker's are sorted
    return {"Driver": volume.driver, "Labels": labels, "Links": "N/A", "Mountpoint": str(volume.mountpoint),
            "Name": volume.name, "Scope": "local", "Size": "N/A"}


def ls_cmd(ctx: Context, args: argparse.Namespace) -> int:
    keep = volume_filter(ctx, parse_filters(args.filter), LS_FILTERS)
    rows = [_row(v) for v in ctx.engine.volumes.list() if keep(v)]
    fmt = "{{.Name}}" if args.quiet else (args.format or LS_FORMAT)
    sys.stdout.write(render(fmt, rows, LS_HEADERS))
    return 0


# rm, inspect -------------------------------------------------------------------


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="VOLUME")
    p.add_argument("-f", "--force", action="store_true")
    p.set_defaults(handler=rm_cmd)


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "volume rm", 1)
    failed = False
    for name in args.args:
        try:
            ctx.engine.volumes.remove(name, force=args.force)
            print(name)
        except NotFoundError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            failed = True
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    return EXIT_ERROR if failed else 0


def _inspect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="VOLUME")
    p.add_argument("-f", "--format", default="")
    p.set_defaults(handler=inspect_cmd)


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "volume inspect", 1)
    found: list[dict[str, Any]] = []
    failed = False
    for name in args.args:
        try:
            found.append(ctx.engine.volumes.get(name).inspect())
        except NotFoundError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            failed = True
    if found or not failed:
        sys.stdout.write(render(args.format, found, {}) if args.format else to_json(found) + "\n")
    return EXIT_ERROR if failed else 0


# prune ---------------------------------------------------------------------------


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Docker 20.10's prune: every unused local volume (``-a`` is accepted for newer scripts)."""
    keep = volume_filter(ctx, parse_filters(args.filter), PRUNE_FILTERS)
    if not args.force and not confirm("WARNING! This will remove all local volumes not used by at least one container."):
        return 0
    removed, freed = ctx.engine.volumes.prune(keep)
    if removed:
        print("Deleted Volumes:")
        for name in removed:
            print(name)
        print()
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0
