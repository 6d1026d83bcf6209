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
from typing import Callable, NoReturn

from dockyard import __version__
from dockyard.errors import DockyardError, ImageNotFoundError, InvalidArgumentError

EXIT_ERROR = 1
EXIT_USAGE = 125


class UsageError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with Docker's usage errors (message, a help hint, exit 125)."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = "unknown flag: " + message.removeprefix("unrecognized arguments: ").split()[0]
        raise UsageError(f"{message}\nSee '{self.prog} --help'.")


class Context:
    """Lazily opens the engine, so ``--help`` and usage errors need no store."""

    def __init__(self, root: Path, storage_driver: str | None) -> None:
        self.root = root
        self.storage_driver = storage_driver
        self._engine = None

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        if self._engine is None:
            from dockyard.engine import Engine

            self._engine = Engine(self.root, self.storage_driver)  # type: ignore[assignment]
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


Handler = Callable[[Context, argparse.Namespace], int | None]


def require_args(args: argparse.Namespace, name: str, count: int, *, exact: bool = False, at_most: bool = False) -> None:
    n = len(args.args)
    if exact and n != count:
        word = "argument" if count == 1 else "arguments"
        raise UsageError(f'"dockyard {name}" requires exactly {count} {word}.\nSee \'dockyard {name} --help\'.', EXIT_ERROR)
    if at_most and n > count:
        word = "argument" if count == 1 else "arguments"
        raise UsageError(f'"dockyard {name}" requires at most {count} {word}.\nSee \'dockyard {name} --help\'.', EXIT_ERROR)
    if not exact and not at_most and n < count:
        word = "argument" if count == 1 else "arguments"
        raise UsageError(f'"dockyard {name}" requires at least {count} {word}.\nSee \'dockyard {name} --help\'.', EXIT_ERROR)


def build_parser() -> Parser:
    from dockyard.cli import images

    parser = Parser(prog="dockyard", description="Docker's image and container management")
    parser.add_argument("--root", default=os.environ.get("DOCKYARD_ROOT", "/var/lib/dockyard"), help="root of the store (env DOCKYARD_ROOT)")
    parser.add_argument("--storage-driver", "-s", default=os.environ.get("DOCKYARD_STORAGE_DRIVER"), help="overlay2 or vfs")
    parser.add_argument("-D", "--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--version", action="version", version=f"dockyard version {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    image = commands.add_parser("image", help="Manage images")
    image_commands = image.add_subparsers(dest="image_command", metavar="COMMAND", parser_class=Parser)
    images.register(commands, image_commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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


def error_line(exc: DockyardError) -> str:
    """Docker prints client-side errors as "Error: …", daemon errors as "Error response from daemon: …"."""
    if isinstance(exc, ImageNotFoundError):
        return f"Error: {exc}"
    if isinstance(exc, InvalidArgumentError) and getattr(exc, "client_side", False):
        return str(exc)
    return f"Error response from daemon: {exc}"


if __name__ == "__main__":
    sys.exit(main())
