"""``system check [--repair] [--verify-content]``: report (and fix) what a crash or a disk left in the store."""

from __future__ import annotations

import argparse
import sys

from dockyard.cli.context import Context, Parser


def register(commands: argparse._SubParsersAction, system_commands: argparse._SubParsersAction) -> None:
    """``system check``."""
    p = system_commands.add_parser("check", help="Check the store's database, layers, content and mounts")
    p.add_argument("--repair", action="store_true", help="Remove what nothing names and fix what can be fixed")
    p.add_argument("--verify-content", action="store_true", help="Re-hash every blob and every layer's content")
    p.set_defaults(handler=check_cmd)


def check_cmd(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine.check import check_store

    report = check_store(ctx.engine, repair=args.repair, verify_content=args.verify_content)
    for problem in report.problems:
        print(problem.line())
    for reason in report.skipped:
        print(f"skipped: {reason}", file=sys.stderr)
    remaining = sum(not p.repaired for p in report.problems)
    if remaining:
        print(f"{remaining} problem{'s' if remaining != 1 else ''} remain{'s' if remaining == 1 else ''}"
              + ("" if args.repair else " (--repair fixes what it can)"))
        return 1
    print("store is clean")
    return 0
