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
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings

from dockyard.cli.context import UsageError

if TYPE_CHECKING:
    from dockyard.engine.container_options import DeviceMapping, RunFlags, Ulimit
    from dockyard.runtime.isolation import Isolation
    from dockyard.runtime.resources import Limits
    from dockyard.runtime.restart import RestartPolicy

# dest -> Docker's flag names as its messages spell them
_FLAG_NAMES = {"memory": "-m, --memory", "memory_swap": "--memory-swap", "cpus": "--cpus",
               "cpu_shares": "-c, --cpu-shares", "pids_limit": "--pids-limit", "stop_timeout": "--stop-timeout",
               "shm_size": "--shm-size", "memory_reservation": "--memory-reservation"}


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
    _add_run_flags(p)


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    """Namespaces, devices, DNS, kernel settings, more limits and logging."""
    for flag in ("--ulimit", "--device", "--dns", "--dns-search", "--dns-option", "--sysctl", "--group-add", "--tmpfs",
                 "--log-opt", "--device-cgroup-rule"):
        p.add_argument(flag, action="append", default=[])
    p.add_argument("--cgroupns", default="")
    p.add_argument("--uts", default="")
    p.add_argument("--isolation", default="")
    p.add_argument("--volume-driver", default="")
    p.add_argument("--shm-size")
    p.add_argument("--memory-reservation")
    p.add_argument("--cpuset-cpus", default="")
    p.add_argument("--pid", default="")
    p.add_argument("--ipc", default="")
    p.add_argument("--log-driver")


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
        stop_signal=args.stop_signal, stop_timeout=stop_timeout, labels=_labels(args), flags=run_flags(args),
    )


def _flag_error(args: argparse.Namespace, raw: str, flag: str, message: str) -> UsageError:
    return UsageError(f'invalid argument "{raw}" for "{flag}" flag: {message}\nSee \'dockyard {args.command} --help\'.')


def _ulimit(args: argparse.Namespace, raw: str) -> Ulimit:
    """Docker's ParseUlimit: ``name=soft[:hard]`` (hard defaults to soft)."""
    from dockyard.engine.container_options import ULIMITS, Ulimit

    name, sep, values = raw.partition("=")
    if not sep:
        raise _flag_error(args, raw, "--ulimit", f"invalid ulimit argument: {raw}")
    if name not in ULIMITS:
        raise _flag_error(args, raw, "--ulimit", f"invalid ulimit type: {name}")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft, hard = _go_int(soft_text), _go_int(hard_text or soft_text)
    except ValueError as exc:
        raise _flag_error(args, raw, "--ulimit", str(exc)) from None
    if soft > hard:
        raise _flag_error(args, raw, "--ulimit", f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return Ulimit(name, soft, hard)


def _device(args: argparse.Namespace, raw: str) -> DeviceMapping:
    """Docker's parseDevice: ``host[:container][:permissions]``."""
    from dockyard.engine.container_options import DeviceMapping

    parts = raw.split(":")
    if len(parts) > 3:
        raise _client_error(args, f"invalid device specification: {raw}")
    mode = parts[2] if len(parts) == 3 else "rwm"
    dst = parts[0]
    if len(parts) >= 2:
        if _device_mode(parts[1]):
            mode = parts[1]
        else:
            dst = parts[1]
    if not _device_mode(mode):
        raise _client_error(args, f"bad mode specified: {mode}")
    for path in (parts[0], dst):
        if not path.startswith("/"):
            raise _client_error(args, f"{path} is not an absolute path")
    return DeviceMapping(parts[0], dst, mode)


def _device_mode(mode: str) -> bool:
    return bool(mode) and len(mode) <= 3 and len(set(mode)) == len(mode) and set(mode) <= set("rwm")


# Docker's ValidateSysctl: the namespaced ones a container may set
_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
            "kernel.shmmni", "kernel.shm_rmid_forced")


def _sysctl(args: argparse.Namespace, raw: str) -> tuple[str, str]:
    key, sep, value = raw.partition("=")
    if not sep or not (key in _SYSCTLS or key.startswith(("fs.mqueue.", "net."))):
        raise _flag_error(args, raw, "--sysctl", f"sysctl '{raw}' is not allowed")
    return key, value


def _dns(args: argparse.Namespace, raw: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise _flag_error(args, raw, "--dns", f"IP address is not correctly formatted: {raw}") from None
    return raw


def _size(args: argparse.Namespace, dest: str) -> int:
    from dockyard.cli.units import ram_in_bytes

    def parse(raw: str) -> int:
        value = ram_in_bytes(raw)
        if value < 0:
            raise ValueError(f"invalid size: '{raw}'")
        return value

    return _value(args, dest, parse)


def _mode_error(args: argparse.Namespace, message: str) -> UsageError:
    """Docker 28's words for a namespace flag its client refuses."""
    return UsageError(f"dockyard: {message}\n\nRun 'dockyard {args.command} --help' for more information")


def _device_cgroup_rule(args: argparse.Namespace, raw: str) -> str:
    from dockyard.engine.container_options import DEVICE_CGROUP_RULE

    if not DEVICE_CGROUP_RULE.fullmatch(raw):
        raise UsageError(f'invalid argument "{raw}" for "--device-cgroup-rule" flag: invalid device cgroup format '
                         f"'{raw}'\n\nRun 'dockyard {args.command} --help' for more information")
    return raw


def run_flags(args: argparse.Namespace) -> RunFlags:
    """The namespace, device, DNS, kernel, limit and log flags, checked as Docker's client checks them."""
    from dockyard.engine.container_options import RunFlags

    if args.pid not in ("", "host") and not (args.pid.startswith("container:") and args.pid[10:]):
        raise _client_error(args, "--pid: invalid PID mode")
    if args.cgroupns not in ("", "host", "private"):
        raise _mode_error(args, "--cgroupns: invalid CGROUP mode")
    if args.uts not in ("", "host"):
        raise _mode_error(args, "--uts: invalid UTS mode")
    if args.log_driver == "none" and args.log_opt:
        raise _client_error(args, "invalid logging opts for driver none")
    ulimits = {u.name: u for u in (_ulimit(args, raw) for raw in args.ulimit)}  # the last of a name wins
    tmpfs = dict(item.partition(":")[::2] for item in args.tmpfs)
    sysctls = dict(_sysctl(args, raw) for raw in args.sysctl)
    return RunFlags(
        container_id_file=getattr(args, "cidfile", None) or "", log_type=args.log_driver or "json-file",
        log_config=tuple(opt.partition("=")[::2] for opt in args.log_opt),
        dns=tuple(_dns(args, d) for d in args.dns), dns_options=tuple(args.dns_option), dns_search=tuple(args.dns_search),
        group_add=tuple(args.group_add) or None, ipc_mode=args.ipc or "private", pid_mode=args.pid,
        shm_size=_size(args, "shm_size") or 64 * 1024 * 1024,
        sysctls=tuple(sysctls.items()) or None,
        tmpfs=tuple(tmpfs.items()) or None, cpuset_cpus=args.cpuset_cpus,
        devices=tuple(_device(args, raw) for raw in args.device), memory_reservation=_size(args, "memory_reservation"),
        ulimits=tuple(ulimits.values()), cgroupns_mode=args.cgroupns or None, uts_mode=args.uts,
        device_cgroup_rules=tuple(_device_cgroup_rule(args, r) for r in args.device_cgroup_rule) or None,
        isolation=args.isolation, volume_driver=args.volume_driver,
    )
