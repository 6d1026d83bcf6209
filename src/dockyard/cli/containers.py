"""Container commands: run, create, start, ps, logs, stop, rm, and inspect of containers."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from dockyard.cli import isolation
from dockyard.cli.context import EXIT_ERROR, EXIT_USAGE, Context, UsageError, require_args
from dockyard.cli.format import render, render_inspect, to_json
from dockyard.cli.shared import attach_flags, check_tty, detach_keys, each, each_parallel, env_items, lookup, run_attached
from dockyard.cli.units import human_duration
from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError, InvalidReferenceError
from dockyard.oci.config import parse_time

if TYPE_CHECKING:
    from dockyard.engine.container_options import CreateOptions, NetworkOptions
    from dockyard.runtime.container_state import Container, RunState

PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED", "CreatedAt": "CREATED AT",
    "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS",
    "Mounts": "MOUNTS", "Networks": "NETWORKS",
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
    p.add_argument("--security-opt", action="append", default=[])
    isolation.add_flags(p)
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
    p.add_argument("--ip")


def _network_options(args: argparse.Namespace) -> NetworkOptions:
    """The network flags, checked as Docker's client checks them (its messages, exit 125)."""
    from dockyard.engine.container_options import NetworkOptions, parse_expose, parse_extra_host, parse_publish

    command = "run" if args.handler is run_cmd else "create"
    try:
        for spec in args.publish:
            parse_publish(spec)
        for spec in args.expose:
            parse_expose(spec)
    except InvalidArgumentError as exc:
        raise UsageError(f"dockyard: {exc}.\nSee 'dockyard {command} --help'.") from None
    try:
        for spec in args.add_host:
            parse_extra_host(spec)
    except InvalidArgumentError as exc:
        raise UsageError(f"{exc}\nSee 'dockyard {command} --help'.") from None
    if not args.network:
        raise UsageError(f"dockyard: invalid network mode: empty.\nSee 'dockyard {command} --help'.")
    if args.network == "host" and (args.publish or args.publish_all):
        print("WARNING: Published ports are discarded when using host network mode", file=sys.stderr)
    return NetworkOptions(tuple(args.publish), args.publish_all, tuple(args.expose), tuple(args.add_host),
                          tuple(args.network_alias), args.ip)


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
        detach=args.detach and args.command == "run",
    )


def _create(ctx: Context, args: argparse.Namespace) -> Container:
    opts = _options(args)
    try:
        return ctx.engine.container_service.create(opts)
    except ImageNotFoundError:
        _pull(ctx, args.image)
        return ctx.engine.container_service.create(opts)


def _pull(ctx: Context, image: str) -> None:
    """Local first, then the registry (as dockerd); the pull's progress goes to stderr, as Docker's ``run`` shows it."""
    from dockyard.cli.shared import missing_image_line, pull_progress

    print(missing_image_line(image), file=sys.stderr)
    ctx.engine.ensure_image(image, progress=pull_progress(sys.stderr))


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
    p.set_defaults(handler=rm_cmd)


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    if args.force and args.args:  # Docker: -f of a container that does not exist is reported, but no failure
        args.args = [name for name in args.args if _exists(ctx, name)]
        if not args.args:
            return 0
    return each(ctx, args, "rm", lambda c: ctx.engine.container_service.remove(c, force=args.force, volumes=args.volumes))


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


def _since(value: str, now: float) -> float:
    moment = parse_time(value)
    return now - moment.timestamp() if moment else 0.0


def _status(run: RunState, now: float) -> str:
    if run.status in ("running", "paused"):
        return "Up " + human_duration(_since(run.started_at, now)) + " (Paused)" * (run.status == "paused")
    if run.status == "restarting":
        return f"Restarting ({run.exit_code}) {human_duration(_since(run.finished_at, now))} ago"
    if run.status == "exited":
        return f"Exited ({run.exit_code}) {human_duration(_since(run.finished_at, now))} ago"
    if run.status == "removing":
        return "Removal In Progress"
    return "Created"


def ps_row(c: Container, no_trunc: bool, now: float) -> dict[str, Any]:
    command = " ".join(c.stored.process.args)
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    state = c.run.status
    return {
        "ID": c.id if no_trunc else c.id[:12], "Image": c.stored.image, "Command": json.dumps(command, ensure_ascii=False),  # Go's strconv.Quote
        "RunningFor": human_duration(_since(c.created, now)) + " ago", "CreatedAt": c.created,
        "Status": _status(c.run, now), "State": "exited" if state == "removing" else state, "Ports": "",
        "Names": c.name, "Labels": "", "Mounts": "", "Networks": "", "Size": "",
    }


def _listed(ctx: Context, args: argparse.Namespace) -> list[Container]:
    """Newest first; ``-n``/``-l`` and a status filter look at stopped containers too, as Docker's."""
    last = 1 if args.latest else args.last
    service = ctx.engine.container_service
    containers = service.list()
    if args.filter:
        from dockyard.cli.container_filters import ContainerFilter
        from dockyard.engine import container_json

        keep = ContainerFilter(
            args.filter, service.get, lambda ref: ctx.engine.images.resolve(ref).id,
            lambda c: container_json.inspect_mounts(c.stored.mounts),
            lambda c: container_json.ps_network_columns(ctx.engine, c)[1],
        )
        show_all = args.all or keep.shows_all or last > 0
        containers = [c for c in containers if (show_all or c.running) and keep(c)]
    else:
        containers = [c for c in containers if args.all or last > 0 or c.running]
    return containers[:last] if last > 0 else containers


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
    fmt = args.format or (PS_FORMAT + "\t{{.Size}}" if args.size else PS_FORMAT)
    if "Size" in fmt:
        from dockyard.cli.units import human_size_with_precision

        for row, c in zip(rows, containers):
            sizes = ctx.engine.container_service.sizes(c)
            row["Size"] = f"{human_size_with_precision(sizes.rw, 3)} (virtual {human_size_with_precision(sizes.root_fs, 3)})"
    if "Mounts" in fmt:
        for row, c in zip(rows, containers):
            names = container_json.mount_names(c.stored.mounts)
            row["Mounts"] = ",".join(n if args.no_trunc or len(n) <= 15 else n[:14] + "…" for n in names)
    for row, c in zip(rows, containers):
        row["Label"] = lambda name, labels=c.stored.config.labels: labels.get(name, "")  # {{.Label "app"}}
    errors = ("failed to parse template", "failed to execute template")  # docker ps's own words
    headers = {**PS_HEADERS, "Label": _label_header}
    sys.stdout.write(render(fmt, rows, headers, "*formatter.ContainerContext", errors=errors))
    return 0


# inspect ---------------------------------------------------------------------------


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Docker's ``inspect``: each name as an image, else as a container (``--type`` picks one)."""
    from dockyard.cli import images  # the image document, until the image service offers it

    require_args(args, "inspect", 1)
    if args.type not in ("", "image", "container"):
        raise UsageError(f'"{args.type}" is not a valid value for --type', 1)
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    service = ctx.engine.container_service
    for name in args.args:
        try:
            if args.type in ("", "image"):
                try:
                    image = ctx.engine.images.get(name)
                    found.append(images.inspect_json(ctx, image))
                    continue
                except (ImageNotFoundError, DockyardError):
                    if args.type == "image":
                        raise
            found.append(service.inspect(service.get(name), size=getattr(args, "size", False)))
        except DockyardError:
            missing.append(name)
    sys.stdout.write(render_inspect(args.format, found) if args.format else to_json(found) + "\n")
    for name in missing:
        print(f"Error: No such object: {name}", file=sys.stderr)
    return EXIT_ERROR if missing else 0
