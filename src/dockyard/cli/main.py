"""The ``dockyard`` command: Docker's grammar, flags, output and exit codes.

Only argument parsing and printing live here; every command is one call into
the engine. Errors are caught at this edge: one line on stderr, Docker's
exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dockyard import __version__
from dockyard.cli.context import EXIT_ERROR, Context, Handler, Parser, UsageError, error_line
from dockyard.errors import DockyardError


# The top-level commands of each family of command modules. ``main`` builds only the family the
# command line names (importing and declaring every command costs more than most commands' work);
# tests/unit/test_cli_families.py checks these sets against what the modules register.
IMAGE_COMMANDS = frozenset({
    "build", "builder", "history", "image", "images", "import", "load", "login", "logout", "pull", "push",
    "registry", "rmi", "save", "search", "tag",
})  # fmt: skip
CONTAINER_COMMANDS = frozenset({
    "attach", "commit", "container", "container-monitor", "cp", "create", "diff", "exec", "export", "kill", "logs",
    "network", "pause", "port", "ps", "rename", "restart", "rm", "run", "start", "stats", "stop", "top", "unpause",
    "update", "volume", "wait",
})  # fmt: skip
GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--root", "--storage-driver", "-s"})


def command_word(argv: list[str]) -> str | None:
    """The command a command line names: the first word after the global options."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def register_images(commands: argparse._SubParsersAction) -> None:
    from dockyard.cli import build, images, registry_client, registry_server

    image = commands.add_parser("image", help="Manage images")
    image_commands = image.add_subparsers(dest="image_command", metavar="COMMAND", parser_class=Parser)
    images.register(commands, image_commands)
    registry_server.register(commands)
    registry_client.register(commands, image_commands)
    build.register(commands, image_commands)


def register_containers(commands: argparse._SubParsersAction) -> None:
    """After the image commands when both are built: containers extend ``inspect``."""
    from dockyard.cli import attach, container_files, container_logs, containers, lifecycle, networks, volumes

    containers.register(commands)
    container_logs.register(commands)
    attach.register(commands)
    networks.register(commands)
    lifecycle.register(commands)
    container_files.register(commands)
    volumes.register(commands)
    container_files.register_container_group(commands)  # last: it aliases the container commands above


def build_parser(command: str | None = None) -> Parser:
    """Every command, or only the family ``command`` belongs to."""
    parser = Parser(prog="dockyard", description="Docker's image and container management")
    parser.add_argument("--root", default=os.environ.get("DOCKYARD_ROOT", "/var/lib/dockyard"), help="root of the store (env DOCKYARD_ROOT)")
    parser.add_argument("--storage-driver", "-s", default=os.environ.get("DOCKYARD_STORAGE_DRIVER"), help="overlay2 or vfs")
    parser.add_argument("-D", "--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--version", action="version", version=f"dockyard version {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    if command not in CONTAINER_COMMANDS:
        register_images(commands)
    if command not in IMAGE_COMMANDS:
        register_containers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(command_word(sys.argv[1:] if argv is None else argv))
    ctx: Context | None = None
    debug = "-D" in (argv or sys.argv[1:]) or "--debug" in (argv or sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0 if args.command is None else EXIT_ERROR
        ctx = Context(Path(args.root), args.storage_driver)
        return handler(ctx, args) or 0
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except DockyardError as exc:
        if debug:
            raise
        print(error_line(exc), file=sys.stderr)
        return EXIT_ERROR
    finally:
        if ctx is not None:
            ctx.close()
