"""Lifecycle commands: kill, restart, wait, pause, unpause, top, stats, rename, update."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Callable

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, require_args
from dockyard.cli.format import render
from dockyard.cli.shared import each
from dockyard.errors import DockyardError, NotFoundError

if TYPE_CHECKING:
    from dockyard.runtime.control import Stats
    from dockyard.runtime.container_state import Container

STATS_FORMAT = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
STATS_HEADERS = {
    "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}  # fmt: skip
STATS_INTERVAL = 0.5  # seconds between the two readings CPU % is computed from


def register(commands: argparse._SubParsersAction) -> None:
    for name, setup in (("kill", _kill_args), ("restart", _restart_args), ("wait", _wait_args), ("pause", _pause_args),
                        ("unpause", _unpause_args), ("top", _top_args), ("stats", _stats_args), ("rename", _rename_args),
                        ("update", _update_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}"))


def _containers_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")


# kill, restart, wait, pause, unpause -------------------------------------------------


def _kill_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.add_argument("-s", "--signal", default="KILL")
    p.set_defaults(handler=kill_cmd)


def _for_each(args: argparse.Namespace, command: str, action: Callable[[str], object]) -> int:
    """``action(name)`` for each container named, in order; prints what it returns, or Docker's error line."""
    require_args(args, command, 1)
    failed = False
    for name in args.args:
        try:
            print(action(name), flush=True)
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    return EXIT_ERROR if failed else 0


def kill_cmd(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.engine.container_service

    def kill(name: str) -> str:
        try:
            container = service.get(name)
        except NotFoundError as exc:
            raise DockyardError(f"Cannot kill container: {name}: {exc}") from None
        service.kill(container, args.signal)
        return name

    return _for_each(args, "kill", kill)


def _restart_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.add_argument("-t", "--time", type=int, default=None)
    p.set_defaults(handler=restart_cmd)


def restart_cmd(ctx: Context, args: argparse.Namespace) -> int:
    return each(ctx, args, "restart", lambda c: ctx.engine.container_service.restart(c, args.time))


def _wait_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.set_defaults(handler=wait_cmd)


def wait_cmd(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.engine.container_service
    return _for_each(args, "wait", lambda name: service.wait(service.get(name)))


def _pause_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.set_defaults(handler=lambda ctx, args: each(ctx, args, "pause", ctx.engine.container_service.pause))


def _unpause_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.set_defaults(handler=lambda ctx, args: each(ctx, args, "unpause", ctx.engine.container_service.unpause))


# rename ------------------------------------------------------------------------------


def _rename_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.set_defaults(handler=rename_cmd)


def rename_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "rename", 2, exact=True)
    old, new = args.args
    try:
        service = ctx.engine.container_service
        service.rename(service.get(old), new)
    except DockyardError as exc:
        print(f"Error response from daemon: {exc}", file=sys.stderr)
        print(f"Error: failed to rename container named {old}", file=sys.stderr)
        return EXIT_ERROR
    return 0


# update ------------------------------------------------------------------------------


def _update_args(p: argparse.ArgumentParser) -> None:
    from dockyard.cli import isolation

    _containers_arg(p)
    isolation.add_limit_flags(p)
    p.add_argument("--restart")
    p.set_defaults(handler=update_cmd)


def update_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.cli import isolation

    require_args(args, "update", 1)
    changes, restart = isolation.update_changes(args)
    if not changes and restart is None:
        raise UsageError("You must provide one or more flags when using this command.", EXIT_ERROR)
    service = ctx.engine.container_service
    return _for_each(args, "update", lambda name: service.update(service.get(name), changes, restart) or name)


# top ---------------------------------------------------------------------------------


def _top_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CONTAINER [ps OPTIONS]")
    p.set_defaults(handler=top_cmd)


def _columns(rows: list[list[str]], min_width: int = 20, padding: int = 3) -> str:
    """Go's tabwriter as ``docker top`` sets it up: cells padded to at least ``min_width``."""
    widths = [max(min_width, *(len(r[i]) + padding for r in rows if i < len(r))) for i in range(max(map(len, rows)))]
    return "".join("".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)) + "\n" for r in rows)


def top_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "top", 1)
    service = ctx.engine.container_service
    report = service.top(service.get(args.args[0]), args.args[1:])
    sys.stdout.write(_columns([report.titles, *report.rows]))
    return 0


# stats -------------------------------------------------------------------------------


def _stats_args(p: argparse.ArgumentParser) -> None:
    _containers_arg(p)
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("--format", default="")
    p.set_defaults(handler=stats_cmd)


def _stats_row(c: Container, given: str, s: Stats, no_trunc: bool) -> dict[str, str]:
    from dockyard.cli.units import bytes_size, human_size_with_precision

    def pair(a: int, b: int) -> str:
        return f"{human_size_with_precision(a, 3)} / {human_size_with_precision(b, 3)}"

    return {
        "Container": given, "ID": c.id if no_trunc else c.id[:12], "Name": c.name, "CPUPerc": f"{s.cpu_percent:.2f}%",
        "MemUsage": f"{bytes_size(s.memory)} / {bytes_size(s.memory_limit)}", "MemPerc": f"{s.memory_percent:.2f}%",
        "NetIO": pair(s.net_rx, s.net_tx), "BlockIO": pair(s.block_read, s.block_write), "PIDs": str(s.pids),
    }


def stats_cmd(ctx: Context, args: argparse.Namespace) -> int:
    service = ctx.engine.container_service
    if args.args:
        targets = []
        for name in args.args:
            try:
                targets.append((name, service.get(name)))
            except DockyardError as exc:
                print(f"Error response from daemon: {exc}", file=sys.stderr)
                return EXIT_ERROR
    else:
        targets = [(c.id[:12], c) for c in service.list() if args.all or c.running]
    before = [service.sample(c) for _, c in targets]
    while True:
        time.sleep(STATS_INTERVAL)
        targets = [(given, service.get(c.id)) for given, c in targets]
        after = [service.sample(c) for _, c in targets]
        rows = [_stats_row(c, given, service.stats(b, a), args.no_trunc) for (given, c), b, a in zip(targets, before, after)]
        out = render(args.format or STATS_FORMAT, rows, STATS_HEADERS, "*container.statsContext")
        if args.no_stream:
            sys.stdout.write(out)
            return 0
        sys.stdout.write("\033[2J\033[H" + out if sys.stdout.isatty() else out)
        sys.stdout.flush()
        before = after
