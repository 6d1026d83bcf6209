"""What every command handler shares: the lazily opened engine, usage errors, error lines."""

from __future__ import annotations

import argparse
import collections.abc
import sys
from pathlib import Path

from dockyard.errors import DockyardError, ImageNotFoundError, StreamError, UnmappedOwnerError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, NoReturn

    from dockyard.engine import Engine
    from dockyard.engine.registry import RegistryService

EXIT_ERROR = 1
EXIT_USAGE = 125


class UsageError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# Which parsers to build: command name -> the plan for its children; None builds every one.
Plan = dict[str, "Plan | None"]


class Parser(argparse.ArgumentParser):
    """argparse with Docker's usage errors (message, a help hint, exit 125) and Docker's help layout.

    ``plan`` limits the parsers its subcommands declare to the ones a command line names (declaring
    every command costs more than most commands' work); the others get a stand-in that ignores them.
    """

    plan: Plan | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", Subcommands)

    def add_subparsers(self, **kwargs: Any) -> Any:
        action = super().add_subparsers(**kwargs)
        action.plan = self.plan
        return action

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, extras = super().parse_known_args(args, namespace)
        self._check_filters(namespace)
        if not getattr(namespace, "command_prog", None):  # the innermost parser finishes first
            namespace.command_prog = self.prog  # "dockyard image rm": how the user named the command
        return namespace, extras

    def _check_filters(self, namespace: argparse.Namespace) -> None:
        """A ``--filter`` without ``=`` is a flag error (exit 125), as Docker's filter flag type makes it."""
        for action in self._actions:
            if action.dest != "filter" or not action.option_strings:
                continue
            for value in getattr(namespace, "filter", None) or ():
                if isinstance(value, str) and "=" not in value:
                    flags = ", ".join(action.option_strings)
                    raise UsageError(
                        f'invalid argument "{value}" for "{flags}" flag: bad format of filter (expected name=value)'
                        f"\n\nRun '{self.prog} --help' for more information"
                    )

    def error(self, message: str) -> NoReturn:
        if self._unknown_subcommand(message):
            word = message.split("invalid choice: ", 1)[1].split("'")[1]
            raise UsageError(
                f"dockyard: unknown command: {self.prog} {word}\n\nUsage:  {self.prog}\n\n"
                f"Run '{self.prog} --help' for more information", EXIT_ERROR
            )
        if message.startswith("the following arguments are required: "):
            required = sum(1 for a in self._actions if not a.option_strings and a.nargs is None)
            raise UsageError(_count_message(self.prog, "at least", max(required, 1)), EXIT_ERROR)
        if message.startswith("unrecognized arguments: "):
            message = "unknown flag: " + message.removeprefix("unrecognized arguments: ").split()[0]
        raise UsageError(f"{message}\n\nRun '{self.prog} --help' for more information")

    def _unknown_subcommand(self, message: str) -> bool:
        return any(
            isinstance(a, argparse._SubParsersAction) and message.startswith(f"argument {argparse._get_action_name(a)}: invalid choice: ")
            for a in self._actions
        )  # fmt: skip

    def format_help(self) -> str:
        from dockyard.cli.help import command_help

        return command_help(self)


class _Formatter(argparse.HelpFormatter):
    """A fixed width: argparse builds a formatter for every flag declared, and asking the terminal
    for its width imports ``shutil`` (Docker's help does not follow the terminal either)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=80)


class Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Declares only the parsers its plan names; the rest are ``UNDECLARED``."""

    plan: Plan | None = None

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        child_plan: Plan | None = None
        if self.plan is not None:
            wanted = next((n for n in (name, *kwargs.get("aliases", ())) if n in self.plan), None)
            if wanted is None:
                return UNDECLARED
            child_plan = self.plan[wanted]
        parser = super().add_parser(name, **kwargs)
        parser.plan = child_plan
        return parser


class _Undeclared:
    """Stands in for a parser (or anything reached from one) that this command line does not need."""

    def __getattr__(self, name: str) -> _Undeclared:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> _Undeclared:
        return self

    def __getitem__(self, key: object) -> _Undeclared:
        return self

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def __contains__(self, key: object) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())


UNDECLARED = _Undeclared()


class Context:
    """Lazily opens the engine, so ``--help`` and usage errors need no store."""

    def __init__(self, root: Path | None, storage_driver: str | None) -> None:
        self._root = root  # None: the default store (root's, or the user's when rootless)
        self.storage_driver = storage_driver
        self._engine: Engine | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            from dockyard.engine import default_root

            self._root = default_root()
        return self._root

    @property
    def engine(self) -> Engine:
        """Opened on first use; a user's command first joins (or makes) its user namespace, where the
        store's layers keep the owners their images give them."""
        if self._engine is None:
            from dockyard.engine import Engine, enter_user_namespace

            root = self.root
            enter_user_namespace()
            self._engine = Engine(root, self.storage_driver)
        return self._engine

    @property
    def registry(self) -> RegistryService:
        """The engine's registry service once the engine is open; otherwise one built without the store
        (login, logout and search read only the configuration and must work where the store cannot open)."""
        if self._engine is not None:
            return self._engine.registry
        import os

        from dockyard.engine.registry import RegistryService

        return RegistryService.without_store(Path(os.path.abspath(self.root)))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


Handler = collections.abc.Callable[[Context, argparse.Namespace], "int | None"]


def _count_message(prog: str, bound: str, count: int) -> str:
    """Docker 28's argument-count error: "docker: 'docker tag' requires 2 arguments" and a help hint."""
    word = "argument" if count == 1 else "arguments"
    limit = f"{bound} {count}" if bound else str(count)
    return f"dockyard: '{prog}' requires {limit} {word}\n\nRun '{prog} --help' for more information"


def require_args(args: argparse.Namespace, name: str, count: int, *, exact: bool = False, at_most: bool = False) -> None:
    n = len(args.args)
    prog = getattr(args, "command_prog", None) or f"dockyard {name}"
    if exact and n != count:
        raise UsageError(_count_message(prog, "", count), EXIT_ERROR)
    if at_most and n > count:
        raise UsageError(_count_message(prog, "at most", count), EXIT_ERROR)
    if not exact and not at_most and n < count:
        raise UsageError(_count_message(prog, "at least", count), EXIT_ERROR)


def error_line(exc: DockyardError) -> str:
    """Docker prints client-side errors as "Error: …", daemon errors as "Error response from daemon: …"."""
    if isinstance(exc, (ImageNotFoundError, UnmappedOwnerError)):
        return f"Error: {exc}"
    if isinstance(exc, StreamError):
        return str(exc)
    return f"Error response from daemon: {exc}"


def missing_object_line(kind: str, name: str, exc: DockyardError) -> str:
    """The daemon's answer for a missing ``kind`` (image, volume, container, ...) as Docker's CLI 28 prints it."""
    if kind == "image":
        answer = f"no such image: {name}: {exc}"
    elif kind == "volume":
        answer = f"get {name}: no such volume"
    else:
        answer = str(exc)
    return f"Error response from daemon: {answer}"


def confirm(warning: str, sep: str = "\n") -> bool:
    """Docker's prune prompt; only ``y``/``yes`` goes ahead."""
    sys.stdout.write(f"{warning}{sep}Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
