"""``--filter`` for the image commands (``images``, ``image prune``): Docker's keys, validation and messages.

Listing filters work on metadata; only ``label`` reads the config blobs, through ``labels_of``.
"""

from __future__ import annotations

import re
import time

from dockyard.errors import InvalidArgumentError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Callable, Protocol

    from dockyard.oci.reference import Reference

    class Listed(Protocol):
        """What a filter looks at: an image's names and creation time (ImageSummary or Image)."""

        @property
        def refs(self) -> list[Reference]: ...

        @property
        def tags(self) -> list[Reference]: ...

        @property
        def created(self) -> datetime | None: ...

    Labels = Callable[[Listed], dict[str, str]]

IMAGE_FILTERS = {"dangling", "label", "before", "since", "reference"}
PRUNE_FILTERS = {"until", "label", "label!"}



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


def _labels(filters: dict[str, list[str]], labels_of: Labels, key: str = "label") -> Callable[[Listed], bool]:
    wanted = [v.partition("=") for v in filters.get(key, [])]
    if not wanted:
        return lambda image: True

    def match(image: Listed) -> bool:
        labels = labels_of(image)
        return all(k in labels and (not sep or labels[k] == v) for k, sep, v in wanted)

    return match


def go_path_match(pattern: str, name: str) -> bool:
    """Go's path.Match: ``*`` and ``?`` never match ``/``; a malformed pattern is Docker's daemon error."""
    return _pattern_regex(pattern).fullmatch(name) is not None


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 >= n:
                raise InvalidArgumentError("syntax error in pattern")
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            i, cls = _char_class(pattern, i + 1)
            out.append(cls)
            continue
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[int, str]:
    """One character of a class (Go's getEsc): ``-`` and ``]`` must be escaped."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgumentError("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise InvalidArgumentError("syntax error in pattern")
    return i + 1, pattern[i]


def _char_class(pattern: str, i: int) -> tuple[int, str]:
    """``[^a-z]`` from just after ``[``: the index after ``]`` and the regex class (never ``/``)."""
    negated = i < len(pattern) and pattern[i] == "^"
    i += negated
    items: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and items:
            break
        i, lo = _class_char(pattern, i)
        hi = lo
        if i < len(pattern) and pattern[i] == "-":
            i, hi = _class_char(pattern, i + 1)
        items.append(re.escape(lo) + ("-" + re.escape(hi) if hi != lo else ""))
    body = "".join(items)
    return i + 1, f"(?!/)[^{body}]" if negated else f"[{body}]"


def matching_refs(refs: list[Reference], patterns: list[str]) -> list[Reference]:
    """The names a ``reference=`` filter keeps (Docker's FamiliarMatch: the familiar string, then the familiar name)."""
    regexes = [_pattern_regex(p) for p in patterns]
    return [
        ref for ref in refs
        if any(r.fullmatch(ref.familiar) or r.fullmatch(ref.familiar_name) for r in regexes)
    ]  # fmt: skip


def _reference(patterns: list[str]) -> Callable[[Listed], bool]:
    for pattern in patterns:
        _pattern_regex(pattern)  # a bad pattern fails the listing even when no image is named
    return lambda image: bool(matching_refs(image.refs, patterns))


def _stamp(image: Listed) -> float:
    created = image.created
    return created.timestamp() if created else 0.0


def image_filter(
    filters: dict[str, list[str]], labels_of: Labels, created_of: Callable[[str], float]
) -> Callable[[Listed], bool]:
    """``images --filter``; ``created_of(name)`` is the creation time of a ``before``/``since`` image."""
    _check(filters, IMAGE_FILTERS)
    dangling = _dangling(filters)
    checks: list[Callable[[Listed], bool]] = [_labels(filters, labels_of)]
    if dangling is not None:
        checks.append(lambda image: (not image.tags) == dangling)
    if filters.get("reference"):
        checks.append(_reference(filters["reference"]))
    for key, newer in (("before", False), ("since", True)):
        for name in filters.get(key, []):
            checks.append(_created_check(created_of(name), newer))
    return lambda image: all(check(image) for check in checks)


def _created_check(stamp: float, newer: bool) -> Callable[[Listed], bool]:
    def check(image: Listed) -> bool:
        return _stamp(image) > stamp if newer else _stamp(image) < stamp

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
    from dockyard.oci.timefmt import parse_time

    moment = parse_time(value if "T" in value else value + "T00:00:00Z")
    if moment is None:
        raise InvalidArgumentError(f'failed to parse value as time or duration: "{value}"')
    return moment.timestamp()


def check_prune_filters(filters: dict[str, list[str]]) -> list[float]:
    """Validate ``image prune --filter`` values; return the ``until`` times."""
    _check(filters, PRUNE_FILTERS)
    return [parse_until(v) for v in filters.get("until", [])]


def prune_filter(filters: dict[str, list[str]], labels_of: Labels, *, dangling_only: bool) -> Callable[[Listed], bool]:
    until = check_prune_filters(filters)
    labels = _labels(filters, labels_of)
    excluded = [v.partition("=") for v in filters.get("label!", [])]

    def select(image: Listed) -> bool:
        if dangling_only and image.tags:
            return False
        if any(_stamp(image) >= u for u in until):
            return False
        if excluded:
            found = labels_of(image)
            if any(k in found and (not sep or found[k] == v) for k, sep, v in excluded):
                return False
        return labels(image)

    return select
