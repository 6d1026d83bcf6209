"""Container commands: run, create, start, ps, logs, stop, rm, and inspect of containers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dockyard.cli import attach, isolation, shared
from dockyard.cli.context import (
    EXIT_ERROR,
    EXIT_USAGE,
    Context,
    UsageError,
    require_args,
)
from dockyard.cli.container_logs import register_logs
from dockyard.cli.format import render, to_json
from dockyard.cli.units import human_duration
from dockyard.engine import network_json
from dockyard.errors import DockyardError, ImageNotFoundError
from dockyard.oci.config import parse_time

PS_FORMAT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED", "CreatedAt": "CREATED AT",
    "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE", "Labels": "LABELS",
    "Mounts": "MOUNTS", "Networks": "NETWORKS",
}  # fmt: skip
ZERO_TIME = "0001-01-01T00:00:00Z"


def register(commands: argparse._SubParsersAction) -> None:
    for name, setup in (("run", _run_args), ("create", _create_args), ("start", _start_args), ("ps", _ps_args),
                        ("logs", register_logs), ("stop", _stop_args), ("rm", _rm_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}", add_help=name not in ("run", "create")))
    monitor = commands.add_parser("container-monitor")
    monitor.add_argument("id")
    monitor.add_argument("--attach-fd", type=int)
    monitor.set_defaults(handler=lambda ctx, args: ctx.engine.containers.monitor(args.id, args.attach_fd))
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
    shared.add_network_flags(p)
    p.add_argument("-v", "--volume", action="append", default=[])
    p.add_argument("--mount", action="append", default=[])
    p.add_argument("--security-opt", action="append", default=[])
    isolation.add_flags(p)
    p.add_argument("--help", action="help")


def _run_args(p: argparse.ArgumentParser) -> None:
    _create_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    attach.attach_flags(p)
    p.set_defaults(handler=run_cmd)


def _create_args(p: argparse.ArgumentParser) -> None:
    _create_flags(p)
    p.set_defaults(handler=create_cmd, detach=True)


def _env(args: argparse.Namespace) -> tuple[str, ...]:
    from dockyard.runtime.spec import parse_env_file

    items: list[str] = []
    for path in args.env_file:
        try:
            items += parse_env_file(Path(path).read_text())
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    items += args.env
    # a bare KEY takes the caller's value, or is dropped when the caller has none (Docker)
    return tuple(i if "=" in i else f"{i}={os.environ[i]}" for i in items if "=" in i or i in os.environ)


def _options(args: argparse.Namespace) -> Any:
    from dockyard.runtime.containers import CreateOptions
    from dockyard.runtime.spec import Overrides

    attach.check_tty(args.tty, args.interactive)
    if getattr(args, "detach_keys", None):  # run's flag: refused before anything is created
        attach.parse_detach_keys(args.detach_keys)
    iso = isolation.isolation(args)
    net = shared.network_options(args)
    entrypoint = None if args.entrypoint is None else tuple(filter(None, [args.entrypoint]))
    overrides = Overrides(cmd=tuple(args.cmd), entrypoint=entrypoint, env=_env(args), workdir=args.workdir, user=args.user)
    return CreateOptions(
        image=args.image, name=args.name, overrides=overrides, hostname=args.hostname,
        network=args.network, net=net, volumes=tuple(args.volume), mounts=tuple(args.mount), auto_remove=args.rm,
        interactive=args.interactive, tty=args.tty, no_new_privileges=iso.no_new_privileges, isolation=iso,
        detach=args.detach and args.command == "run",
    )


def _create(ctx: Context, args: argparse.Namespace) -> Any:
    opts = _options(args)
    try:
        return ctx.engine.containers.create(opts)
    except ImageNotFoundError:
        _pull(ctx, args.image)
        return ctx.engine.containers.create(opts)


def _pull(ctx: Context, image: str) -> None:
    """Local first, then the registry (as dockerd); the pull's progress goes to stderr, as Docker's ``run`` shows it."""
    from dockyard.cli.shared import missing_image_line, pull_progress

    print(missing_image_line(image), file=sys.stderr)
    ctx.engine.ensure_image(image, progress=pull_progress(sys.stderr))


def _daemon_error(command: str, exc: Exception) -> str:
    return f"dockyard: Error response from daemon: {str(exc).rstrip('.')}.\nSee 'dockyard {command} --help'."


def create_cmd(ctx: Context, args: argparse.Namespace) -> int:
    try:
        container = _create(ctx, args)
    except DockyardError as exc:
        print(_daemon_error("create", exc), file=sys.stderr)
        return EXIT_USAGE
    print(container.id)
    return 0


def run_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.runtime.containers import ContainerStartError

    try:
        container = _create(ctx, args)
        store = ctx.engine.containers
        if args.detach:
            proc = store.start(container)
            store.wait_started(container, proc)
            print(container.id)
            return 0
        return attach.run_attached(ctx, container, args, stdin=args.interactive)
    except ContainerStartError as exc:
        # Docker prints no usage hint here: the image, not the command line, is at fault
        print(f"dockyard: Error response from daemon: failed to create shim task: OCI runtime create failed: {exc}: unknown.",
              file=sys.stderr)
        return exc.code
    except DockyardError as exc:
        print(_daemon_error("run", exc), file=sys.stderr)
        return EXIT_USAGE


# start, stop, rm -------------------------------------------------------------------


def _each(ctx: Context, args: argparse.Namespace, command: str, action: Any) -> int:
    require_args(args, command, 1)
    failed = False
    for name in args.args:
        try:
            action(ctx.engine.containers.get(name))
            print(name)
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    if failed and command in ("start",):
        print(f"Error: failed to {command} containers: {', '.join(args.args)}", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    attach.attach_flags(p, sig_proxy=False)
    p.set_defaults(handler=start_cmd, sig_proxy=True)


def start_cmd(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.engine.containers
    if args.attach or args.interactive:
        return attach.start_attached_cmd(ctx, args)

    def start(container: Any) -> None:
        proc = store.start(container)
        if proc is not None:
            store.wait_started(container, proc)

    return _each(ctx, args, "start", start)


def _stop_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-t", "--time", type=int, default=None)
    p.set_defaults(handler=stop_cmd)


def stop_cmd(ctx: Context, args: argparse.Namespace) -> int:
    return each_parallel(ctx, args, "stop", lambda c: ctx.engine.containers.stop(c, args.time))


def each_parallel(ctx: Context, args: argparse.Namespace, command: str, action: Any) -> int:
    """``_each`` with the actions at once (as Docker's CLI: ten containers stop in one timeout, not ten);
    lookups stay in this thread (the database is single-threaded), output in argument order."""
    from concurrent.futures import ThreadPoolExecutor

    require_args(args, command, 1)
    found: dict[str, Any] = {}
    for name in args.args:
        try:
            found[name] = ctx.engine.containers.get(name)
        except DockyardError as exc:
            found[name] = exc
    with ThreadPoolExecutor(max_workers=min(32, len(found))) as pool:
        futures = {name: pool.submit(action, c) for name, c in found.items() if not isinstance(c, Exception)}
    failed = False
    for name in args.args:
        error = found[name] if isinstance(found[name], Exception) else futures[name].exception()
        if error is None:
            print(name)
        elif isinstance(error, DockyardError):
            print(f"Error response from daemon: {error}", file=sys.stderr)
            failed = True
        else:
            raise error
    return EXIT_ERROR if failed else 0


def _rm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true")
    p.set_defaults(handler=rm_cmd)


def rm_cmd(ctx: Context, args: argparse.Namespace) -> int:
    return _each(ctx, args, "rm", lambda c: ctx.engine.containers.remove(c, force=args.force, volumes=args.volumes))


# logs ------------------------------------------------------------------------------


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


def _status(state: dict[str, Any], now: float) -> str:
    status = state.get("Status")
    if status in ("running", "paused"):
        return "Up " + human_duration(_since(state["StartedAt"], now)) + " (Paused)" * (status == "paused")
    if status == "restarting":
        return f"Restarting ({state.get('ExitCode', 0)}) {human_duration(_since(state['FinishedAt'], now))} ago"
    if status == "exited":
        return f"Exited ({state.get('ExitCode', 0)}) {human_duration(_since(state['FinishedAt'], now))} ago"
    if status == "removing":
        return "Removal In Progress"
    return "Created"


def ps_row(c: Any, no_trunc: bool, now: float) -> dict[str, Any]:
    command = " ".join(c.record["Process"]["args"])
    if not no_trunc and len(command) > 20:
        command = command[:19] + "…"
    state = c.state.get("Status", "created")
    return {
        "ID": c.id if no_trunc else c.id[:12], "Image": c.record["Image"], "Command": json.dumps(command, ensure_ascii=False),  # Go's strconv.Quote
        "RunningFor": human_duration(_since(c.created, now)) + " ago", "CreatedAt": c.created,
        "Status": _status(c.state, now), "State": "exited" if state == "removing" else state, "Ports": "",
        "Names": c.name, "Labels": "", "Mounts": "", "Networks": "", "Size": "",
    }


def _listed(ctx: Context, args: argparse.Namespace) -> list[Any]:
    """Newest first; ``-n``/``-l`` and a status filter look at stopped containers too, as Docker's."""
    last = 1 if args.latest else args.last
    containers = ctx.engine.containers.list()
    if args.filter:
        from dockyard.cli.container_filters import ContainerFilter
        from dockyard.engine.volume_json import inspect_mounts

        store = ctx.engine.containers
        keep = ContainerFilter(
            args.filter, store.get, lambda ref: ctx.engine.images.resolve(ref).id, lambda c: inspect_mounts(c.record),
            lambda c: shared.network_ps_columns(ctx, c)["Networks"].split(","),
        )
        show_all = args.all or keep.shows_all or last > 0
        containers = [c for c in containers if (show_all or c.running) and keep(c)]
    else:
        containers = [c for c in containers if args.all or last > 0 or c.running]
    return containers[:last] if last > 0 else containers


def ps_cmd(ctx: Context, args: argparse.Namespace) -> int:
    now = time.time()
    containers = _listed(ctx, args)
    if args.quiet:
        sys.stdout.write("".join((c.id if args.no_trunc else c.id[:12]) + "\n" for c in containers))
        return 0
    rows = [ps_row(c, args.no_trunc, now) for c in containers]
    for row, c in zip(rows, containers):
        row.update(shared.network_ps_columns(ctx, c))
    fmt = args.format or (PS_FORMAT + "\t{{.Size}}" if args.size else PS_FORMAT)
    if "Size" in fmt:
        from dockyard.cli.container_files import size_column

        for row, c in zip(rows, containers):
            row["Size"] = size_column(ctx, c)
    if "Mounts" in fmt:
        from dockyard.cli.shared import mounts_column

        for row, c in zip(rows, containers):
            row["Mounts"] = mounts_column(c.record, args.no_trunc)
    sys.stdout.write(render(fmt, rows, PS_HEADERS))
    return 0


# inspect ---------------------------------------------------------------------------


def inspect_container(ctx: Context, c: Any) -> dict[str, Any]:
    from dockyard.engine.volume_json import inspect_mounts

    store = ctx.engine.containers
    paths = store.paths(c.id)
    st, rec = c.state, c.record
    status = st.get("Status", "created")
    args = rec["Process"]["args"]
    upper = paths.layer / "diff"
    return {
        "Id": c.id, "Created": c.created, "Path": args[0], "Args": args[1:],
        "State": {
            "Status": "exited" if status == "removing" else status, "Running": c.running, "Paused": status == "paused",
            "Restarting": status == "restarting", "OOMKilled": bool(st.get("OOMKilled")), "Dead": False,
            "Pid": st.get("Pid", 0),
            "ExitCode": st.get("ExitCode", 0), "Error": st.get("Error", ""),
            "StartedAt": st.get("StartedAt", ZERO_TIME), "FinishedAt": st.get("FinishedAt", ZERO_TIME),
        },
        "Image": c.image_id, "ResolvConfPath": str(paths.resolv), "HostnamePath": str(paths.hostname),
        "HostsPath": str(paths.hosts), "LogPath": str(paths.log), "Name": "/" + c.name, "RestartCount": st.get("RestartCount", 0),
        "Driver": ctx.engine.driver.name, "Platform": "linux", "MountLabel": "", "ProcessLabel": "",
        "AppArmorProfile": "", "ExecIDs": None,
        "HostConfig": {"Binds": rec["HostConfig"]["Binds"], "LogConfig": {"Type": "json-file", "Config": {}},
                       "NetworkMode": rec["HostConfig"]["NetworkMode"], "AutoRemove": rec["HostConfig"]["AutoRemove"],
                       "SecurityOpt": rec["HostConfig"]["SecurityOpt"], **network_json.host_config(rec),
                       **isolation.inspect_host_config(rec["HostConfig"])},
        "GraphDriver": {"Data": {"MergedDir": str(paths.rootfs), "UpperDir": str(upper), "WorkDir": str(paths.layer / "work")},
                        "Name": ctx.engine.driver.name},
        "Mounts": inspect_mounts(rec),
        "Config": {k: v for k, v in rec["Config"].items() if k != "StopSignal" or v},
        "NetworkSettings": shared.network_settings(ctx, c),
    }


def inspect_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Docker's ``inspect``: each name as an image, else as a container (``--type`` picks one)."""
    from dockyard.cli import images
    from dockyard.cli.container_files import with_sizes

    require_args(args, "inspect", 1)
    if args.type not in ("", "image", "container"):
        raise UsageError(f'"{args.type}" is not a valid value for --type', 1)
    found: list[dict[str, Any]] = []
    missing: list[str] = []
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
            container = ctx.engine.containers.get(name)
            found.append(inspect_container(ctx, container))
            if getattr(args, "size", False):
                found[-1] = with_sizes(ctx, container, found[-1])
        except DockyardError:
            missing.append(name)
    sys.stdout.write(render(args.format, found, {}) if args.format else to_json(found) + "\n")
    for name in missing:
        print(f"Error: No such object: {name}", file=sys.stderr)
    return EXIT_ERROR if missing else 0
