"""``attach`` and ``exec``: a terminal or pipes joined to a container's streams (the session itself: ``terminal``)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, require_args
from dockyard.cli.shared import attach_flags, attach_running, check_tty, detach_keys, env_items, finish, lookup
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.cli.terminal import Transport


# attach ------------------------------------------------------------------------------


def _attach_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("--no-stdin", action="store_true")
    attach_flags(p)
    p.set_defaults(handler=attach_cmd)


def attach_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "attach", 1, exact=True)
    from dockyard.engine.containers import not_attachable

    container = lookup(ctx, args.args[0])
    refused = not_attachable(container)
    if refused is not None:
        raise UsageError(str(refused), EXIT_ERROR)
    config = container.record["Config"]
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    detach_keys(args)
    check_tty(bool(config.get("Tty")), not args.no_stdin)  # as Docker's CLI: whether or not the container kept stdin open
    outcome = attach_running(ctx, container, args, stdin=stdin)
    return finish(ctx, container.id, outcome, detach_message=True)


# exec --------------------------------------------------------------------------------


def _exec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="CONTAINER COMMAND")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-w", "--workdir")
    p.add_argument("--privileged", action="store_true")
    attach_flags(p, sig_proxy=False)
    p.set_defaults(handler=exec_cmd)


def exec_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.cli.terminal import ConsoleTransport, PipeTransport, Session, stream, terminal_size
    from dockyard.engine.container_options import EXEC_FAILED, ExecOptions, ExecStartError

    require_args(args, "exec", 2)
    tty, stdin = args.tty, args.interactive and not args.detach
    if not args.detach:
        check_tty(tty, stdin)
    keys = detach_keys(args)
    opts = ExecOptions(args=tuple(args.args[1:]), env=env_items(args), user=args.user, workdir=args.workdir,
                             tty=tty, interactive=stdin, privileged=args.privileged, detach=args.detach)
    service = ctx.engine.container_service
    container = lookup(ctx, args.args[0])
    try:
        started = service.exec(container, opts, args.args[0])
    except (ExecStartError, InvalidArgumentError) as exc:
        print(str(exc))  # Docker 20.10 prints exec start failures on stdout
        return EXEC_FAILED
    if args.detach:
        if started.master is not None:
            service.hold_console(started.master)
        return 0
    pidfd = os.pidfd_open(started.pid)  # the session ends when the process does, not its background children
    if started.master is not None:
        transport: Transport = ConsoleTransport(started.master, pidfd)
        size = terminal_size()
        if size:
            transport.resize(*size)
    else:
        transport = PipeTransport(started.stdin, started.stdout, started.stderr, pidfd)  # type: ignore[arg-type]
        if not stdin:
            transport.close_stdin()
    outcome = stream(transport, Session(tty, stdin, keys))
    if outcome.detached:
        return finish(ctx, container.id, outcome, detach_message=True)
    if started.master is not None:
        os.close(started.master)
    return started.wait()


def register(commands: argparse._SubParsersAction) -> None:
    _attach_args(commands.add_parser("attach", prog="dockyard attach"))
    _exec_args(commands.add_parser("exec", prog="dockyard exec"))
