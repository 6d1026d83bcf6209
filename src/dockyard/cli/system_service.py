"""``system service [--time SECONDS] [URI]``: serve the Docker Engine API on the store (Podman's grammar)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dockyard.cli.context import Context, UsageError, require_args
from dockyard.errors import InvalidArgumentError, StorageError

EXIT_SERVICE = 125  # Podman's exit when the service cannot start


def uint(value: str) -> int:
    """pflag's uint: a non-negative integer."""
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f'invalid argument "{value}" for "-t, --time" flag: strconv.ParseUint: parsing "{value}": invalid syntax')
    return number


def register(commands: argparse._SubParsersAction, system_commands: argparse._SubParsersAction) -> None:
    """``system service``."""
    p = system_commands.add_parser("service", prog="dockyard system service", help="Run an API service")
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-t", "--time", type=uint, default=5,
                   help="Time until the service session expires in seconds.  Use 0 to disable the timeout")
    p.add_argument("--tlsverify", action="store_true", help="Use TLS and require clients to show a certificate the CA signed")
    p.add_argument("--tlscacert", default="", help="Trust client certs signed only by this CA")
    p.add_argument("--tlscert", default="", help="Path to TLS certificate file")
    p.add_argument("--tlskey", default="", help="Path to TLS key file")
    p.add_argument("--insecure", action="store_true", help="Serve plain TCP (a loopback address only)")
    p.set_defaults(handler=service_cmd)


def service_cmd(ctx: Context, args: argparse.Namespace) -> int:
    """Podman's exits: a socket it cannot serve is "Error: ..." and 125, a stop by signal or idle time 0."""
    from dockyard.api.server import ServiceOptions, serve

    require_args(args, "system service", 1, at_most=True)
    uri = args.args[0] if args.args else _rootless_uri()
    from dockyard.engine import enter_user_namespace

    enter_user_namespace()  # before the server's threads: its engines and what they start run in the user's namespace
    options = ServiceOptions(
        root=Path(ctx.root).absolute(), storage_driver=ctx.storage_driver, uri=uri, idle_time=float(args.time),
        tls=_tls(args), insecure=args.insecure,
    )  # fmt: skip
    try:
        serve(options)
    except (InvalidArgumentError, StorageError) as exc:
        raise UsageError(f"Error: {exc}", EXIT_SERVICE) from None
    return 0


def _rootless_uri() -> str | None:
    """A user's default socket is its own, in its run-time dir (root's: /run/dockyard, or systemd's)."""
    import os

    if os.getuid() == 0 or "LISTEN_PID" in os.environ:
        return None
    from dockyard.engine.rootless import private_run_dir, user_paths

    return f"unix://{private_run_dir(user_paths().run_dir)}/dockyard.sock"


def _tls(args: argparse.Namespace) -> object:
    from dockyard.api.server import TLSOptions

    files = (args.tlscacert, args.tlscert, args.tlskey)
    if not args.tlsverify:
        if any(files):
            raise UsageError("--tlscacert, --tlscert and --tlskey need --tlsverify: clients must show a certificate")
        return None
    if not all(files):
        raise UsageError("--tlsverify needs --tlscacert, --tlscert and --tlskey")
    return TLSOptions(Path(args.tlscacert), Path(args.tlscert), Path(args.tlskey))
