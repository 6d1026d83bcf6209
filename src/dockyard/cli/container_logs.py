"""``logs [-f] [--tail N] [-t] [--since T] [--until T] [--details] CONTAINER``: Docker's json-file log, replayed."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from typing import TYPE_CHECKING, Callable, Iterable

from dockyard.cli.context import Context, UsageError, require_args
from dockyard.cli.filters import parse_until
from dockyard.errors import InvalidArgumentError
from dockyard.oci.timefmt import parse_time

if TYPE_CHECKING:
    from dockyard.engine.container_reports import LogStream
    from dockyard.runtime.logs import LogEntry


def register(commands: argparse._SubParsersAction) -> None:
    _logs_args(commands.add_parser("logs", prog="dockyard logs"))


def _logs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="CONTAINER")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--since", default="")
    p.add_argument("--until", default="")
    p.add_argument("--details", action="store_true")  # json-file carries no log attributes to show
    p.set_defaults(handler=logs_cmd)


def _tail(value: str) -> int | None:
    """Docker takes ``all``, a negative number and anything that is not a number as everything."""
    try:
        count = int(value)
    except ValueError:
        return None
    return None if count < 0 else count


def _stamp(value: str, flag: str) -> float | None:
    """Checked by Docker's client: its message, exit 1, no daemon prefix."""
    if not value:
        return None
    try:
        return parse_until(value)
    except InvalidArgumentError:
        raise UsageError(f'invalid value for "{flag}": failed to parse value as time or duration: "{value}"', 1) from None


def _fixed_nano(text: str) -> str:
    """Docker prints -t stamps in RFC3339Nano with a fixed nine-digit fraction."""
    base, _, frac = text.rstrip("Z").partition(".")
    return f"{base}.{frac.ljust(9, '0')[:9]}Z"


class _Printer:
    def __init__(self, timestamps: bool, since: float | None, until: float | None) -> None:
        self.timestamps, self.since, self.until = timestamps, since, until
        self.outs = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}

    def wanted(self, when: str) -> bool:
        if self.since is None and self.until is None:
            return True
        moment = parse_time(when)
        stamp = moment.timestamp() if moment else 0.0
        return (self.since is None or stamp >= self.since) and (self.until is None or stamp <= self.until)

    def write(self, entries: Iterable[LogEntry]) -> None:
        for e in entries:
            out = self.outs.get(e.stream, sys.stdout.buffer)
            prefix = (_fixed_nano(e.time) + " ").encode() if self.timestamps else b""
            out.write(prefix + e.data)
            out.flush()


def logs_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "logs", 1, exact=True)
    tail = _tail(args.tail)
    printer = _Printer(args.timestamps, _stamp(args.since, "since"), _stamp(args.until, "until"))
    service = ctx.engine.container_service
    container = service.get(args.args[0])
    if container.stored.host_config.flags.log_type == "none":
        raise UsageError("Error response from daemon: configured logging driver does not support reading", 1)
    with service.logs(container) as log:
        present = (e for e in log.entries() if printer.wanted(e.time))
        printer.write(deque(present, maxlen=tail) if tail is not None else present)
        if args.follow and printer.until is None:
            _follow(log, printer, lambda: not service.get(container.id).running)
    return 0


def _follow(log: LogStream, printer: _Printer, done: Callable[[], bool], poll: float = 0.05) -> None:
    """New entries as they are written, until the container stops (then what is left)."""
    while True:
        finished = done()
        printer.write(e for e in log.entries() if printer.wanted(e.time))
        if finished:
            return
        time.sleep(poll)
