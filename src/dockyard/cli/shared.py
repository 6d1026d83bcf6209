"""What more than one command module uses. A leaf: it imports no command module, so command modules never
import each other."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Callable, TextIO

from dockyard.cli.context import EXIT_ERROR, Context, UsageError, require_args
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.cli.terminal import Outcome, Session
    from dockyard.engine.registry import Event, PullProgress
    from dockyard.runtime.container_state import Container


# registry progress (pull, push, and the pull of run/create) ------------------------------

PROGRESS_STATUSES = frozenset({"Downloading", "Extracting", "Pushing"})


class Printer:
    """Docker's jsonmessage display: one line per ID, redrawn in place on a terminal."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lines: dict[str, int] = {}
        self.count = 0
        self.last: dict[str, str] = {}
        import threading  # pull and push only: ps and the other light commands need no thread

        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if not self.tty:
                self._plain(event)
            else:
                self._live(event)
            self.out.flush()

    def _plain(self, event: Event) -> None:
        if event.status in PROGRESS_STATUSES:
            return  # Docker's messages with a progress bar are not printed off a terminal
        if event.id and self.last.get(event.id) == event.status:
            return
        if event.id:
            self.last[event.id] = event.status
        self.out.write(event.line + "\n")

    def _live(self, event: Event) -> None:
        text = event.line + (f" {bar(event.current, event.total)}" if event.total and event.status in PROGRESS_STATUSES else "")
        if not event.id or event.id not in self.lines:
            if event.id:
                self.lines[event.id] = self.count
            self.out.write(text + "\n")
            self.count += 1
            return
        up = self.count - self.lines[event.id]
        self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")


def bar(current: int, total: int, width: int = 50) -> str:
    """``[=====>      ]  12.3MB/45.6MB`` as Docker draws it."""
    filled = min(width, int(current * 100 / total) // 2) if total else 0
    return f"[{'=' * filled}>{' ' * (width - filled)}] {human_size(current):>8}/{human_size(total)}"


def pull_progress(out: TextIO = sys.stdout, quiet: bool = False) -> PullProgress | None:
    """The sink a pull or push shows its progress through (None: show nothing)."""
    return None if quiet else Printer(out, out.isatty())


def missing_image_line(name: str) -> str:
    """``Unable to find image 'busybox:latest' locally``: the name as Docker shows it, with its default tag."""
    from dockyard.engine.registry import parse_reference
    from dockyard.errors import InvalidArgumentError

    try:
        shown = parse_reference(name).with_default_tag().familiar
    except InvalidArgumentError:
        shown = name  # an ID or a bad name: the pull says what is wrong with it
    return f"Unable to find image '{shown}' locally"


# containers: each named container, env flags -----------------------------------------


def each(ctx: Context, args: argparse.Namespace, command: str, action: Callable[[Container], object]) -> int:
    """``action`` on each container named, in order: its name printed, or Docker's error line."""
    return each_name(args, command, lambda name: action(ctx.engine.container_service.get(name)))


def each_name(args: argparse.Namespace, command: str, action: Callable[[str], object]) -> int:
    """``action`` on each name given, in order: the name printed, or Docker's error line."""
    require_args(args, command, 1)
    failed = False
    for name in args.args:
        try:
            action(name)
            print(name)
        except DockyardError as exc:
            print(f"Error response from daemon: {exc}", file=sys.stderr)
            failed = True
    if failed and command in ("start",):
        print(f"Error: failed to {command} containers: {', '.join(args.args)}", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def each_parallel(ctx: Context, args: argparse.Namespace, command: str, action: Callable[[Container], object]) -> int:
    """``each`` with the actions at once (as Docker's CLI: ten containers stop in one timeout, not ten);
    lookups stay in this thread (the database is single-threaded), output in argument order."""
    from concurrent.futures import ThreadPoolExecutor

    require_args(args, command, 1)
    service = ctx.engine.container_service
    found: dict[str, Container | DockyardError] = {}
    for name in args.args:
        try:
            found[name] = service.get(name)
        except DockyardError as exc:
            found[name] = exc
    with ThreadPoolExecutor(max_workers=min(32, len(found))) as pool:
        futures = {name: pool.submit(action, c) for name, c in found.items() if not isinstance(c, DockyardError)}
    failed = False
    for name in args.args:
        got = found[name]
        error = got if isinstance(got, DockyardError) else futures[name].exception()
        if error is None:
            print(name)
        elif isinstance(error, DockyardError):
            print(f"Error response from daemon: {error}", file=sys.stderr)
            failed = True
        else:
            raise error
    return EXIT_ERROR if failed else 0


def env_items(args: argparse.Namespace) -> tuple[str, ...]:
    """``-e`` and ``--env-file`` (run, create, exec): a bare KEY takes the caller's value, or is dropped
    when the caller has none (Docker)."""
    from dockyard.engine.container_options import parse_env_file

    items: list[str] = []
    for path in args.env_file:
        try:
            items += parse_env_file(Path(path).read_text())
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc
    items += args.env
    return tuple(i if "=" in i else f"{i}={os.environ[i]}" for i in items if "=" in i or i in os.environ)


def lookup(ctx: Context, name: str) -> Container:
    """Docker's CLI looks the container up first and says so itself when it is missing."""
    from dockyard.engine.container_options import ContainerNotFoundError

    try:
        return ctx.engine.container_service.get(name)
    except ContainerNotFoundError as exc:
        raise UsageError(f"Error: {exc}", EXIT_ERROR) from exc


# attached sessions (run, start -a, attach, exec) ------------------------------------


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
    from dockyard.cli.terminal import DEFAULT_DETACH_KEYS, parse_detach_keys

    return parse_detach_keys(args.detach_keys or DEFAULT_DETACH_KEYS)


def _session(ctx: Context, container: Container, args: argparse.Namespace, stdin: bool) -> Session:
    from dockyard.cli.terminal import Session

    tty = bool(container.record["Config"].get("Tty"))
    proxy = ctx.engine.container_service.signaller(container) if getattr(args, "sig_proxy", True) else None
    return Session(tty, stdin, detach_keys(args), proxy)


def attach_running(ctx: Context, container: Container, args: argparse.Namespace, *, stdin: bool) -> Outcome:
    from dockyard.cli.terminal import MonitorTransport, stream, terminal_size
    from dockyard.engine import attach_protocol as proto

    tty = bool(container.record["Config"].get("Tty"))
    stdin = stdin and bool(container.record["Config"].get("OpenStdin"))
    try:
        sock = ctx.engine.container_service.connect(container)
    except proto.NotAttachableError:
        raise UsageError("You cannot attach to a stopped container, start it first", EXIT_ERROR) from None
    with sock:
        sock.sendall(proto.hello(stdin, terminal_size() if tty else None))
        return stream(MonitorTransport(sock), _session(ctx, container, args, stdin))


def run_attached(ctx: Context, container: Container, args: argparse.Namespace, *, stdin: bool) -> int:
    """``run`` without ``-d`` and ``start -a``: the container's exit code, or 0 after a detach.

    Raises ContainerStartError when the runtime could not start the process.
    """
    from dockyard.cli.terminal import MonitorTransport, stream, terminal_size
    from dockyard.engine import attach_protocol as proto

    service = ctx.engine.container_service
    tty = bool(container.record["Config"].get("Tty"))
    attached = service.start_attached(container)
    if attached is None:  # it was running already: attach to it like ``attach``
        return finish(ctx, container.id, attach_running(ctx, container, args, stdin=stdin), detach_message=True)
    with attached.sock:
        attached.sock.sendall(proto.hello(stdin, terminal_size() if tty else None))
        outcome = stream(MonitorTransport(attached.sock), _session(ctx, container, args, stdin))
    if outcome.detached:
        return outcome.code or 0  # the monitor runs on in its own session
    attached.monitor.wait()  # it applies --rm before it exits
    service.finish_start(attached)
    return finish(ctx, container.id, outcome, detach_message=False)  # no EXIT: the monitor was killed


def finish(ctx: Context, cid: str, outcome: Outcome, *, detach_message: bool) -> int:
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
    # seen gone (its socket closes a moment before the process is); generous: a loaded machine is slow
    return ctx.engine.container_service.exit_code(cid, timeout=30)
