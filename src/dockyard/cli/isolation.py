"""``run``/``create`` flags for security, limits, restart, stop, init, runtime and labels.

Values are parsed here with Docker's client-side messages (``invalid argument
"abc" for "-m, --memory" flag: ...``); the runtime checks the rest at create
with the daemon's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.cli.context import UsageError

if TYPE_CHECKING:
    from dockyard.runtime.isolation import Isolation
    from dockyard.runtime.resources import Limits
    from dockyard.runtime.restart import RestartPolicy

# dest -> Docker's flag names as its messages spell them
_FLAG_NAMES = {"memory": "-m, --memory", "memory_swap": "--memory-swap", "cpus": "--cpus",
               "cpu_shares": "-c, --cpu-shares", "pids_limit": "--pids-limit", "stop_timeout": "--stop-timeout"}


def add_limit_flags(p: argparse.ArgumentParser) -> None:
    """The flags ``update`` shares with ``run``."""
    p.add_argument("-m", "--memory")
    p.add_argument("--memory-swap")
    p.add_argument("--cpus")
    p.add_argument("-c", "--cpu-shares")
    p.add_argument("--pids-limit")


def add_flags(p: argparse.ArgumentParser) -> None:
    add_limit_flags(p)
    p.add_argument("--cap-add", action="append", default=[])
    p.add_argument("--cap-drop", action="append", default=[])
    p.add_argument("--privileged", action="store_true")
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--init", action="store_true")
    p.add_argument("-l", "--label", action="append", default=[])
    p.add_argument("--label-file", action="append", default=[])
    p.add_argument("--stop-signal")
    p.add_argument("--stop-timeout")
    p.add_argument("--restart", default="no")
    p.add_argument("--runtime", default="runc")


def _value(args: argparse.Namespace, dest: str, parse: Callable[[str], int], default: int = 0) -> int:
    raw = getattr(args, dest)
    if raw is None:
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise UsageError(f'invalid argument "{raw}" for "{_FLAG_NAMES[dest]}" flag: {exc}\n\n'
                         f"Run 'dockyard {args.command} --help' for more information") from None


def _go_int(raw: str) -> int:
    try:
        return int(raw, 10)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None


def _client_error(args: argparse.Namespace, message: str) -> UsageError:
    return UsageError(f"dockyard: {message}.\nSee 'dockyard {args.command} --help'.")


def _labels(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    items: list[str] = []
    for path in args.label_file:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise _client_error(args, f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
        items += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    items += args.label
    return tuple((key, value) for key, _, value in (item.partition("=") for item in items))


def _security_opts(args: argparse.Namespace) -> tuple[bool, str, list[str]]:
    """Docker's parseSecurityOpts: ``no-new-privileges[=bool]``, ``seccomp=unconfined|FILE``; a FILE is read here."""
    no_new_privileges, profile, kept = False, "", []
    for opt in args.security_opt:
        key, sep, value = opt.partition("=")
        if not sep and opt != "no-new-privileges":
            if ":" not in opt:
                raise _client_error(args, f'Invalid --security-opt: "{opt}"')
            key, _, value = opt.partition(":")
        if key == "no-new-privileges":
            if value not in ("", "true", "false", "1", "0", "True", "False"):
                raise _client_error(args, f'invalid --security-opt 2: "{opt}"')
            no_new_privileges = value in ("", "true", "1", "True")
        elif key == "seccomp":
            profile = value if value == "unconfined" else _read_profile(args, value)
            opt = "seccomp=" + profile if value != "unconfined" else opt
        elif key not in ("apparmor", "label"):
            raise UsageError(f"dockyard: Error response from daemon: invalid --security-opt 2: \"{opt}\".\n"
                             f"See 'dockyard {args.command} --help'.")
        kept.append(opt)
    return no_new_privileges, profile, kept


def _read_profile(args: argparse.Namespace, path: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise _client_error(args, f"opening seccomp profile ({path}) failed: open {path}: "
                                  f"{(exc.strerror or str(exc)).lower()}") from None
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError as exc:
        raise _client_error(args, f"compacting json for seccomp profile ({path}) failed: {exc}") from None


def _limits(args: argparse.Namespace) -> Limits:
    from dockyard.cli.units import ram_in_bytes
    from dockyard.engine.container_options import Limits, parse_nano_cpus

    return Limits(
        memory=_value(args, "memory", ram_in_bytes),
        memory_swap=_value(args, "memory_swap", lambda v: -1 if v == "-1" else ram_in_bytes(v)),
        nano_cpus=_value(args, "cpus", parse_nano_cpus),
        cpu_shares=_value(args, "cpu_shares", _go_int),
        pids_limit=_value(args, "pids_limit", _go_int),
    )


def _restart(args: argparse.Namespace) -> RestartPolicy:
    from dockyard.errors import InvalidArgumentError
    from dockyard.engine.container_options import RestartPolicy

    try:
        return RestartPolicy.parse(args.restart)
    except InvalidArgumentError as exc:
        if "integer" in str(exc):
            raise _client_error(args, str(exc)) from None
        raise UsageError(f"dockyard: Error response from daemon: {exc}\n\nRun 'dockyard {args.command} --help' for more information") from None


def update_changes(args: argparse.Namespace) -> tuple[dict[str, int], RestartPolicy | None]:
    """``update``'s flags as HostConfig changes (only those given) and the new restart policy (or None)."""
    limits = _limits(args)
    given = {"Memory": args.memory, "MemorySwap": args.memory_swap, "NanoCpus": args.cpus,
             "CpuShares": args.cpu_shares, "PidsLimit": args.pids_limit}
    values = {"Memory": limits.memory, "MemorySwap": limits.memory_swap, "NanoCpus": limits.nano_cpus,
              "CpuShares": limits.cpu_shares, "PidsLimit": limits.pids_limit}
    changes = {key: values[key] for key, raw in given.items() if raw is not None}
    return changes, _restart(args) if args.restart is not None else None


def isolation(args: argparse.Namespace) -> Isolation:
    """The runtime's ``Isolation`` for these flags; UsageError (exit 125) for what the client refuses."""
    from dockyard.engine.container_options import Isolation

    limits = _limits(args)
    stop_timeout = _value(args, "stop_timeout", _go_int) if args.stop_timeout is not None else None
    if args.rm and args.restart not in ("", "no"):
        raise _client_error(args, "Conflicting options: --restart and --rm")
    restart = _restart(args)
    no_new_privileges, profile, security_opt = _security_opts(args)
    return Isolation(
        limits=limits, cap_add=tuple(args.cap_add), cap_drop=tuple(args.cap_drop), privileged=args.privileged,
        read_only=args.read_only, no_new_privileges=no_new_privileges, seccomp_profile=profile,
        security_opt=tuple(security_opt), init=args.init, restart=restart, runtime=args.runtime,
        stop_signal=args.stop_signal, stop_timeout=stop_timeout, labels=_labels(args),
    )
