"""``run``/``create``'s ``--health-*`` flags, read as Docker's client reads them."""

from __future__ import annotations

import argparse
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings

from dockyard.cli.context import UsageError
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.container_options import HealthConfig


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--health-cmd", default="", help="Command to run to check health")
    p.add_argument("--health-interval", help="Time between running the check")
    p.add_argument("--health-retries", help="Consecutive failures needed to report unhealthy")
    p.add_argument("--health-start-period",
                   help="Start period for the container to initialize before starting health-retries countdown")
    p.add_argument("--health-timeout", help="Maximum time to allow one check")
    p.add_argument("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")


def healthcheck(args: argparse.Namespace) -> HealthConfig | None:
    """The ``--health-*`` flags as Docker's client reads them (its messages, exit 125); None when none is given."""
    names = ("interval", "timeout", "retries", "start-period")
    if not (args.health_cmd or args.no_healthcheck or any(getattr(args, f"health_{n.replace('-', '_')}") for n in names)):
        return None  # the common case loads nothing more
    from dockyard.engine.container_options import HealthConfig, parse_duration

    values: dict[str, int] = {}
    for flag in names:
        raw = getattr(args, f"health_{flag.replace('-', '_')}")
        try:
            values[flag] = 0 if raw is None else parse_duration(raw) if flag != "retries" else int(raw, 10)
        except (ValueError, InvalidArgumentError) as exc:
            detail = f'strconv.ParseInt: parsing "{raw}": invalid syntax' if flag == "retries" else str(exc)
            raise UsageError(f'invalid argument "{raw}" for "--health-{flag}" flag: {detail}\n'
                             f"See 'dockyard {args.command} --help'.") from None
    given = bool(args.health_cmd) or any(values.values())
    if args.no_healthcheck:
        if given:
            raise health_error(args, "--no-healthcheck conflicts with --health-* options")
        return HealthConfig(test=("NONE",))
    if not given:
        return None
    for flag, value in values.items():
        if value < 0:
            raise health_error(args, f"--health-{flag} cannot be negative")
    return HealthConfig(("CMD-SHELL", args.health_cmd) if args.health_cmd else (), values["interval"],
                        values["timeout"], values["start-period"], values["retries"])


def health_error(args: argparse.Namespace, message: str) -> UsageError:
    return UsageError(f"dockyard: {message}.\nSee 'dockyard {args.command} --help'.")
