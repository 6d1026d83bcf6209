"""``--help`` in Docker CLI 28's layout: usage line, description, aliases, then pflag's options table."""

from __future__ import annotations

import argparse
from typing import Callable

from dockyard.cli.commands import ALIASES, COMMANDS, GROUPS, SUBCOMMANDS

DESCRIPTION = "Docker's image and container management"
WIDTH = 79  # Docker wraps flag usages at the terminal width less one; 80 columns when not a terminal
NAME_PADDING = 11  # cobra's minimum width of a command name column

GLOBAL_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    # (short, long, value type, usage), sorted by the long name as pflag sorts them
    ("D", "debug", "", "Enable debug mode (show tracebacks)"),
    ("", "root", "string", 'Root of the store (env DOCKYARD_ROOT) (default "/var/lib/dockyard")'),
    ("s", "storage-driver", "string", "Storage driver: overlay2 or vfs (env DOCKYARD_STORAGE_DRIVER)"),
    ("v", "version", "", "Print version information and quit"),
)


def _command_list(names: list[tuple[str, str]]) -> list[str]:
    pad = max([NAME_PADDING, *(len(n) for n, _ in names)])
    return [f"  {name.ljust(pad)} {text}" for name, text in names]


def top_level_help(known: Callable[[str], bool]) -> str:
    """``dockyard --help``: the commands grouped as Docker groups them, then the global options."""
    lines = ["", "Usage:  dockyard [OPTIONS] COMMAND", "", DESCRIPTION, ""]
    for group in GROUPS:
        names = [(name, row[2]) for name, row in COMMANDS.items() if row[0] == group and known(name)]
        if group != GROUPS[0]:
            names.sort()
        if names:
            lines += [f"{group}:", *_command_list(names), ""]
    lines += ["Global Options:", *flag_table(list(GLOBAL_OPTIONS)), ""]
    lines += ["Run 'dockyard COMMAND --help' for more information on a command.", ""]
    return "\n".join(lines[1:])


def command_help(parser: argparse.ArgumentParser) -> str:
    """``dockyard COMMAND --help`` (and ``dockyard GROUP SUBCOMMAND --help``)."""
    path = parser.prog.removeprefix("dockyard").strip()
    group, _, name = path.partition(" ")
    if path in COMMANDS:
        usage, text = COMMANDS[path][1], COMMANDS[path][2]
    elif name in SUBCOMMANDS.get(group, {}):
        usage, text = SUBCOMMANDS[group][name][:2]
    else:
        return argparse.ArgumentParser.format_help(parser)
    lines = [f"Usage:  dockyard {path} {usage}".rstrip(), "", text, ""]
    if path in ALIASES:
        lines += ["Aliases:", "  " + ", ".join(f"dockyard {a}" for a in ALIASES[path]), ""]
    if path in SUBCOMMANDS:
        children = _declared_children(parser)
        lines += ["Commands:", *_command_list([(n, t[1]) for n, t in sorted(SUBCOMMANDS[path].items()) if n in children]), ""]
        lines += [f"Run 'dockyard {path} COMMAND --help' for more information on a command.", ""]
        return "\n".join(lines)
    from dockyard.cli.docker_flags import FLAG_HELP

    docker_help = FLAG_HELP.get(path, {})
    flags = [_flag(action, docker_help) for action in parser._actions if _listed(action)]
    if flags:
        lines += ["Options:", *flag_table(sorted(flags, key=lambda f: f[1])), ""]
    return "\n".join(lines)


def _declared_children(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _listed(action: argparse.Action) -> bool:
    return bool(action.option_strings) and action.help is not argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)


def _flag(action: argparse.Action, docker_help: dict[str, str]) -> tuple[str, str, str, str]:
    """(short, long, value type, usage) of an option, named as pflag names them; a flag declared
    without help text gets Docker's description of it."""
    short = next((o[1:] for o in action.option_strings if len(o) == 2), "")
    long = next((o[2:] for o in action.option_strings if o.startswith("--")), "")
    usage = action.help or docker_help.get(long, "")
    if action.nargs == 0:
        kind = ""
    elif isinstance(action, argparse._AppendAction):
        kind = "filter" if long == "filter" else "list"
    elif action.type is int:
        kind = "int"
    elif getattr(action.type, "__name__", "") == "uint":
        kind = "uint"
    elif action.type is float:
        kind = "float"
    elif action.nargs == "?" and action.const is True:
        kind = ""
        usage += " (default true)" if action.default is True else ""
        return short, long, kind, usage
    else:
        kind = "string"
    default = action.default
    if kind in ("string",) and isinstance(default, str) and default:
        usage += f' (default "{default}")'
    elif kind in ("int", "uint", "float") and default not in (None, 0):
        usage += f" (default {default})"
    elif kind == "" and default is True:
        usage += " (default true)"
    return short, long, kind, usage


def flag_table(flags: list[tuple[str, str, str, str]]) -> list[str]:
    """pflag's FlagUsagesWrapped: names in one column, usages wrapped beside them."""
    heads = []
    for short, long, kind, _ in flags:
        head = f"  -{short}, --{long}" if short else f"      --{long}"
        heads.append(head + (f" {kind}" if kind else ""))
    width = max(len(h) for h in heads) + 1  # pflag counts the separator it puts after each name
    out = []
    for head, (_, _, _, usage) in zip(heads, flags):
        out.append((head + " " * (width - len(head) + 2) + _wrap(width + 2, WIDTH, usage)).rstrip())
    return out


def _wrap(indent: int, width: int, text: str) -> str:
    """pflag's wrap: fit ``text`` into ``width - indent`` columns, continuation lines indented."""
    room = width - indent
    prefix = ""
    if room < 24:
        indent, room = 16, width - 16
        prefix = "\n" + " " * indent
    if room < 24:
        return prefix + text.replace("\n", prefix)
    slop = 5
    room -= slop
    pieces = []
    while text:
        piece, text = _wrap_once(room, slop, text)
        pieces.append(piece.replace("\n", "\n" + " " * indent))
    return prefix + ("\n" + " " * indent).join(pieces)


def _wrap_once(room: int, slop: int, text: str) -> tuple[str, str]:
    if room + slop > len(text):
        return text, ""
    cut = max(text.rfind(" ", 0, room), text.rfind("\t", 0, room), text.rfind("\n", 0, room))
    if cut <= 0:
        return text, ""
    newline = text.rfind("\n", 0, room)
    if 0 < newline < cut:
        return text[:newline], text[newline + 1 :]
    return text[:cut], text[cut + 1 :]
