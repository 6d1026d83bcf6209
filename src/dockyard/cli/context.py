"""What every command handler shares: the lazily opened engine, usage errors, error lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NoReturn

from dockyard.errors import DockyardError, ImageNotFoundError

if TYPE_CHECKING:
    from dockyard.engine import Engine

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
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from dockyard.engine import Engine

            self._engine = Engine(self.root, self.storage_driver)
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


def error_line(exc: DockyardError) -> str:
    """Docker prints client-side errors as "Error: …", daemon errors as "Error response from daemon: …"."""
    if isinstance(exc, ImageNotFoundError):
        return f"Error: {exc}"
    return f"Error response from daemon: {exc}"


def confirm(warning: str, sep: str = "\n") -> bool:
    """Docker's prune prompt; only ``y``/``yes`` goes ahead."""
    sys.stdout.write(f"{warning}{sep}Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
