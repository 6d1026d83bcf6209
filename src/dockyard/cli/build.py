"""``build`` / ``image build``: flags, the context and Dockerfile, progress output; the work is in ``dockyard.build``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from dockyard.cli.context import Context, Parser, UsageError, confirm, require_args
from dockyard.cli.units import human_size
from dockyard.errors import DockyardError, InvalidArgumentError


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
    removed, reclaimed = ctx.engine.build_cache().prune()
    if removed:
        print("Deleted build cache objects:")
        print("".join(f"{key}\n" for key in removed), end="")
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
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
    from dockyard.build.builder import BuildOptions
    from dockyard.oci.reference import parse_docker_ref

    if args.progress not in ("auto", "plain", "tty"):
        raise UsageError(f'invalid progress mode "{args.progress}"', 1)
    try:
        tags = [parse_docker_ref(t) for t in args.tag]
    except InvalidArgumentError as exc:
        raise UsageError(f'invalid argument "{args.tag[-1]}" for "-t, --tag" flag: {exc}', 125) from None
    options = BuildOptions(
        tags=tags, build_args=_pairs(args.build_arg, "--build-arg"), labels=_pairs(args.label, "--label"),
        target=args.target, no_cache=args.no_cache, pull=args.pull, cache_from=list(args.cache_from), epoch=_epoch(args),
        network=args.network, secrets=_secrets(args.secret), extra_hosts=_hosts(args.add_host),
    )
    from dockyard.build.output import Output

    try:
        output = Output.parse(args.output) if args.output else None
    except InvalidArgumentError as exc:
        raise UsageError(f"failed to parse output: {exc}", 1) from None
    printer = _printer(args)  # on stderr: stdout may carry the tar of --output -
    engine = ctx.engine
    with tempfile.TemporaryDirectory(dir=engine.tmp, prefix="context-") as scratch:
        try:
            image_id = _run(ctx, args, options, printer, Path(scratch), output)
        except DockyardError as exc:
            printer.fail(exc)
            return 1
    if output is not None:
        printer.exported(output.dest)
        return 0
    printer.finish(str(image_id), [str(t) for t in tags])
    if args.iidfile:
        Path(args.iidfile).write_text(str(image_id))
    if args.quiet:
        print(str(image_id))
    return 0


def _run(ctx: Context, args: argparse.Namespace, options: Any, printer: Any, scratch: Path, output: Any) -> Any:
    from dockyard.build.builder import Builder
    from dockyard.build.context import BuildContext, load_ignore
    from dockyard.build.instructions import parse_dockerfile
    from dockyard.build.parser import DockerfileSyntaxError

    text, name, context_root, dockerfile_path = _inputs(args, scratch)
    try:
        dockerfile = parse_dockerfile(text)
    except DockerfileSyntaxError as exc:
        raise InvalidArgumentError(f"{name}:{exc.line}: {exc}" if exc.line else f"{name}: {exc}") from None
    context = BuildContext(context_root, load_ignore(context_root, dockerfile_path)) if context_root else None
    services = ctx.engine.build_services(_puller(ctx, args), printer, options.epoch)
    builder = Builder(services, dockerfile, context, options)
    return builder.export(output) if output is not None else builder.build()


def _inputs(args: argparse.Namespace, scratch: Path) -> tuple[bytes, str, Path | None, Path | None]:
    """The Dockerfile's bytes and name, the context directory (None: none) and the Dockerfile's path."""
    from dockyard.build.context import fetch_context, spool, unpack_context
    from dockyard.build.fsops import is_archive

    location = args.args[0]
    remote = location.startswith(("http://", "https://"))
    if location == "-" or remote:
        if remote and location.endswith(".git"):
            raise InvalidArgumentError(f"unable to prepare context: {location}: git repositories are not supported")
        data = fetch_context(location, scratch) if remote else spool(sys.stdin.buffer, scratch)
        if is_archive(data):
            context = unpack_context(data, scratch / "context")
            name = args.file or "Dockerfile"
            path = context / name.lstrip("/")
            if not path.is_file():
                raise InvalidArgumentError(f"failed to read dockerfile: open {name}: no such file or directory")
            return path.read_bytes(), name, context, path
        if args.file:
            raise InvalidArgumentError("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles")
        return data.read_bytes(), "Dockerfile", None, None
    root = Path(location)
    if not root.is_dir():
        raise InvalidArgumentError(f'unable to prepare context: path "{location}" not found')
    if args.file == "-":
        return sys.stdin.buffer.read(), "Dockerfile", root, None
    path = Path(args.file) if args.file else root / "Dockerfile"
    if args.file and not path.exists() and not path.is_absolute():
        path = root / args.file
    if not path.is_file():
        raise InvalidArgumentError(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {path.resolve()}: no such file or directory"
        )
    return path.read_bytes(), str(path), root, path


def _puller(ctx: Context, args: argparse.Namespace) -> Any:
    def pull(name: str) -> None:
        from dockyard.cli import registry_client
        from dockyard.registry.client.progress import discard
        from dockyard.registry.client.pull import Puller, PullOptions

        ref = registry_client._reference(name)
        if ref.tag is None and ref.digest is None:
            ref = ref.with_default_tag()
        connector = registry_client._connector(ctx, args)
        engine = ctx.engine
        puller = Puller(engine.images, connector, engine.root / "downloads", engine.tmp, discard)
        with registry_client._talking_to(connector):
            puller.pull(ref, PullOptions(None, False, 3))

    return pull


# progress ---------------------------------------------------------------------------


def _printer(args: argparse.Namespace) -> Any:
    from dockyard.cli.build_progress import Plain, Terminal

    if args.quiet:
        return Plain(None)
    if args.progress == "tty" or (args.progress == "auto" and sys.stderr.isatty()):
        return Terminal(sys.stderr)
    return Plain(sys.stderr)
