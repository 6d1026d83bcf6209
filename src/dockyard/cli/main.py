"""The ``dockyard`` command: Docker's grammar, flags, output and exit codes.

Only argument parsing and printing live here; every command is one call into
the engine. Errors are caught at this edge: one line on stderr, Docker's
exit code.

Start-up is most of a short command's time, so ``main`` looks the command word
up in the static table (``cli.commands``), imports only the module that declares
that command and builds only its parser; ``--version``, ``--help`` and an unknown
command need no parser at all.
"""

from __future__ import annotations

import os
import sys

from dockyard import __version__
from dockyard.cli.commands import COMMANDS, HIDDEN, SUBCOMMANDS, child

TYPE_CHECKING = False  # typing itself costs milliseconds at every start
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.context import Parser, Plan

GLOBAL_OPTIONS_WITH_VALUE = frozenset({"--root", "--storage-driver", "-s"})
IMAGE_FAMILY = frozenset({"images", "registry_client", "build"})  # their register() also fills ``image``
SYSTEM_FAMILY = frozenset({"system", "events", "check", "system_service"})  # their register() also fills ``system``
EXIT_ERROR = 1


def command_words(argv: list[str]) -> list[str]:
    """The command a command line names and, for a management command, the word after it."""
    words = iter(argv)
    found: list[str] = []
    for word in words:
        if word == "--":
            break
        if not found and word in GLOBAL_OPTIONS_WITH_VALUE:
            next(words, None)
        elif not word.startswith("-"):
            found.append(word)
            if len(found) == 2 or found[0] not in SUBCOMMANDS:
                break
    return found


def command_word(argv: list[str]) -> str | None:
    """The command a command line names: the first word after the global options."""
    words = command_words(argv)
    return words[0] if words else None


def modules_for(words: list[str]) -> tuple[tuple[str, ...], Plan | None]:
    """The modules to import and the parsers to build for ``dockyard WORDS...`` (None: all of theirs)."""
    name = words[0]
    modules = _declaring(name)
    sub = child(name, words[1] if len(words) > 1 else None) if name in SUBCOMMANDS else None
    if sub is None:
        if name == "container":
            return modules, None  # the group names every container command: declare them all
        return modules, {name: None}
    top = SUBCOMMANDS[name][sub][2]
    if name == "image":
        return (COMMANDS[top][3] if top else ("images",)), {"image": {sub: None}}
    if name == "container":
        declaring = COMMANDS[top][3] if top else ()
        plan: Plan = {"container": {sub: None}}
        if top:
            plan[top] = None
        return (*declaring, "container_group"), plan
    return modules, {name: None}


def declare(modules: tuple[str, ...], commands: argparse._SubParsersAction) -> None:
    """Run each module's ``register``; the image and system families also fill their management command."""
    from importlib import import_module

    from dockyard.cli.context import Parser

    image_commands: Any = None
    system_commands: Any = None
    for key in modules:
        if key == "container_group":
            import_module("dockyard.cli.container_files").register_container_group(commands)
            continue
        module = import_module(f"dockyard.cli.{key}")
        if key in IMAGE_FAMILY:
            if image_commands is None:
                image = commands.add_parser("image", help="Manage images")
                image_commands = image.add_subparsers(dest="image_command", metavar="COMMAND", parser_class=Parser)
            module.register(commands, image_commands)
        elif key in SYSTEM_FAMILY:
            if system_commands is None:
                system = commands.add_parser("system", help="Manage Docker")
                system_commands = system.add_subparsers(dest="system_command", metavar="COMMAND", parser_class=Parser)
            module.register(commands, system_commands)
        else:
            module.register(commands)


def build_parser(words: list[str] | str | None = None) -> Parser:
    """The parser of the command ``words`` name, or of every command (``None``)."""
    from dockyard.cli.context import Parser

    if isinstance(words, str):
        words = [words]
    parser = Parser(prog="dockyard", description="Docker's image and container management")
    parser.add_argument("--root")  # default: DOCKYARD_ROOT, else root's or the user's store (worked out when used)
    parser.add_argument("--storage-driver", "-s", default=os.environ.get("DOCKYARD_STORAGE_DRIVER"))
    parser.add_argument("-D", "--debug", action="store_true")
    parser.add_argument("-v", "--version", action="version", version=f"dockyard version {__version__}")
    if words and known(words[0]):
        modules, parser.plan = modules_for(words)
    else:
        modules = _all_modules()
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    declare(modules, commands)
    return parser


def _declaring(name: str) -> tuple[str, ...]:
    return COMMANDS[name][3] if name in COMMANDS else HIDDEN[name]


def _all_modules() -> tuple[str, ...]:
    """Every module of the table: the image family first (the container commands extend its
    ``inspect``), the container group last (it names the container commands declared before it)."""
    keys = dict.fromkeys(m for name in (*COMMANDS, *HIDDEN) if known(name) for m in _declaring(name))
    return tuple(sorted(keys, key=lambda m: (m not in IMAGE_FAMILY, m == "container_group")))


def known(name: str) -> bool:
    """A command of the table whose modules are installed (the table also names commands still to come)."""
    if name not in COMMANDS and name not in HIDDEN:
        return False
    here = os.path.dirname(__file__)
    return all(m == "container_group" or os.path.exists(f"{here}/{m}.py") for m in _declaring(name))


def entry() -> None:
    """The ``dockyard`` command (the launcher and ``python -m dockyard`` call this)."""
    import gc

    # Start-up allocates ~20,000 objects that all live (modules, classes, functions): at the default
    # threshold of 700 the cyclic collector runs ~25 times over them (~3 ms) and frees nothing. A long-running
    # command (a monitor, a server) still collects, every 30,000 allocations.
    gc.set_threshold(30_000, 10, 10)
    exit_quickly(main())


def defer_inspect() -> None:
    """Load ``inspect`` when something first uses it rather than when it is imported.

    ``dataclasses`` imports it at its top (with ast, dis and tokenize: ~8 ms, a sixth of a light
    command) but uses it only to write a signature into a record class that has no docstring.
    A stand-in module takes the name; the first attribute asked of it imports the real module
    in its place and answers from it, so every user of ``inspect`` still gets the real thing.
    """
    if "inspect" in sys.modules:
        return
    import types

    class DeferredInspect(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            if sys.modules.get("inspect") is self:
                del sys.modules["inspect"]
            from importlib import import_module

            return getattr(import_module("inspect"), name)

    stand_in = DeferredInspect("inspect")
    stand_in.__spec__ = None  # an import of a module without a spec does not ask for its attributes
    sys.modules["inspect"] = stand_in


def exit_quickly(code: int) -> None:
    """Exit without the interpreter's teardown (~8 ms of freeing every module) when nothing waits
    for it: no atexit callback and no other thread; otherwise (or if a flush fails) exit normally."""
    import atexit

    threading = sys.modules.get("threading")
    if atexit._ncallbacks() == 0 and (threading is None or threading.active_count() == 1):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001 - let the normal exit report it as it always did
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    defer_inspect()  # here, not in entry(): ``python -m dockyard`` and the tests come in through main
    argv = sys.argv[1:] if argv is None else argv
    words = command_words(argv)
    if not words:
        leading = argv[: argv.index("--")] if "--" in argv else argv
        if "-v" in leading or "--version" in leading:
            print(f"dockyard version {__version__}")
            return 0
        if not leading or "-h" in leading or "--help" in leading:
            from dockyard.cli.help import top_level_help

            sys.stdout.write(top_level_help(known))
            return 0
    elif not known(words[0]):
        print(f"dockyard: unknown command: dockyard {words[0]}\n\nRun 'dockyard --help' for more information", file=sys.stderr)
        return EXIT_ERROR
    return run(build_parser(words), argv)


def _group(parser: Parser, name: str | None) -> argparse.ArgumentParser:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]  # type: ignore[no-any-return]
    return parser


def run(parser: Parser, argv: list[str]) -> int:
    from pathlib import Path

    from dockyard.cli.context import Context, Handler, UsageError, error_line
    from dockyard.errors import DockyardError

    ctx: Context | None = None
    debug = "-D" in argv or "--debug" in argv
    try:
        args = parser.parse_args(argv)
        handler: Handler | None = getattr(args, "handler", None)
        if handler is None:  # a management command without its subcommand: Docker shows its help on stderr
            sys.stderr.write(_group(parser, args.command).format_help())
            return 0
        ctx = Context(Path(args.root) if args.root else None, args.storage_driver)
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
