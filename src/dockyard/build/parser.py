"""Dockerfile bytes to an AST of nodes with line ranges (BuildKit's parser).

Each instruction becomes a ``Node``: its keyword, ``--flags``, the argument
nodes its keyword's rule makes (JSON array, whitespace words, key/value
pairs, a sub-command for ONBUILD), the heredocs that follow it, and its
first and last line. ``Node.dump`` prints the AST as BuildKit's test files do.
"""

from __future__ import annotations

import re

from dockyard.build.lines import (
    chomp_heredoc,
    heredocs_from_line,
    node_from_line,
    parse_heredoc,
)
from dockyard.build.nodes import DockerfileSyntaxError, Heredoc, Node, ParseResult
from dockyard.errors import InvalidArgumentError

__all__ = ["DockerfileSyntaxError", "Heredoc", "Node", "ParseResult", "chomp_heredoc", "parse", "parse_heredoc"]

_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_KEYWORDS = ("add", "copy", "run")


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.continuation = self._regex("\\")
        self.done = False
        self.seen: set[str] = set()

    @staticmethod
    def _regex(token: str) -> re.Pattern[str]:
        e = re.escape(token)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def check(self, line: str) -> bool:
        """A parser directive at the top of the file (``# escape=``, ``# syntax=``)?"""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        match = _DIRECTIVE.match(line[1:].lstrip())
        key = match.group(1).lower() if match else ""
        if not match or key not in _DIRECTIVES:
            self.done = True
            return False
        if key in self.seen:
            raise InvalidArgumentError(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            value = match.group(2)
            if value not in ("`", "\\"):
                raise InvalidArgumentError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = self._regex(value)
        return True


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def parse(text: str | bytes) -> ParseResult:
    """Parse a Dockerfile; raises DockerfileSyntaxError with the line of the problem."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True) if "\r" not in text else _split_lf(text)
    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    current = 0
    i = 0

    def process(raw: str, strip_left: bool) -> str:
        token = _trim_newline(raw)
        if strip_left:
            token = token.lstrip()
        try:
            d.check(token)
        except InvalidArgumentError as exc:
            raise DockerfileSyntaxError(str(exc), current) from None
        return "" if _is_comment(token) else token

    def continued(line: str) -> tuple[str, bool]:
        if d.continuation.search(line):
            return d.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True

    while i < len(lines):
        raw = lines[i]
        i += 1
        line = process(raw, True)
        current += 1
        start = current
        line, end = continued(line)
        if end and not line:
            continue
        buf = [line]
        empty_continuation = False
        while not end and i < len(lines):
            raw = lines[i]
            i += 1
            piece = process(raw, False)
            current += 1
            if _is_comment(raw):
                continue
            if not piece.lstrip():
                empty_continuation = True
                continue
            piece, end = continued(piece)
            buf.append(piece)
        joined = "".join(buf)
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {joined}")
        try:
            node = node_from_line(joined, d.escape)
        except InvalidArgumentError as exc:
            raise DockerfileSyntaxError(_message(exc), start, current) from None
        if _can_contain_heredoc(node) and "<<" in joined:
            try:
                docs = heredocs_from_line(joined)
            except InvalidArgumentError as exc:
                raise DockerfileSyntaxError(_message(exc), start, current) from None
            for doc in docs:
                content: list[str] = [doc.content]
                terminated = False
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = _trim_newline(raw)
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    content.append(raw)
                if not terminated:
                    raise DockerfileSyntaxError("unterminated heredoc", start, current)
                doc.content = "".join(content)
                node.heredocs.append(doc)
        node.start_line, node.end_line = start, current
        nodes.append(node)
    if not nodes:
        raise DockerfileSyntaxError("file with no instructions", current)
    return ParseResult(nodes, d.escape, warnings)


def _split_lf(text: str) -> list[str]:
    """Lines ending at \\n only (a lone \\r stays inside its line, as Go's scanner has it)."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _message(exc: Exception) -> str:
    return exc.message if isinstance(exc, DockerfileSyntaxError) else str(exc)


def _can_contain_heredoc(node: Node) -> bool:
    if node.value.lower() == "onbuild" and node.next and node.next[0].children:
        node = node.next[0].children[0]
    return node.value.lower() in HEREDOC_KEYWORDS and not node.json
