"""Container commands: run, create, start, ps, logs, stop, rm, and inspect of containers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

from dockyard.cli import health, isolation
from dockyard.cli.context import EXIT_ERROR, EXIT_USAGE, Context, UsageError, missing_object_line, require_args
from dockyard.cli.format import render, render_inspect, to_json
from dockyard.cli.shared import attach_flags, check_tty, detach_keys, each, each_name, each_parallel, env_items, lookup, run_attached
from dockyard.cli.units import human_duration
from dockyard.errors import (
    DockyardError, ImageNotFoundError, InvalidArgumentError, InvalidReferenceError, NotFoundError, NotSwarmManagerError,
)  # fmt: skip
from dockyard.oci.timefmt import parse_time

if TYPE_CHECKING:
    from dockyard.engine.container_options import CreateOptions, NetworkOptions
    from dockyard.runtime.container_state import Container

PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED", "CreatedAt": "CREATED AT",
    "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS",
    "Mounts": "MOUNTS", "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
}  # fmt: skip


def register(commands: argparse._SubParsersAction) -> None:
    for name, setup in (("run", _run_args), ("create", _create_args), ("start", _start_args), ("ps", _ps_args),
                        ("stop", _stop_args), ("rm", _rm_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}", add_help=name not in ("run", "create")))
    monitor = commands.add_parser("container-monitor")
    monitor.add_argument("id")
    monitor.add_argument("--attach-fd", type=int)
    monitor.set_defaults(handler=lambda ctx, args: ctx.engine.container_service.monitor(args.id, args.attach_fd))
    if "inspect" in commands.choices:  # images registered it: Docker's inspect tries images, then containers
        commands.choices["inspect"].set_defaults(handler=inspect_cmd)


# run, create ---------------------------------------------------------------------


def _create_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="COMMAND")
    p.add_argument("--name")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("--rm", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--entrypoint")
    p.add_argument("-h", "--hostname")
    p.add_argument("--network", "--net", default="default")
    _network_flags(p)
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("--mount", action="append", default=[])
    p.add_argument("--volumes-from", action="append", default=[])
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--security-opt", action="append", default=[])
    p.add_argument("--pull", default="missing")
    p.add_argument("--platform")
    p.add_argument("--cidfile")
    isolation.add_flags(p)
    health.add_flags(p)
    p.add_argument("--help", action="help")


def _run_args(p: argparse.ArgumentParser) -> None:
    _create_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    attach_flags(p)
    p.set_defaults(handler=run_cmd)


def _create_args(p: argparse.ArgumentParser) -> None:
    _create_flags(p)
    p.set_defaults(handler=create_cmd, detach=True)


def _network_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("-P", "--publish-all", action="store_true")
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--add-host", action="append", default=[])
    p.add_argument("--network-alias", "--net-alias", action="append", default=[])
    p.add_argument("--ip", default="")
    p.add_argument("--ip6", default="")
    p.add_argument("--mac-address", default="")
    p.add_argument("--link-local-ip", action="append", default=[])


def _network_options(args: argparse.Namespace) -> NetworkOptions:
    """The network flags, checked as Docker's client checks them (its messages, exit 125)."""
    from dockyard.engine.networks import check_extra_hosts, check_ports, endpoint_request, run_network_options

    command = "run" if args.handler is run_cmd else "create"
    try:
        check_ports(args.publish, args.expose)
    except InvalidArgumentError as exc:
        raise UsageError(f"dockyard: {exc}.\nSee 'dockyard {command} --help'.") from None
    try:
        check_extra_hosts(args.add_host)
    except InvalidArgumentError as exc:
        raise UsageError(f"{exc}\nSee 'dockyard {command} --help'.") from None
    if not args.network:
        raise UsageError(f"dockyard: invalid network mode: empty.\nSee 'dockyard {command} --help'.")
    if args.network == "host" and (args.publish or args.publish_all):
        print("WARNING: Published ports are discarded when using host network mode", file=sys.stderr)
    if args.mac_address:
        from dockyard.engine.container_options import check_mac

        try:
            check_mac(args.mac_address)
        except InvalidArgumentError as exc:
            raise UsageError(f"dockyard: {exc}\n\nRun 'dockyard {command} --help' for more information") from None
    endpoint = endpoint_request(tuple(args.network_alias), args.ip, args.ip6, args.mac_address, tuple(args.link_local_ip))
    return run_network_options(args.publish, args.publish_all, args.expose, args.add_host, endpoint)


def _options(args: argparse.Namespace) -> CreateOptions:
    from dockyard.engine.container_options import CreateOptions, Overrides

    check_tty(args.tty, args.interactive)
    if getattr(args, "detach_keys", None):  # run's flag: refused before anything is created
        detach_keys(args)
    iso = isolation.isolation(args)
    net = _network_options(args)
    entrypoint = None if args.entrypoint is None else tuple(filter(None, [args.entrypoint]))
    overrides = Overrides(cmd=tuple(args.cmd), entrypoint=entrypoint, env=env_items(args), workdir=args.workdir, user=args.user)
    return CreateOptions(
        image=args.image, name=args.name, overrides=overrides, hostname=args.hostname,
        network=args.network, net=net, volumes=tuple(args.volume), mounts=tuple(args.mount), auto_remove=args.rm,
        interactive=args.interactive, tty=args.tty, no_new_privileges=iso.no_new_privileges, isolation=iso,
        detach=args.detach and args.command == "run", healthcheck=health.healthcheck(args),
        links=tuple(_link(args, raw) for raw in args.link), volumes_from=tuple(args.volumes_from),
    )


def _link(args: argparse.Namespace, raw: str) -> str:
    """Docker's client checks a link's form (ValidateLink) before anything is sent."""
    from dockyard.engine.container_options import parse_link

    try:
        parse_link(raw)
    except InvalidArgumentError as exc:
        raise UsageError(f'invalid argument "{raw}" for "--link" flag: {exc}\n\n'
                         f"Run 'dockyard {args.command} --help' for more information") from None
    return raw


def _create(ctx: Context, args: argparse.Namespace) -> Container:
    command = "run" if args.handler is run_cmd else "create"
    if args.pull not in ("always", "missing", "never"):
        raise UsageError(f'dockyard: invalid pull option: \'{args.pull}\': must be one of "always", "missing" or "never".\n'
                         f"See 'dockyard {command} --help'.")
    if args.cidfile and os.path.exists(args.cidfile):
        raise UsageError(f"dockyard: container ID file found, make sure the other container isn't running or delete "
                         f"{args.cidfile}.\nSee 'dockyard {command} --help'.")
    opts = _options(args)
    if args.pull == "always" or (args.platform and args.pull == "missing"):  # a local image of another platform: pulled
        _pull(ctx, args, announce=False)
    try:
        container = ctx.engine.container_service.create(opts)
    except ImageNotFoundError:
        if args.pull == "never":
            raise
        _pull(ctx, args)
        container = ctx.engine.container_service.create(opts)
    if args.cidfile:
        with open(args.cidfile, "x") as f:
            f.write(container.id)
    return container


def _pull(ctx: Context, args: argparse.Namespace, announce: bool = True) -> None:
    """Local first, then the registry (as dockerd); the pull's progress goes to stderr, as Docker's ``run`` shows it."""
    from dockyard.cli.shared import missing_image_line, pull_progress

    if announce:
        print(missing_image_line(args.image), file=sys.stderr)
    ctx.engine.ensure_image(args.image, pull=args.pull, platform=args.platform, progress=pull_progress(sys.stderr))


def _daemon_error(command: str, exc: Exception) -> str:
    """Docker 28's run: the daemon's answer as it is (a bad image name in the CLI's words), then a help hint."""
    return f"dockyard: Error response from daemon: {exc}\n\nRun 'dockyard {command} --help' for more information"


def create_cmd(ctx: Context, args: argparse.Namespace) -> int:
    try:
        container = _create(ctx, args)
    except DockyardError as exc:
        # Docker 28's create: the daemon's answer as it is, exit 1; a bad image name is the CLI's own
        if isinstance(exc, InvalidReferenceError):
            from dockyard.engine.images import client_reference_error

            print(client_reference_error(args.image, exc), file=sys.stderr)
        else:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(container.id)
    return 0


def run_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.container_options import ContainerStartError

    try:
        container = _create(ctx, args)
        if args.detach:
            ctx.engine.container_service.start(container)
            print(container.id)
            return 0
        return run_attached(ctx, container, args, stdin=args.interactive)
    except ContainerStartError as exc:
        # Docker prints no usage hint here: the image, not the command line, is at fault
        print(f"dockyard: Error response from daemon: failed to create shim task: OCI runtime create failed: {exc}: unknown.",
              file=sys.stderr)
        return exc.code
    except InvalidReferenceError as exc:
        from dockyard.engine.images import client_reference_error

        print(f"dockyard: {client_reference_error(args.image, exc)}\n\nRun 'dockyard run --help' for more information", file=sys.stderr)
        return EXIT_USAGE
    except DockyardError as exc:
        print(_daemon_error("run", exc), file=sys.stderr)
        return EXIT_USAGE


# start, stop, rm -------------------------------------------------------------------


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    attach_flags(p, sig_proxy=False)
    p.set_defaults(handler=start_cmd, sig_proxy=True)


def start_cmd(ctx: Context, args: argparse.Namespace) -> int:
    if args.attach or args.interactive:
        return _start_attached(ctx, args)
    return each(ctx, args, "start", ctx.engine.container_service.start)


def _start_attached(ctx: Context, args: argparse.Namespace) -> int:
    """``start -a [-i]``: one container, attached (a running one is just attached to)."""
    from dockyard.engine.container_options import ContainerStartError

    require_args(args, "start", 1)
    if len(args.args) > 1:
        raise UsageError("you cannot start and attach multiple containers at once", EXIT_ERROR)
    container = lookup(ctx, args.args[0])
    stdin = args.interactive and bool(container.record["Config"].get("OpenStdin"))
    check_tty(bool(container.record["Config"].get("Tty")), stdin)
    detach_keys(args)
    try:
        return run_attached(ctx, container, args, stdin=stdin)
    except ContainerStartError as exc:
        raise UsageError(f"Error response from daemon: failed to create shim task: OCI runtime create failed: {exc}: unknown",
                         EXIT_ERROR) from exc


def _stop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-t", "--time", type=int, default=None)
    p.set_defaults(handler=stop_cmd)


def stop_cmd(ctx: Context, args: argparse.Namespace) -> int:
    return each_parallel(ctx, args, "stop", lambda c: ctx.engine.container_service.stop(c, args.time))


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.add_argument("-l", "--link", action="store_true")
    p.set_defaults(handler=rm_cmd)


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    if args.link:
        return _rm_links(ctx, args)
    if args.force and args.args:  # Docker: -f of a container that does not exist is reported, but no failure
        args.args = [name for name in args.args if _exists(ctx, name)]
        if not args.args:
            return 0
    return each(ctx, args, "rm", lambda c: ctx.engine.container_service.remove(c, force=args.force, volumes=args.volumes))


def _rm_links(ctx: Context, args: argparse.Namespace) -> int:
    """``rm --link PARENT/ALIAS``: the links go, the containers stay."""
    return each_name(args, "rm", ctx.engine.container_service.remove_link)


def _label_header(name: str) -> str:
    """Docker's column title for ``{{.Label "com.x-y_z"}}``: "x y z"."""
    return name.rsplit(".", 1)[-1].replace("-", " ").replace("_", " ")


def _exists(ctx: Context, name: str) -> bool:
    from dockyard.errors import NotFoundError

    try:
        ctx.engine.container_service.get(name)
    except NotFoundError as exc:
        print(f"Error response from daemon: {exc}", file=sys.stderr)
        return False
    return True


# ps --------------------------------------------------------------------------------


def _ps_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.set_defaults(handler=ps_cmd)


def ps_command(args: tuple[str, ...] | list[str], no_trunc: bool) -> str:
    """Docker's COMMAND: the daemon joins the arguments, quoting those with a space in '…'; the CLI truncates
    to 20 columns with … and prints it with strconv.Quote."""
    from dockyard.cli.gotemplate.gostrconv import go_quote
    from dockyard.engine.container_json import command_line

    command = command_line(args)
    return go_quote(command if no_trunc else ellipsis(command, 20))


def ellipsis(text: str, width: int) -> str:
    """The CLI's formatter.Ellipsis: at most ``width`` display columns (wide runes count two), … marking a cut."""
    import unicodedata

    widths = [2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text]
    if sum(widths) <= width:
        return text
    used = 0
    for i, w in enumerate(widths):
        if used + w > width - 1:
            return text[:i] + "…"
        used += w
    return text


def _go_time(value: str) -> str:
    """Go's time.Time.String() of the creation second, in local time (``.CreatedAt``)."""
    moment = parse_time(value)
    if moment is None:
        return value
    local = moment.astimezone().replace(microsecond=0)
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "")


def ps_row(c: Container, no_trunc: bool, now: float) -> dict[str, Any]:
    """One container as Docker's ContainerContext, its fields in the order ``{{json .}}`` prints them (Go sorts
    the map); Ports, Networks and Size are filled in by the caller, ``Label`` by ``ps_cmd``."""
    from dockyard.engine.container_json import mount_names, since, status_text

    state = c.run.status
    mounts = c.stored.mounts
    return {
        "Command": ps_command(c.stored.process.args, no_trunc), "CreatedAt": _go_time(c.created),
        "ID": c.id if no_trunc else c.id[:12], "Image": c.stored.image,
        "Labels": ",".join(sorted(f"{k}={v}" for k, v in c.stored.config.labels.items())),
        "LocalVolumes": str(sum(1 for m in mounts if m.type == "volume" and (m.driver or "local") == "local")),
        "Mounts": ",".join(n if no_trunc else ellipsis(n, 15) for n in mount_names(mounts)),
        "Names": c.name, "Networks": "", "Platform": None, "Ports": "",
        "RunningFor": human_duration(since(c.created, now)) + " ago", "Size": "",
        "State": "exited" if state == "removing" else state,
        "Status": status_text(c.run, now, (c.state.get("Health") or {}).get("Status", "")),
    }


def _listed(ctx: Context, args: argparse.Namespace) -> list[Container]:
    """Newest first; ``-n``/``-l`` and a status filter look at stopped containers too, as Docker's."""
    from dockyard.cli.filters import parse_filters

    last = 1 if args.latest else args.last
    return ctx.engine.container_service.select(parse_filters(args.filter), show_all=args.all, last=last)


def ps_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine import container_json

    now = time.time()
    containers = _listed(ctx, args)
    if args.quiet:
        sys.stdout.write("".join((c.id if args.no_trunc else c.id[:12]) + "\n" for c in containers))
        return 0
    rows = [ps_row(c, args.no_trunc, now) for c in containers]
    for row, c in zip(rows, containers):
        ports, joined = container_json.ps_network_columns(ctx.engine, c)
        row.update(Ports=ports, Networks=",".join(joined))
    if args.no_trunc:  # Docker's untruncated NAMES: the links' names too (PARENT/ALIAS)
        linked = ctx.engine.container_service.link_names()
        for row, c in zip(rows, containers):
            row["Names"] = ",".join([c.name, *sorted(n[1:] for n in linked.get(c.id, ()))])
    fmt = args.format or (PS_FORMAT + "\t{{.Size}}" if args.size else PS_FORMAT)
    if "Size" in fmt or "json ." in fmt:  # the CLI asks for sizes when the template uses them (json . does)
        from dockyard.cli.units import human_size_with_precision

        for row, c in zip(rows, containers):
            sizes = ctx.engine.container_service.sizes(c)
            row["Size"] = f"{human_size_with_precision(sizes.rw, 3)} (virtual {human_size_with_precision(sizes.root_fs, 3)})"
    for row, c in zip(rows, containers):
        row["Label"] = lambda name, labels=c.stored.config.labels: labels.get(name, "")  # {{.Label "app"}}
    errors = ("failed to parse template", "failed to execute template")  # docker ps's own words
    headers = {**PS_HEADERS, "Label": _label_header}
    sys.stdout.write(render(fmt, rows, headers, "*formatter.ContainerContext", errors=errors))
    return 0


# inspect ---------------------------------------------------------------------------


# Docker's CLI tries a name as these, in this order, when no --type is given
_INSPECT_ORDER = ("container", "image", "network", "volume")
_DOCKER_TYPES = ("config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume")
_TYPE_LIST = ", ".join(f'"{kind}"' for kind in _DOCKER_TYPES)


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Docker's ``inspect``: each name as a container, else an image, a network, a volume; ``--type`` picks one,
    and then a miss is the daemon's answer for that kind rather than "No such object"."""
    require_args(args, "inspect", 1)
    if args.type and args.type not in _DOCKER_TYPES:
        raise UsageError(f'unknown type: "{args.type}": must be one of {_TYPE_LIST}', 1)
    found: list[dict[str, Any]] = []
    errors: list[str] = []
    for name in args.args:
        if not args.type:
            document = next((d for kind in _INSPECT_ORDER if (d := _inspect_as(ctx, kind, name, args.size)) is not None), None)
            if document is None:
                errors.append(f"Error: No such object: {name}")
            else:
                found.append(document)
            continue
        try:
            found.append(_inspect_one(ctx, args.type, name, args.size))
        except DockyardError as exc:
            errors.append(missing_object_line(args.type, name, exc))
    sys.stdout.write(render_inspect(args.format, found) if args.format else to_json(found) + "\n")
    for line in errors:
        print(line, file=sys.stderr)
    return EXIT_ERROR if errors else 0


def _inspect_as(ctx: Context, kind: str, name: str, size: bool) -> dict[str, Any] | None:
    try:
        return _inspect_one(ctx, kind, name, size)
    except DockyardError:
        return None


def _inspect_one(ctx: Context, kind: str, name: str, size: bool) -> dict[str, Any]:
    """One object's document; DockyardError (NotFoundError as a rule) when there is none of that kind."""
    engine = ctx.engine
    if kind == "container":
        service = engine.container_service
        return service.inspect(service.get(name), size=size)
    if kind == "image":
        from dockyard.engine.image_json import inspect_image

        return inspect_image(engine.image_service.inspect(name))
    if kind == "network":
        from dockyard.engine.network_json import network_json

        return network_json(engine.network_service.inspect(name))
    if kind == "volume":
        from dockyard.engine.volume_json import volume_json

        return volume_json(engine.volume_service.inspect(name))
    if kind == "plugin":
        raise NotFoundError(f'plugin "{name}" not found')
    raise NotSwarmManagerError()
