"""``build`` / ``image build`` / ``builder``: flags and progress output; the work is ``engine.builder`` (BuildService)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.cli.context import Context, Parser, UsageError, confirm, require_args
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.cli.build_progress import Plain, Terminal


def register(commands: argparse._SubParsersAction, image_commands: argparse._SubParsersAction) -> None:
    _args(commands.add_parser("build", prog="dockyard build", help="Build an image from a Dockerfile"))
    _args(image_commands.add_parser("build", prog="dockyard image build"))
    builder = commands.add_parser("builder", help="Manage builds")
    builder_commands = builder.add_subparsers(dest="builder_command", metavar="COMMAND", parser_class=Parser)
    _args(builder_commands.add_parser("build", prog="dockyard builder build"))
    prune = builder_commands.add_parser("prune", prog="dockyard builder prune", help="Remove build cache")
    prune.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    prune.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    prune.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    prune.set_defaults(handler=prune_cmd)


def prune_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "builder prune", 0, at_most=True)
    if not args.force and not confirm("WARNING! This will remove all dangling build cache.", sep=" "):
        return 0
    report = ctx.engine.builder.prune()
    if report.removed:
        print("Deleted build cache objects:")
        print("".join(f"{key}\n" for key in report.removed), end="")
        print()
    print(f"Total reclaimed space: {human_size(report.reclaimed)}")
    return 0


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs="*", metavar="PATH | URL | -")
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag in the 'name:tag' format")
    p.add_argument("-f", "--file", default="", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')")
    p.add_argument("--build-arg", action="append", default=[], help="Set build-time variables")
    p.add_argument("--label", action="append", default=[], help="Set metadata for an image")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on success")
    p.add_argument("--iidfile", default="", help="Write the image ID to the file")
    p.add_argument("--progress", default="auto", help="Set type of progress output (auto, plain, tty)")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("--target", default="", help="Set the target build stage to build")
    p.add_argument("--cache-from", action="append", default=[], help="Images to consider as cache sources")
    p.add_argument("--reproducible", action="store_true", help="Fixed times and clamped mtimes (SOURCE_DATE_EPOCH or 0)")
    p.add_argument("--network", default="default", choices=("default", "host", "none"), help="Networking mode for the RUN instructions during build")
    p.add_argument("-o", "--output", default="", help="Output destination (format: type=local,dest=path)")
    p.add_argument("--add-host", action="append", default=[], help="Add a custom host-to-IP mapping (host:ip)")
    p.add_argument("--secret", action="append", default=[], help="Secret to expose to the build (id=mysecret,src=/local/secret)")
    p.add_argument("--rm", action=argparse.BooleanOptionalAction, default=True, help=argparse.SUPPRESS)  # BuildKit: always
    p.add_argument("--force-rm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--platform", default="", help="Set platform if server is multi-platform capable")
    p.set_defaults(handler=build_cmd)


def _pairs(values: list[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            if key in os.environ and flag == "--build-arg":
                out[key] = os.environ[key]  # Docker takes a bare name's value from the environment
            elif flag == "--label":
                out[key] = ""
            continue
        out[key] = val
    return out


def _hosts(values: list[str]) -> tuple[str, ...]:
    """``--add-host name:ip`` as /etc/hosts lines; the IP is checked as Docker checks it."""
    import ipaddress

    out = []
    for value in values:
        name, sep, ip = value.partition(":")
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise UsageError(f'invalid argument "{value}" for "--add-host" flag: invalid IP address in add-host: "{ip}"', 125) from None
        if not sep or not name:
            raise UsageError(f'invalid argument "{value}" for "--add-host" flag: bad format for add-host: "{value}"', 125)
        out.append(f"{ip}\t{name}")
    return tuple(out)


def _secrets(values: list[str]) -> dict[str, str]:
    """``--secret id=ID,src=PATH`` (also ``source=``, ``type=file``) → ID → absolute path."""
    out: dict[str, str] = {}
    for value in values:
        fields = dict(item.partition("=")[::2] for item in value.split(","))
        ident, source = fields.get("id", ""), fields.get("src") or fields.get("source") or ""
        if not ident or not source or fields.get("type", "file") != "file":
            raise UsageError(f'invalid argument "{value}" for "--secret" flag: expected id=ID,src=PATH', 125)
        if not os.path.isfile(source):
            raise UsageError(f"failed to stat {source}: no such file", 1)
        out[ident] = os.path.abspath(source)
    return out


def _dockerfile(location: str, name: str) -> str:
    """With a local context, Docker's CLI reads ``-f FILE`` relative to the working directory, not the
    context; inside a context from stdin or a URL it names a file of that context."""
    if not name or name == "-" or location == "-" or location.startswith(("http://", "https://")):
        return name
    return os.path.abspath(name)


def _epoch(args: argparse.Namespace) -> int | None:
    text = os.environ.get("SOURCE_DATE_EPOCH", "")
    if text:
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"invalid SOURCE_DATE_EPOCH: {text!r}", 1) from None
    return 0 if args.reproducible else None


def build_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "build", 1, exact=True)
    from dockyard.engine.build import BuildOptions, BuildRequest, BuildSource, Output, parse_tag

    if args.progress not in ("auto", "plain", "tty"):
        raise UsageError(f'invalid progress mode "{args.progress}"', 1)
    try:
        tags = [parse_tag(t) for t in args.tag]
    except InvalidArgumentError as exc:
        raise UsageError(f'invalid argument "{args.tag[-1]}" for "-t, --tag" flag: {exc}', 125) from None
    options = BuildOptions(
        tags=tags, build_args=_pairs(args.build_arg, "--build-arg"), labels=_pairs(args.label, "--label"),
        target=args.target, no_cache=args.no_cache, pull=args.pull, cache_from=list(args.cache_from), epoch=_epoch(args),
        network=args.network, secrets=_secrets(args.secret), extra_hosts=_hosts(args.add_host),
    )
    try:
        output = Output.parse(args.output) if args.output else None
    except InvalidArgumentError as exc:
        raise UsageError(f"failed to parse output: {exc}", 1) from None
    printer = _printer(args)  # on stderr: stdout may carry the tar of --output -
    request = BuildRequest(BuildSource(args.args[0], _dockerfile(args.args[0], args.file), sys.stdin.buffer), options, output)
    try:
        report = ctx.engine.builder.build(request, printer)
    except DockyardError as exc:
        printer.fail(exc)
        return 1
    if output is not None:
        printer.exported(output.dest)
        return 0
    printer.finish(str(report.image_id), [str(t) for t in tags])
    if args.iidfile:
        Path(args.iidfile).write_text(str(report.image_id))
    if args.quiet:
        print(str(report.image_id))
    return 0


# progress ---------------------------------------------------------------------------


def _printer(args: argparse.Namespace) -> Plain | Terminal:
    from dockyard.cli.build_progress import Plain, Terminal

    if args.quiet:
        return Plain(None)
    if args.progress == "tty" or (args.progress == "auto" and sys.stderr.isatty()):
        return Terminal(sys.stderr)
    return Plain(sys.stderr)
