"""``.dockerignore`` patterns with Docker's semantics (moby/patternmatcher).

Patterns are cleaned paths relative to the context root; ``*`` and ``?``
stay within one path element, ``**`` spans any number of them, ``!`` re-includes
what an earlier pattern excluded (the last matching pattern wins), and a
pattern that matches a directory excludes everything below it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from dockyard.errors import InvalidArgumentError


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    regex: re.Pattern[str]
    exclusion: bool


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path.strip())
    return cleaned.lstrip("/") or "."


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(.*/)?")  # "**/" : zero or more leading directories
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i + 1 >= n:
                raise InvalidArgumentError(f"syntax error in pattern {pattern!r}")
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgumentError(f"syntax error in pattern {pattern!r}")
            body = pattern[i + 1 : end]  # Go's classes: only "^" negates ("!" is a member)
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class IgnoreMatcher:
    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            text = _clean(line)
            if text == "." and not exclusion:
                continue  # "." would drop the whole context: Docker ignores it too
            self.patterns.append(_Pattern(text, _compile(text), exclusion))

    @classmethod
    def from_file(cls, path: Path | None) -> IgnoreMatcher:
        if path is None or not path.is_file():
            return cls([])
        return cls(path.read_text(errors="replace").splitlines())

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, rel: str) -> bool:
        """Is ``rel`` (a slash-separated path in the context) left out?"""
        rel = _clean(rel)
        if rel == ".":
            return False
        parents = []
        parent = posixpath.dirname(rel)
        while parent:
            parents.append(parent)
            parent = posixpath.dirname(parent)
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # cannot change the outcome
            hit = bool(pattern.regex.match(rel)) or any(pattern.regex.match(p) for p in parents)
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_include_below(self, rel_dir: str) -> bool:
        """Could an exception pattern re-include something below an excluded directory?"""
        prefix = _clean(rel_dir) + "/"
        return any(p.exclusion and (p.text.startswith(prefix) or "*" in p.text) for p in self.patterns)
