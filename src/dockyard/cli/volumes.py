"""``volume create/ls/rm/inspect/prune``: flags in, one call to the volume service, output."""

from __future__ import annotations

import argparse
import sys
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, confirm, missing_object_line, require_args
from dockyard.cli.format import render, render_inspect, to_json
from dockyard.engine.volumes import PRUNE_FILTERS, VolumeCreateOptions, VolumeFilters
from dockyard.errors import DockyardError, NotFoundError

if TYPE_CHECKING:
    from dockyard.runtime.volumes import Volume

LS_FORMAT = "table {{.Driver}}\t{{.Name}}"
LS_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
              "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE"}


def register(commands: argparse._SubParsersAction) -> None:
    volume = commands.add_parser("volume", help="Manage volumes")
    sub = volume.add_subparsers(dest="volume_command", metavar="COMMAND", parser_class=type(volume))
    for names, setup in ((["create"], _create_args), (["ls", "list"], _ls_args), (["rm", "remove"], _rm_args),
                         (["inspect"], _inspect_args), (["prune"], _prune_args)):
        setup(sub.add_parser(names[0], aliases=names[1:], prog=f"dockyard volume {names[0]}"))


def _key_values(items: list[str], what: str) -> dict[str, str]:
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
    opts = VolumeCreateOptions(name, args.driver, _key_values(args.label, "label"), _key_values(args.opt, "opt"))
    volume = ctx.engine.volume_service.create(opts)
    print(volume.name)
    return 0


# ls ----------------------------------------------------------------------------


def _ls_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.set_defaults(handler=ls_cmd)


def _row(volume: Volume) -> dict[str, str]:
    labels = ",".join(f"{k}={v}" for k, v in sorted((volume.labels or {}).items()))
    # key order is {{json .}}'s: Docker's are sorted
    return {"Driver": volume.driver, "Labels": labels, "Links": "N/A", "Mountpoint": str(volume.mountpoint),
            "Name": volume.name, "Scope": "local", "Size": "N/A"}


def ls_cmd(ctx: Context, args: argparse.Namespace) -> int:
    rows = [_row(v) for v in ctx.engine.volume_service.list(VolumeFilters.parse(args.filter))]
    fmt = "{{.Name}}" if args.quiet else (args.format or LS_FORMAT)
    sys.stdout.write(render(fmt, rows, LS_HEADERS, "*formatter.volumeContext"))
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
            ctx.engine.volume_service.remove(name, force=args.force)
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
    from dockyard.engine.volume_json import volume_json

    require_args(args, "volume inspect", 1)
    found: list[dict[str, Any]] = []
    failed = False
    for name in args.args:
        try:
            found.append(volume_json(ctx.engine.volume_service.inspect(name)))
        except NotFoundError as exc:
            # the daemon's answer, as Docker's CLI 28 prints it; what was found still prints ([] when nothing)
            print(missing_object_line("volume", name, exc), file=sys.stderr)
            failed = True
    if args.format:
        sys.stdout.write(render_inspect(args.format, found) if found else "\n")
    else:
        sys.stdout.write(to_json(found) + "\n")
    return EXIT_ERROR if failed else 0


# prune ---------------------------------------------------------------------------


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("--filter", action="append", default=[])
    p.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Docker 20.10's prune: every unused local volume (``-a`` is accepted for newer scripts)."""
    from dockyard.cli.units import human_size

    filters = VolumeFilters.parse(args.filter, PRUNE_FILTERS)
    if not args.force and not confirm("WARNING! This will remove all local volumes not used by at least one container."):
        return 0
    report = ctx.engine.volume_service.prune(filters)
    if report.deleted:
        print("Deleted Volumes:")
        for name in report.deleted:
            print(name)
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0
