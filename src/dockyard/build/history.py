"""``created_by`` strings as Docker 20.10's BuildKit writes them into image history.

They print Go values with fmt verbs (``%q`` of a slice, ``%v`` of a map), so
those renderings live here.
"""

from __future__ import annotations

from typing import Iterable

from dockyard.build.gostr import quote

COMMENT = "buildkit.dockerfile.v0"


def go_quoted_list(values: Iterable[str]) -> str:
    """Go's ``%q`` of a []string: ["a" "b"]."""
    return "[" + " ".join(quote(v) for v in values) + "]"


def go_list(values: Iterable[str]) -> str:
    """Go's ``%v`` of a []string: [a b]."""
    return "[" + " ".join(values) + "]"


def go_duration(ns: int) -> str:
    """Go's time.Duration.String for the durations a HEALTHCHECK takes."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return _trim(ns / size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9) + "s"
    if hours:
        return f"{hours}h{minutes}m{seconds}"
    if minutes:
        return f"{minutes}m{seconds}"
    return seconds


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


def go_rune(value: int) -> str:
    """Go's ``%q`` of an int: a quoted character literal."""
    ch = chr(value)
    if ch == "'":
        return "'\\''"
    inner = quote(ch)[1:-1]
    return f"'{inner}'" if inner != '\\"' else "'\"'"


def healthcheck(test: list[str], interval: int, timeout: int, start_period: int, retries: int) -> str:
    return (
        f"HEALTHCHECK &{{{go_quoted_list(test)} {quote(go_duration(interval))} {quote(go_duration(timeout))} "
        f"{quote(go_duration(start_period))} {go_rune(retries)}}}"
    )


def expose(ports: Iterable[str]) -> str:
    return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"


def run(argv: list[str], build_args: list[tuple[str, str]]) -> str:
    prefix = [f"|{len(build_args)}", *(f"{k}={v}" for k, v in build_args)] if build_args else []
    return "RUN " + " ".join([*prefix, *argv]) + " # buildkit"
