"""The registry commands: login, logout, search, pull, push (and ``image pull``/``image push``).

Parsing and printing only; the work is in ``dockyard.registry.client``. The
engine's parts are handed to it here (the registry layer may not import the
engine). Progress is Docker's: live lines on a terminal, plain status lines
otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

from dockyard.cli.context import Context, UsageError, require_args
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, InvalidArgumentError
from dockyard.oci.reference import parse_normalized

PROGRESS_STATUSES = frozenset({"Downloading", "Extracting", "Pushing"})


def register(commands: argparse._SubParsersAction, image_commands: argparse._SubParsersAction) -> None:
    for name, setup in (("pull", pull_args), ("push", _push_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}"))
        setup(image_commands.add_parser(name, prog=f"dockyard image {name}"))
    _login_args(commands.add_parser("login", prog="dockyard login"))
    _logout_args(commands.add_parser("logout", prog="dockyard logout"))
    _search_args(commands.add_parser("search", prog="dockyard search"))


# wiring -------------------------------------------------------------------------


def _config_file() -> Any:
    from dockyard.registry.client.credentials import ConfigFile, default_config_dir

    return ConfigFile(default_config_dir(os.environ) / "config.json")


def _connector(ctx: Context, args: argparse.Namespace) -> Any:
    from dockyard.registry.client.hosts import load_options
    from dockyard.registry.client.session import Connector

    root = ctx.root
    certs = root / "certs.d"
    options = load_options(
        root / "daemon.json",
        mirrors=getattr(args, "registry_mirror", None) or [],
        insecure=getattr(args, "insecure_registry", None) or [],
        certs_dir=certs if certs.is_dir() else None,
    )
    config = _config_file()
    return Connector(options, config.get)


@contextmanager
def _talking_to(connector: Any) -> Iterator[None]:
    """Close the connections; show a registry's error as Docker does ("denied: requested access …")."""
    from dockyard.registry.client.errors import describe
    from dockyard.registry.errcode import RegistryError

    try:
        yield
    except RegistryError as exc:
        raise DockyardError(describe(exc)) from exc
    finally:
        connector.close()


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry-mirror", action="append", default=[], help="Preferred Docker registry mirror (also daemon.json's registry-mirrors)")
    p.add_argument("--insecure-registry", action="append", default=[], help="Allow plain HTTP or unverified TLS to this registry")


class Printer:
    """Docker's jsonmessage display: one line per ID, redrawn in place on a terminal."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lines: dict[str, int] = {}
        self.count = 0
        self.last: dict[str, str] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            if not self.tty:
                self._plain(event)
            else:
                self._live(event)
            self.out.flush()

    def _plain(self, event: Any) -> None:
        if event.status in PROGRESS_STATUSES:
            return  # Docker's messages with a progress bar are not printed off a terminal
        if event.id and self.last.get(event.id) == event.status:
            return
        if event.id:
            self.last[event.id] = event.status
        self.out.write(event.line + "\n")

    def _live(self, event: Any) -> None:
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


def _sink(quiet: bool) -> Any:
    from dockyard.registry.client.progress import discard

    return discard if quiet else Printer(sys.stdout, sys.stdout.isatty())


# pull ---------------------------------------------------------------------------


def pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, help="Maximum concurrent downloads (default 3)")
    _registry_flags(p)
    p.set_defaults(handler=pull_cmd)


def _reference(text: str) -> Any:
    try:
        return parse_normalized(text)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc), 1) from exc


def pull_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "pull", 1, exact=True)
    from dockyard.registry.client import platform as platforms
    from dockyard.registry.client.pull import Puller, PullOptions

    ref = _reference(args.args[0])
    if args.all_tags and (ref.tag or ref.digest):
        raise UsageError("tag can't be used with --all-tags/-a", 1)
    if args.max_concurrent_downloads < 1:
        raise UsageError("invalid max concurrent downloads: it must be at least 1", 1)
    if not args.all_tags and ref.tag is None and ref.digest is None:
        ref = ref.with_default_tag()
        if not args.quiet:
            print("Using default tag: latest", flush=True)
    wanted = platforms.parse(args.platform) if args.platform else None
    engine = ctx.engine
    connector = _connector(ctx, args)
    puller = Puller(engine.images, connector, engine.root / "downloads", engine.tmp, _sink(args.quiet))
    with _talking_to(connector):
        results = puller.pull(ref, PullOptions(wanted, args.all_tags, args.max_concurrent_downloads))
    shown = ref if not args.all_tags else ref.name_only()
    if not args.quiet:
        updated = any(r.updated for r in results)
        word = "Downloaded newer image for" if updated else "Image is up to date for"
        print(f"Status: {word} {shown.familiar}")
    print(str(shown))
    return 0


# push ---------------------------------------------------------------------------


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NAME[:TAG]")
    p.add_argument("-a", "--all-tags", action="store_true", help="Push all tagged images in the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    _registry_flags(p)
    p.set_defaults(handler=push_cmd)


def push_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "push", 1, exact=True)
    from dockyard.registry.client.push import Pusher

    ref = _reference(args.args[0])
    if ref.digest is not None:
        raise UsageError("cannot push a digest reference", 1)
    if args.all_tags and ref.tag:
        raise UsageError("tag can't be used with --all-tags/-a", 1)
    if not args.all_tags and ref.tag is None:
        ref = ref.with_default_tag()
        if not args.quiet:
            print("Using default tag: latest", flush=True)
    engine = ctx.engine
    connector = _connector(ctx, args)
    with _talking_to(connector):
        results = Pusher(engine.images, connector, _sink(args.quiet)).push(ref, args.all_tags)
    if args.quiet:
        for result in results:
            print(str(result.reference))
    return 0


# login / logout -----------------------------------------------------------------


def _login_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="SERVER")
    p.add_argument("-u", "--username", default="", help="Username")
    p.add_argument("-p", "--password", default=None, help="Password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    _registry_flags(p)
    p.set_defaults(handler=login_cmd)


def _read_login(args: argparse.Namespace, server_label: str) -> tuple[str, str]:
    username, password = args.username, args.password
    if args.password is not None:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
        if args.password_stdin:
            raise UsageError("--password and --password-stdin are mutually exclusive", 1)
    if args.password_stdin:
        if not username:
            raise UsageError("Must provide --username with --password-stdin", 1)
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        if not sys.stdin.isatty():
            raise UsageError("Error: Cannot perform an interactive login from a non TTY device", 1)
        username = input(f"Username{server_label}: ").strip()
    if not username:
        raise UsageError("Error: Non-null Username Required", 1)
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError("Error: Cannot perform an interactive login from a non TTY device", 1)
        password = getpass.getpass("Password: ")
    if not password:
        raise UsageError("Error: Password Required", 1)
    return username, password


def _server(args: argparse.Namespace) -> tuple[str, str]:
    """(config.json key, registry domain) of the SERVER argument (default: Docker Hub)."""
    from dockyard.registry.client.hosts import (
        DOCKER_HUB,
        HUB_AUTH_KEY,
        normalize_server,
    )

    key = normalize_server(args.args[0] if args.args else "")
    return key, DOCKER_HUB if key == HUB_AUTH_KEY else key


def login_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "login", 1, at_most=True)
    from dockyard.registry.client.auth import Credentials
    from dockyard.registry.client.login import verify_login

    key, domain = _server(args)
    username, password = _read_login(args, "")
    creds = Credentials(username, password)
    connector = _connector(ctx, args)
    with _talking_to(connector):
        verify_login(connector, domain, creds)
    config = _config_file()
    if config.store(key, creds):
        print(
            f"WARNING! Your password will be stored unencrypted in {config.path}.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/engine/reference/commandline/login/#credentials-store\n",
            file=sys.stderr,
        )
    print("Login Succeeded")
    return 0


def _logout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="SERVER")
    p.set_defaults(handler=logout_cmd)


def logout_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "logout", 1, at_most=True)
    key, _ = _server(args)
    config = _config_file()
    if config.get(key) is None and key not in config.auths:
        print(f"Not logged in to {key}")
        return 0
    print(f"Removing login credentials for {key}")
    config.erase(key)
    return 0


# search -------------------------------------------------------------------------

SEARCH_FORMAT = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}


def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="TERM")
    p.add_argument("--limit", type=int, default=25, help="Max number of search results")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", default="", help="Pretty-print search using a Go template")
    _registry_flags(p)
    p.set_defaults(handler=search_cmd)


def _search_filter(values: list[str]) -> Any:
    stars, official, automated = 0, None, None
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise UsageError(f"bad format of filter (expected name=value): {value}", 1)
        if key == "stars":
            if not arg.isdigit():
                raise UsageError(f'invalid filter \'stars={arg}\'', 1)
            stars = int(arg)
        elif key in ("is-official", "is-automated"):
            if arg.lower() not in ("true", "false", "1", "0"):
                raise UsageError(f"invalid filter '{key}={arg}'", 1)
            flag = arg.lower() in ("true", "1")
            official, automated = (flag, automated) if key == "is-official" else (official, flag)
        else:
            raise UsageError(f"invalid filter '{key}'", 1)
    return lambda r: r.star_count >= stars and (official is None or r.is_official == official) and (
        automated is None or r.is_automated == automated
    )


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def search_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "search", 1, exact=True)
    from dockyard.cli.format import render
    from dockyard.registry.client.search import search

    keep = _search_filter(args.filter)
    connector = _connector(ctx, args)
    with _talking_to(connector):
        results = [r for r in search(connector, args.args[0], args.limit) if keep(r)]
    rows = []
    for r in results:
        description = r.description.replace("\n", " ").replace("\r", " ")
        rows.append({
            "Name": r.name,
            "Description": description if args.no_trunc else _ellipsis(description, 45),
            "StarCount": str(r.star_count),
            "IsOfficial": "[OK]" if r.is_official else "",
            "IsAutomated": "[OK]" if r.is_automated else "",
        })  # fmt: skip
    sys.stdout.write(render(args.format or SEARCH_FORMAT, rows, SEARCH_HEADERS))
    return 0


__all__ = ["Printer", "bar", "register"]
