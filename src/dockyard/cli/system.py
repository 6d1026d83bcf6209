"""``system info|df|prune`` and the top-level ``info``: Docker's output over ``engine.system``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from dockyard.cli.context import EXIT_ERROR, Context, Parser, UsageError, confirm, require_args
from dockyard.cli.format import go_struct, render, render_document, tabulate
from dockyard.cli.units import bytes_size, human_duration, human_size

EXIT_TEMPLATE = 64  # the docker CLI's exit for a --format it cannot parse

if TYPE_CHECKING:
    from dockyard.engine.system import ContainerUsage, DiskUsage, PruneReport, SystemInfo


def register(commands: argparse._SubParsersAction, system_commands: argparse._SubParsersAction) -> None:
    """``info`` under both names, ``system df`` and ``system prune`` (``events`` and ``check`` come from their modules)."""
    _info_args(commands.add_parser("info", prog="dockyard info", help="Display system-wide information"))
    _info_args(system_commands.add_parser("info", prog="dockyard system info", help="Display system-wide information"))
    _df_args(system_commands.add_parser("df", prog="dockyard system df", help="Show docker disk usage"))
    _prune_args(system_commands.add_parser("prune", prog="dockyard system prune", help="Remove unused data"))


# info ----------------------------------------------------------------------------


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--format", default="", help="Format the output using the given Go template")
    p.set_defaults(handler=info_cmd)


def info_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "info", 0, at_most=True)
    info = ctx.engine.system.info()
    if args.format:
        document = go_struct("system.dockerInfo", info_document(info))  # an unknown field is Go's error
        sys.stdout.write(render_document(args.format, document, parse_code=EXIT_TEMPLATE))
        return 0
    sys.stdout.write(info_text(info))
    return 0


def info_text(info: SystemInfo) -> str:
    """``docker info``'s layout: a Client section, then the Server's, with one-space indents."""
    server = [
        f"Containers: {info.containers}", f" Running: {info.running}", f" Paused: {info.paused}",
        f" Stopped: {info.stopped}", f"Images: {info.images}", f"Server Version: {info.server_version}",
        f"Storage Driver: {info.driver}", *(f" {k}: {v}" for k, v in info.driver_status),
        f"Logging Driver: {info.logging_driver}", f"Cgroup Driver: {info.cgroup_driver}",
        f"Cgroup Version: {info.cgroup_version}", "Plugins:", " Volume: local", " Network: bridge host null",
        f" Log: {info.logging_driver}", "Swarm: inactive", f"Runtimes: {' '.join(info.runtimes)}",
        f"Default Runtime: {info.default_runtime}", "Security Options:", *_security_lines(info.security_options),
        f"Kernel Version: {info.kernel_version}", f"Operating System: {info.operating_system}",
        f"OSType: {info.os_type}", f"Architecture: {info.architecture}", f"CPUs: {info.ncpu}",
        f"Total Memory: {bytes_size(info.mem_total)}", f"Name: {info.name}", f"ID: {info.id}",
        f"Docker Root Dir: {info.root_dir}", "Debug Mode: false", "Registry: https://index.docker.io/v1/",
        "Labels:", "Experimental: false", "Insecure Registries:", " 127.0.0.0/8", "Live Restore Enabled: false",
    ]  # fmt: skip
    client = ["Client:", " Context:    default", " Debug Mode: false", "", "Server:"]
    return "".join(line + "\n" for line in client + [" " + line for line in server]) + "\n"


def _security_lines(options: tuple[str, ...]) -> list[str]:
    """Docker's layout: each option's name, then its other fields indented below it."""
    lines = []
    for option in options:
        fields = dict(f.split("=", 1) for f in option.split(",") if "=" in f)
        lines.append(f" {fields.pop('name', option)}")
        lines += [f"  {key.capitalize()}: {value}" for key, value in fields.items()]
    return lines


def info_document(info: SystemInfo) -> dict[str, Any]:
    """``docker info --format '{{json .}}'``: the engine's SystemInfo document and the client's part."""
    from dockyard.engine.system_json import info_document as server_document

    document = server_document(info)
    document["ClientInfo"] = {"Debug": False, "Context": "default", "Plugins": [], "Warnings": None}
    return document


# df ------------------------------------------------------------------------------

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}
DF_FORMAT = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def _df_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("--format", default="", help="Pretty-print images using a Go template")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    p.set_defaults(handler=df_cmd)


def df_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "system df", 0, at_most=True)
    usage = ctx.engine.system.disk_usage()
    if args.verbose and not args.format:
        sys.stdout.write(df_verbose(usage, time.time()))
        return 0
    # Docker's rows are four context types; the images row comes first, so its type names an unknown field
    sys.stdout.write(render(args.format or DF_FORMAT, df_rows(usage), DF_HEADERS, "*formatter.diskUsageImagesContext"))
    return 0


def _percent(reclaimable: int, total: int) -> str:
    return f"{human_size(reclaimable)} ({reclaimable * 100 // total}%)" if total > 0 else human_size(reclaimable)


def _row(kind: str, total: int, active: int, size: int, reclaimable: str) -> dict[str, Any]:
    # sorted keys: ``{{json .}}`` prints Docker's map in key order
    return {"Active": str(active), "Reclaimable": reclaimable, "Size": human_size(size), "TotalCount": str(total), "Type": kind}


def df_rows(usage: DiskUsage) -> list[dict[str, Any]]:
    """Docker's summary (cli/command/formatter/disk_usage.go): images' reclaimable space is the total
    less what used images hold alone."""
    used = sum(i.size - i.shared_size for i in usage.images if i.containers)
    image_reclaim = usage.layers_size - used
    rw = sum(c.size_rw for c in usage.containers)
    idle_rw = sum(c.size_rw for c in usage.containers if not c.active)
    volumes = sum(v.size for v in usage.volumes)
    idle_volumes = sum(v.size for v in usage.volumes if not v.links)
    cache = sum(b.size for b in usage.build_cache if not b.shared)
    idle_cache = sum(b.size for b in usage.build_cache if not b.shared and not b.in_use)
    return [
        _row("Images", len(usage.images), sum(1 for i in usage.images if i.containers), usage.layers_size,
             _percent(image_reclaim, usage.layers_size)),
        _row("Containers", len(usage.containers), sum(1 for c in usage.containers if c.active), rw, _percent(idle_rw, rw)),
        _row("Local Volumes", len(usage.volumes), sum(1 for v in usage.volumes if v.links), volumes,
             _percent(idle_volumes, volumes)),
        _row("Build Cache", len(usage.build_cache), sum(1 for b in usage.build_cache if b.in_use), cache,
             human_size(idle_cache)),
    ]  # fmt: skip


def df_verbose(usage: DiskUsage, now: float) -> str:
    images = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
    for i in usage.images:
        repo, _, tag = i.tags[0].rpartition(":") if i.tags else ("<none>", "", "<none>")
        created = human_duration(now - i.created.timestamp()) + " ago" if i.created else "N/A"
        images.append([repo, tag, i.id[7:19], created, human_size(i.size), human_size(i.shared_size),
                       human_size(i.size - i.shared_size), str(i.containers)])  # fmt: skip
    containers = [["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]]
    containers += [_container_cells(c, now) for c in usage.containers]
    volumes = [["VOLUME NAME", "LINKS", "SIZE"]] + [[v.name, str(v.links), human_size(v.size)] for v in usage.volumes]
    cache = [["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"]]
    cache += [[b.id, b.type, human_size(b.size), _ago(b.created, now), _ago(b.created, now), "1", str(b.shared).lower()]
              for b in usage.build_cache]  # fmt: skip
    builder_size = sum(b.size for b in usage.build_cache if not b.shared)
    return (
        "Images space usage:\n\n" + _table(images) + "\nContainers space usage:\n\n" + _table(containers)
        + "\nLocal Volumes space usage:\n\n" + _table(volumes)
        + f"\nBuild cache usage: {human_size(builder_size)}\n\n" + _table(cache)
    )  # fmt: skip


def _table(rows: list[list[str]]) -> str:
    return tabulate("\t".join(cells) for cells in rows)


def _ago(stamp: str, now: float) -> str:
    from dockyard.oci.timefmt import parse_time

    moment = parse_time(stamp)
    return human_duration(now - moment.timestamp()) + " ago" if moment else ""


def _container_cells(c: ContainerUsage, now: float) -> list[str]:
    command = c.command if len(c.command) <= 20 else c.command[:19] + "…"
    return [c.id[:12], c.image, json.dumps(command, ensure_ascii=False), str(c.local_volumes), human_size(c.size_rw),
            _ago(c.created, now), _status(c, now), c.names]  # fmt: skip


def _status(c: ContainerUsage, now: float) -> str:
    """``ps``'s STATUS column."""
    if c.status in ("running", "paused"):
        return "Up " + _ago(c.started_at, now).removesuffix(" ago") + " (Paused)" * (c.status == "paused")
    if c.status in ("restarting", "exited"):
        return f"{c.status.capitalize()} ({c.exit_code}) {_ago(c.finished_at, now)}"
    return "Removal In Progress" if c.status == "removing" else "Created"


# prune ---------------------------------------------------------------------------


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<key>=<value>')")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune volumes")
    p.set_defaults(handler=prune_cmd)


def prune_warning(all_images: bool, volumes: bool, filters: list[str]) -> str:
    items = ["all stopped containers", "all networks not used by at least one container"]
    items += ["all volumes not used by at least one container"] * volumes
    items += ["all images without at least one container associated to them" if all_images else "all dangling images"]
    items += ["all build cache" if all_images else "all dangling build cache"]
    text = "WARNING! This will remove:\n" + "".join(f"  - {item}\n" for item in items)
    if filters:
        text += "  - Elements to be pruned will be filtered with:\n" + "".join(f"  - {f}\n" for f in filters)
    return text


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.system import PruneOptions

    require_args(args, "system prune", 0, at_most=True)
    options = PruneOptions(args.all, args.volumes, *_prune_filters(args.filter))
    if options.volumes and options.until:
        raise UsageError('ERROR: The "until" filter is not supported with "--volumes"', EXIT_ERROR)
    if not args.force and not confirm(prune_warning(args.all, args.volumes, args.filter)):
        return 0
    sys.stdout.write(prune_text(ctx.engine.system.prune(options)))
    return 0


def _prune_filters(values: list[str]) -> tuple[tuple[float, ...], tuple[str, ...], tuple[str, ...]]:
    from dockyard.cli.filters import parse_filters, parse_until
    from dockyard.errors import InvalidArgumentError

    filters = parse_filters(values)
    for key in filters:
        if key not in ("until", "label", "label!"):
            raise InvalidArgumentError(f"Invalid filter '{key}'")
    until = tuple(parse_until(v) for v in filters.get("until", []))
    return until, tuple(filters.get("label", [])), tuple(filters.get("label!", []))


def prune_text(report: PruneReport) -> str:
    """Each prune's section as Docker prints it (a blank line after each), then the total."""
    sections = [("Deleted Containers:", list(report.containers)), ("Deleted Networks:", list(report.networks)),
                ("Deleted Volumes:", list(report.volumes)),
                ("Deleted Images:", [line for r in report.images for line in
                                     [*(f"untagged: {u}" for u in r.untagged), *(f"deleted: {d}" for d in r.deleted)]]),
                ("Deleted build cache objects:", list(report.build_cache))]  # fmt: skip
    out = "".join(title + "\n" + "".join(line + "\n" for line in lines) + "\n" for title, lines in sections if lines)
    return out + f"Total reclaimed space: {human_size(report.reclaimed)}\n"
