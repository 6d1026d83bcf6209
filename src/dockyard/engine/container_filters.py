"""Docker's container filters (``ps --filter``, the Engine API's ``filters``), checked as dockerd checks them.

Docker matches ``id`` and ``name`` as regular expressions searched in the full
ID, and in the name with its leading slash or without it (``^web$`` and ``^/web$`` both match); ``status``, ``exited``, ``label``,
``ancestor``, ``before``/``since``, ``volume`` and ``network`` as below. A
``status`` filter looks at stopped containers too, as ``-a`` does (``exited``
does not: Docker needs ``-a`` for it).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from dockyard.errors import DockyardError, InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.runtime.container_state import Container

PS_FILTERS = {"id", "name", "label", "exited", "status", "ancestor", "before", "since", "volume", "network", "health"}
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")

Check = Callable[["Container"], bool]


def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # Docker: a pattern that does not compile matches nothing


def _search(patterns: list[str], text: str) -> bool:
    return any(r is not None and r.search(text) for r in map(_regex, patterns))


def _labels(values: list[str]) -> Check:
    wanted = [v.partition("=") for v in values]

    def match(c: Container) -> bool:
        labels = c.stored.config.labels
        return all(k in labels and (not sep or labels[k] == v) for k, sep, v in wanted)

    return match


def _exited(values: list[str]) -> Check:
    codes = set()
    for v in values:
        try:
            codes.add(int(v))
        except ValueError:
            raise InvalidArgumentError(f'strconv.Atoi: parsing "{v}": invalid syntax') from None
    return lambda c: c.run.status == "exited" and c.run.exit_code in codes


def _status(values: list[str]) -> Check:
    for v in values:
        if v not in STATUSES:
            raise InvalidArgumentError(f"Invalid filter 'status={v}'")
    return lambda c: c.run.status in values


def health_status(c: Container) -> str:
    """Docker's Health of ``ps``: the probe's status, or "none" for a container never probed."""
    return str((c.state.get("Health") or {}).get("Status") or "none")


def _health(values: list[str]) -> Check:
    for v in values:
        if v not in ("starting", "healthy", "unhealthy", "none"):
            raise InvalidArgumentError(f"Unrecognised filter value for health: {v}")
    return lambda c: health_status(c) in values


class ContainerFilter:
    """Built once per listing from the filters by key; ``shows_all`` says whether stopped containers are candidates."""

    def __init__(self, filters: dict[str, list[str]], lookup: Callable[[str], Container], resolve_image: Callable[[str], str],
                 mounts: Callable[[Container], list[dict[str, Any]]], networks: Callable[[Container], list[str]]) -> None:
        for key in filters:
            if key not in PS_FILTERS:
                raise InvalidArgumentError(f"Invalid filter '{key}'")
        self.shows_all = "status" in filters
        checks: list[Check] = []
        if "id" in filters:
            checks.append(lambda c: _search(filters["id"], c.id))
        if "name" in filters:
            checks.append(lambda c: _search(filters["name"], "/" + c.name) or _search(filters["name"], c.name))
        if "label" in filters:
            checks.append(_labels(filters["label"]))
        if "exited" in filters:
            checks.append(_exited(filters["exited"]))
        if "status" in filters:
            checks.append(_status(filters["status"]))
        if "health" in filters:
            checks.append(_health(filters["health"]))
        if "ancestor" in filters:
            ancestors = {self._image(resolve_image, v) for v in filters["ancestor"]}
            checks.append(lambda c: c.image_id in ancestors)
        for key, newer in (("before", False), ("since", True)):
            for name in filters.get(key, []):
                pivot = lookup(name).created
                checks.append(lambda c, p=pivot, n=newer: (c.created > p) if n else (c.created < p))
        if "volume" in filters:
            wanted = set(filters["volume"])
            checks.append(lambda c: any({m.get("Name"), m.get("Source"), m.get("Destination")} & wanted for m in mounts(c)))
        if "network" in filters:
            nets = set(filters["network"])
            checks.append(lambda c: bool(nets & set(networks(c))))
        self._checks = checks

    @staticmethod
    def _image(resolve: Callable[[str], str], ref: str) -> str | None:
        try:
            return resolve(ref)
        except DockyardError:
            return None  # Docker: an unknown ancestor matches nothing

    def __call__(self, container: Container) -> bool:
        return all(check(container) for check in self._checks)
