"""Attached containers: ``run``/``start -a`` streams, ``attach``, ``exec`` (the session itself: ``terminal``)."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from typing import Any, Callable

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, require_args
from dockyard.cli.terminal import (
    DEFAULT_DETACH_KEYS,
    ConsoleTransport,
    MonitorTransport,
    Outcome,
    PipeTransport,
    Session,
    parse_detach_keys,
    stream,
    terminal_size,
)
from dockyard.errors import DockyardError, InvalidArgumentError
from dockyard.runtime import attach as proto

__all__ = ["attach_flags", "check_tty", "parse_detach_keys", "register", "run_attached", "start_attached_cmd"]


def parse_bool(value: str) -> bool:
    """Go's strconv.ParseBool, for ``--sig-proxy=false``."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise argparse.ArgumentTypeError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def attach_flags(p: argparse.ArgumentParser, *, sig_proxy: bool = True) -> None:
    p.add_argument("--detach-keys", default=None)
    if sig_proxy:
        p.add_argument("--sig-proxy", type=parse_bool, nargs="?", const=True, default=True)


def check_tty(tty: bool, stdin: bool) -> None:
    if tty and stdin and not os.isatty(0):
        raise UsageError("the input device is not a TTY", EXIT_ERROR)


def detach_keys(args: argparse.Namespace) -> bytes:
    return parse_detach_keys(args.detach_keys or DEFAULT_DETACH_KEYS)


def forwarder(ctx: Context, container: Any) -> Callable[[int], None]:
    """``--sig-proxy``: the signal goes to the container's init through its runtime, as ``docker kill -s`` would."""
    runtime = ctx.engine.containers.runtime(container.record)
    return lambda signum: runtime.kill(container.id, signal.Signals(signum).name.removeprefix("SIG"))


# run / start -a ----------------------------------------------------------------------


def start_attached(ctx: Context, container: Any, args: argparse.Namespace, *, stdin: bool) -> tuple[Outcome, Any]:
    """Spawn the monitor with our end already attached, and stream. Returns the outcome and the monitor."""
    store = ctx.engine.containers
    tty = bool(container.record["Config"].get("Tty"))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with ours:
        try:
            proc = store.start(container, theirs)
        finally:
            theirs.close()
        if proc is None:  # it was running already: attach to it like ``attach``
            return attach_running(ctx, container, args, stdin=stdin), None
        ours.sendall(proto.hello(stdin, terminal_size() if tty else None))
        session = Session(tty, stdin, detach_keys(args), forwarder(ctx, container) if getattr(args, "sig_proxy", True) else None)
        return stream(MonitorTransport(ours), session), proc


def attach_running(ctx: Context, container: Any, args: argparse.Namespace, *, stdin: bool) -> Outcome:
    store = ctx.engine.containers
    tty = bool(container.record["Config"].get("Tty"))
    stdin = stdin and bool(container.record["Config"].get("OpenStdin"))
    try:
        sock = proto.connect(store.paths(container.id).dir / proto.SOCKET_NAME)
    except proto.NotAttachableError:
        raise UsageError("You cannot attach to a stopped container, start it first", EXIT_ERROR) from None
    with sock:
        sock.sendall(proto.hello(stdin, terminal_size() if tty else None))
        session = Session(tty, stdin, detach_keys(args), forwarder(ctx, container) if getattr(args, "sig_proxy", True) else None)
        return stream(MonitorTransport(sock), session)


def run_attached(ctx: Context, container: Any, args: argparse.Namespace, *, stdin: bool) -> int:
    """``run`` without ``-d`` and ``start -a``: the container's exit code, or 0 after a detach.

    Raises ContainerStartError when the runtime could not start the process.
    """
    from dockyard.runtime.containers import check_start_error

    outcome, proc = start_attached(ctx, container, args, stdin=stdin)
    if proc is None:
        return _finish(ctx, container.id, outcome, detach_message=True)
    if outcome.detached:
        return outcome.code or 0  # the monitor runs on in its own session
    proc.wait()  # it applies --rm before it exits
    check_start_error(proc)
    return _finish(ctx, container.id, outcome, detach_message=False)  # no EXIT: the monitor was killed


def start_attached_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """``start -a [-i]``: one container, attached (a running one is just attached to)."""
    require_args(args, "start", 1)
    if len(args.args) > 1:
        raise UsageError("you cannot start and attach multiple containers at once", EXIT_ERROR)
    container = _container(ctx, args.args[0])
    stdin = args.interactive and bool(container.record["Config"].get("OpenStdin"))
    check_tty(bool(container.record["Config"].get("Tty")), stdin)
    detach_keys(args)
    from dockyard.runtime.containers import ContainerStartError

    try:
        return run_attached(ctx, container, args, stdin=stdin)
    except ContainerStartError as exc:
        raise UsageError(f"Error response from daemon: failed to create shim task: OCI runtime create failed: {exc}: unknown",
                         EXIT_ERROR) from exc


# attach ------------------------------------------------------------------------------


def _attach_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("--no-stdin", action="store_true")
    attach_flags(p)
    p.set_defaults(handler=attach_cmd)


def attach_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "attach", 1, exact=True)
    container = _container(ctx, args.args[0])
    if not container.running:
        raise UsageError("You cannot attach to a stopped container, start it first", EXIT_ERROR)
    if container.state.get("Status") == "paused":
        raise UsageError("You cannot attach to a paused container, unpause it first", EXIT_ERROR)
    if container.state.get("Status") == "restarting":
        raise UsageError("You cannot attach to a restarting container, wait until it is running", EXIT_ERROR)
    config = container.record["Config"]
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    detach_keys(args)
    check_tty(bool(config.get("Tty")), not args.no_stdin)  # as Docker's CLI: whether or not the container kept stdin open
    outcome = attach_running(ctx, container, args, stdin=stdin)
    return _finish(ctx, container.id, outcome, detach_message=True)


def _container(ctx: Context, name: str) -> Any:
    """Docker's CLI looks the container up first and says so itself when it is missing."""
    from dockyard.runtime.containers import ContainerNotFoundError

    try:
        return ctx.engine.containers.get(name)
    except ContainerNotFoundError as exc:
        raise UsageError(f"Error: {exc}", EXIT_ERROR) from exc


def _finish(ctx: Context, cid: str, outcome: Outcome, *, detach_message: bool) -> int:
    if outcome.detached and outcome.code is not None:  # a signal ended us
        return outcome.code
    if outcome.detached:
        if detach_message:
            print("read escape sequence", file=sys.stderr)
            return EXIT_ERROR
        return 0
    if outcome.code is not None:
        return outcome.code
    # the monitor went away without a word (killed): what does the record say, once the monitor is
    # seen gone (its socket closes a moment before the process is)
    deadline = time.monotonic() + 30  # generous: a loaded machine is slow to show the death
    try:
        while (container := ctx.engine.containers.get(cid)).running and time.monotonic() < deadline:
            time.sleep(0.02)
        return int(container.state.get("ExitCode", 0))
    except DockyardError:
        return 0


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
    from dockyard.cli.containers import _env
    from dockyard.runtime import exec as rexec

    require_args(args, "exec", 2)
    tty, stdin = args.tty, args.interactive and not args.detach
    if not args.detach:
        check_tty(tty, stdin)
    keys = detach_keys(args)
    opts = rexec.ExecOptions(args=tuple(args.args[1:]), env=_env(args), user=args.user, workdir=args.workdir,
                             tty=tty, interactive=stdin, privileged=args.privileged, detach=args.detach)
    store = ctx.engine.containers
    container = _container(ctx, args.args[0])
    try:
        started = rexec.prepare(store.runtime(container.record), container, store.paths(container.id), opts, args.args[0]).start(detach=args.detach)
    except (rexec.ExecStartError, InvalidArgumentError) as exc:
        print(str(exc))  # Docker 20.10 prints exec start failures on stdout
        return rexec.EXEC_FAILED
    if args.detach:
        if started.master is not None:
            rexec.hold_console(started.master)
        return 0
    pidfd = os.pidfd_open(started.pid)  # the session ends when the process does, not its background children
    if started.master is not None:
        transport: Any = ConsoleTransport(started.master, pidfd)
        size = terminal_size()
        if size:
            transport.resize(*size)
    else:
        transport = PipeTransport(started.stdin, started.stdout, started.stderr, pidfd)  # type: ignore[arg-type]
        if not stdin:
            transport.close_stdin()
    outcome = stream(transport, Session(tty, stdin, keys))
    if outcome.detached:
        return _finish(ctx, container.id, outcome, detach_message=True)
    if started.master is not None:
        os.close(started.master)
    return started.wait()


def register(commands: argparse._SubParsersAction) -> None:
    _attach_args(commands.add_parser("attach", prog="dockyard attach"))
    _exec_args(commands.add_parser("exec", prog="dockyard exec"))
