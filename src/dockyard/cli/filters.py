"""``--filter KEY=VALUE`` flags as the CLI reads them; what they select is the engine's (``engine.image_filters``)."""

from __future__ import annotations

from dockyard.engine.image_filters import parse_until  # noqa: F401 - the container commands' --since/--until
from dockyard.errors import InvalidArgumentError


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise InvalidArgumentError("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(arg)
    return out
