"""``events`` / ``system events``: the store's event log in Docker's line or template format, followed live."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dockyard.cli.context import Context, UsageError, require_args
from dockyard.engine.events import event_message as message
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.metadata.events import Event


def register(commands: argparse._SubParsersAction, system_commands: argparse._SubParsersAction) -> None:
    """``events`` and ``system events``."""
    add_args(commands.add_parser("events", prog="dockyard events", help="Get real time events from the server"))
    add_args(system_commands.add_parser("events", prog="dockyard system events", help="Get real time events from the server"))


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", default="", help="Format the output using the given Go template")
    p.add_argument("--since", default="", help="Show all events created since timestamp")
    p.add_argument("--until", default="", help="Stream events until this timestamp")
    p.set_defaults(handler=events_cmd)


def events_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.cli.filters import parse_filters
    from dockyard.engine.events import EventFilter

    require_args(args, "events", 0, at_most=True)
    now = time.time()
    since = _timestamp(args.since, now)
    until = _timestamp(args.until, now)
    keep = EventFilter.parse(parse_filters(args.filter))
    template = _template(args.format)
    out = sys.stdout
    for event in ctx.engine.events.follow(since, until, keep):
        out.write(template(event))
        out.flush()  # a reader on a pipe sees each event as it happens
    return 0


def _timestamp(value: str, now: float) -> float | None:
    """Docker's --since/--until: a Unix time, an RFC 3339 date, or a duration back from now (``10m``)."""
    from dockyard.cli.filters import parse_until

    if not value:
        return None
    try:
        return parse_until(value, now)
    except InvalidArgumentError:
        raise InvalidArgumentError(f'failed to parse value as time or duration: "{value}"') from None


def _template(fmt: str) -> Any:
    if not fmt:
        return line
    from dockyard.cli import gotemplate

    try:
        parsed = gotemplate.parse(fmt.replace("\\t", "\t").replace("\\n", "\n"))
    except gotemplate.TemplateError as exc:
        raise UsageError(f"Error parsing format: {exc}", 64) from None
    return lambda event: parsed.execute(message(event)) + "\n"


def line(event: Event) -> str:
    """Docker's printOutput: time (RFC 3339, nanoseconds, local zone), type, action, actor, (k=v, ...)."""
    stamp = _rfc3339_nano_fixed(event.time_nano)
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(event.attributes.items()))
    return f"{stamp} {event.type} {event.action} {event.actor_id}" + (f" ({attributes})" if attributes else "") + "\n"


def _rfc3339_nano_fixed(time_nano: int) -> str:
    seconds, nanos = divmod(time_nano, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, timezone.utc).astimezone()
    offset = moment.strftime("%z")
    zone = "Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}" + zone
