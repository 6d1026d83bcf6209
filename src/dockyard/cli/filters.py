"""``--filter`` values for the image commands, with Docker's validation and messages."""

from __future__ import annotations

import fnmatch
import re
import time
from typing import Callable

from dockyard.errors import InvalidArgumentError
from dockyard.image.store import Image, ImageStore

IMAGE_FILTERS = {"dangling", "label", "before", "since", "reference"}
PRUNE_FILTERS = {"until", "label", "label!"}


def parse_filters(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for value in values:
        key, sep, arg = value.partition("=")
        if not sep:
            raise InvalidArgumentError("bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), []).append(arg)
    return out


def _check(filters: dict[str, list[str]], allowed: set[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgumentError(f"Invalid filter '{key}'")


def _dangling(filters: dict[str, list[str]]) -> bool | None:
    values = filters.get("dangling")
    if not values:
        return None
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise InvalidArgumentError(f"Invalid filter 'dangling=[{values[-1]}]'")
    return value in ("true", "1")


def _labels(filters: dict[str, list[str]], key: str = "label") -> Callable[[Image], bool]:
    wanted = [v.partition("=") for v in filters.get(key, [])]

    def match(image: Image) -> bool:
        labels = image.config.labels
        return all(k in labels and (not sep or labels[k] == v) for k, sep, v in wanted)

    return match


def _reference(patterns: list[str]) -> Callable[[Image], bool]:
    def match(image: Image) -> bool:
        for ref in image.refs:
            candidates = [ref.familiar_name, ref.familiar, str(ref)]
            if any(fnmatch.fnmatchcase(c, p) for c in candidates for p in patterns):
                return True
        return False

    return match


def image_filter(filters: dict[str, list[str]], images: list[Image], store: ImageStore) -> Callable[[Image], bool]:
    _check(filters, IMAGE_FILTERS)
    dangling = _dangling(filters)
    labels = _labels(filters)
    checks: list[Callable[[Image], bool]] = [labels]
    if dangling is not None:
        checks.append(lambda image: (not image.tags) == dangling)
    if filters.get("reference"):
        checks.append(_reference(filters["reference"]))
    for key, newer in (("before", False), ("since", True)):
        for name in filters.get(key, []):
            pivot = store.get(name).config.created
            stamp = pivot.timestamp() if pivot else 0.0
            checks.append(_created_check(stamp, newer))
    return lambda image: all(check(image) for check in checks)


def _created_check(stamp: float, newer: bool) -> Callable[[Image], bool]:
    def check(image: Image) -> bool:
        created = image.config.created.timestamp() if image.config.created else 0.0
        return created > stamp if newer else created < stamp

    return check


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_until(value: str, now: float | None = None) -> float:
    """A Unix timestamp, an RFC 3339 date, or a Go duration before now (``10m``, ``24h``)."""
    now = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return now - sum(float(n) * _UNIT[u] for n, u in parts)
    from dockyard.oci.config import parse_time

    moment = parse_time(value if "T" in value else value + "T00:00:00Z")
    if moment is None:
        raise InvalidArgumentError(f"failed to parse value as time or duration: {value!r}")
    return moment.timestamp()


def prune_filter(filters: dict[str, list[str]], *, dangling_only: bool) -> Callable[[Image], bool]:
    _check(filters, PRUNE_FILTERS)
    until = [parse_until(v) for v in filters.get("until", [])]
    labels = _labels(filters)
    excluded = [v.partition("=") for v in filters.get("label!", [])]

    def select(image: Image) -> bool:
        if dangling_only and image.tags:
            return False
        created = image.config.created.timestamp() if image.config.created else 0.0
        if any(created >= u for u in until):
            return False
        found = image.config.labels
        if any(k in found and (not sep or found[k] == v) for k, sep, v in excluded):
            return False
        return labels(image)

    return select
