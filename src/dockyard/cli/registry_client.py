"""The registry commands: login, logout, search, pull, push (and ``image pull``/``image push``).

Parsing and printing only; the work is ``engine.registry`` (RegistryService).
Progress is Docker's: live lines on a terminal, plain status lines otherwise
(``cli.shared.Printer``).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Callable

from dockyard.cli.context import Context, UsageError, require_args
from dockyard.cli.shared import pull_progress
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.registry import PullRequest, PushRequest, RegistryConfig, SearchResult
    from dockyard.oci.reference import Reference


def register(commands: argparse._SubParsersAction, image_commands: argparse._SubParsersAction) -> None:
    for name, setup in (("pull", pull_args), ("push", _push_args)):
        setup(commands.add_parser(name, prog=f"dockyard {name}"))
        setup(image_commands.add_parser(name, prog=f"dockyard image {name}"))
    _login_args(commands.add_parser("login", prog="dockyard login"))
    _logout_args(commands.add_parser("logout", prog="dockyard logout"))
    _search_args(commands.add_parser("search", prog="dockyard search"))


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry-mirror", action="append", default=[], help="Preferred Docker registry mirror (also daemon.json's registry-mirrors)")
    p.add_argument("--insecure-registry", action="append", default=[], help="Allow plain HTTP or unverified TLS to this registry")


def _registry_config(args: argparse.Namespace) -> RegistryConfig:
    from dockyard.engine.registry import RegistryConfig

    return RegistryConfig(tuple(args.registry_mirror or ()), tuple(args.insecure_registry or ()))


# pull ---------------------------------------------------------------------------


def pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-a", "--all-tags", action="store_true", help="Download all tagged images in the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    p.add_argument("--max-concurrent-downloads", type=int, default=3, help="Maximum concurrent downloads (default 3)")
    _registry_flags(p)
    p.set_defaults(handler=pull_cmd)


def _reference(text: str) -> Reference:
    from dockyard.engine.registry import parse_reference

    try:
        return parse_reference(text)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc), 1) from exc


def _checked(request: PullRequest | PushRequest) -> None:
    from dockyard.engine.registry import RequestError

    try:
        request.check()
    except RequestError as exc:
        raise UsageError(str(exc), 1) from None


def pull_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "pull", 1, exact=True)
    from dockyard.engine.registry import PullRequest

    ref = _reference(args.args[0])
    request = PullRequest(ref, args.platform, args.all_tags, args.max_concurrent_downloads, _registry_config(args))
    _checked(request)
    if not args.all_tags and ref.tag is None and ref.digest is None and not args.quiet:
        print("Using default tag: latest", flush=True)
    report = ctx.engine.registry.pull(request, pull_progress(sys.stdout, args.quiet))
    if not args.quiet:
        print(report.status)
    print(str(report.reference))
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
    from dockyard.engine.registry import PushRequest

    ref = _reference(args.args[0])
    request = PushRequest(ref, args.all_tags, _registry_config(args))
    _checked(request)
    if not args.all_tags and ref.tag is None and not args.quiet:
        print("Using default tag: latest", flush=True)
    report = ctx.engine.registry.push(request, pull_progress(sys.stdout, args.quiet))
    if args.quiet:
        for result in report.results:
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
        password = sys.stdin.read().rstrip("\r\n") or None  # nothing read: Docker prompts, then needs a terminal
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


def login_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "login", 1, at_most=True)
    from dockyard.engine.registry import LoginRequest

    server = args.args[0] if args.args else ""
    if not args.username and args.password is None and not args.password_stdin:
        stored = ctx.registry.stored_username(server)
        if stored:
            print(
                f"Authenticating with existing credentials... [Username: {stored}]\n\n"
                " Info -> To login with a different account, run 'dockyard logout' followed by 'dockyard login'\n\n",
                file=sys.stderr,
            )
            ctx.registry.login(LoginRequest(server, "", "", _registry_config(args)))
            print("Login Succeeded")
            return 0
    username, password = _read_login(args, "")
    report = ctx.registry.login(LoginRequest(server, username, password, _registry_config(args)))
    if report.unencrypted_in is not None:
        print(
            f"WARNING! Your credentials are stored unencrypted in '{report.unencrypted_in}'.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/go/credential-store/\n",
            file=sys.stderr,
        )
    print("Login Succeeded")
    return 0


def _logout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="SERVER")
    p.set_defaults(handler=logout_cmd)


def logout_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "logout", 1, at_most=True)
    report = ctx.registry.logout(args.args[0] if args.args else "")
    # Docker 28 says so whether or not there was a login to remove
    print(f"Removing login credentials for {report.server}")
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


def _search_filter(values: list[str]) -> Callable[[SearchResult], bool]:
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

    keep = _search_filter(args.filter)
    results = [r for r in ctx.registry.search(args.args[0], args.limit, _registry_config(args)) if keep(r)]
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


__all__ = ["register"]
