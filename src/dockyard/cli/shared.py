"""CLI helpers that more than one command module uses. A leaf: it imports no command module."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

from dockyard.cli.context import Context, UsageError
from dockyard.cli.units import human_size
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.network_reports import PortMap
    from dockyard.engine.registry import Event, PullProgress
    from dockyard.runtime.containers import Container
    from dockyard.runtime.network.attachment import NetworkOptions


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


# networks: run/create flags, ps columns, inspect's NetworkSettings ------------------


def add_network_flags(p: argparse.ArgumentParser) -> None:
    """``run``/``create``'s port and host flags (``--network`` is the container module's)."""
    p.add_argument("-p", "--publish", action="append", default=[])
    p.add_argument("-P", "--publish-all", action="store_true")
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--add-host", action="append", default=[])
    p.add_argument("--network-alias", "--net-alias", action="append", default=[])
    p.add_argument("--ip")


def network_options(args: argparse.Namespace) -> NetworkOptions:
    """The flags, checked as Docker's client checks them (its messages, exit 125)."""
    from dockyard.engine.networks import check_extra_hosts, check_ports, run_network_options

    command = "run" if getattr(args.handler, "__name__", "") == "run_cmd" else "create"
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
    return run_network_options(args.publish, args.publish_all, args.expose, args.add_host, args.network_alias, args.ip)


def port_sort_key(key: str) -> tuple[int, str]:
    """``80/tcp`` -> (80, "tcp"): ports by number, as ``port`` and ``ps`` list them."""
    port, _, proto = key.partition("/")
    return int(port), proto


def ps_ports(ports: PortMap) -> str:
    """The PORTS column as Docker 20.10 prints it: exposed-only ports first, then the published ones,
    each part by port: ``443/tcp, 0.0.0.0:8080->80/tcp, :::8080->80/tcp``."""
    keys = sorted(ports, key=port_sort_key)
    exposed = [k for k in keys if not ports[k]]
    published = [f"{h['HostIp']}:{h['HostPort']}->{k}" for k in keys for h in ports[k] or []]
    return ", ".join(exposed + published)


def network_ps_columns(ctx: Context, c: Container) -> dict[str, str]:
    """PORTS and NETWORKS of ``ps``."""
    report = ctx.engine.network_service.of_container(c, ids=False)
    return {"Ports": ps_ports(report.ports), "Networks": ",".join(e.network for e in report.endpoints)}


def network_settings(ctx: Context, c: Container) -> dict[str, Any]:
    """``inspect``'s NetworkSettings of container ``c``."""
    from dockyard.engine.network_json import network_settings as settings_json

    return settings_json(ctx.engine.network_service.of_container(c), c.id)


# volumes: ps's MOUNTS column ----------------------------------------------------------


def mounts_column(record: dict[str, Any], no_trunc: bool) -> str:
    """``ps --format {{.Mounts}}``: volume names, else sources, each cut to 15 characters."""
    from dockyard.engine.volume_json import inspect_mounts

    names = [m.get("Name") or m["Source"] for m in inspect_mounts(record)]
    return ",".join(n if no_trunc or len(n) <= 15 else n[:14] + "…" for n in names)
