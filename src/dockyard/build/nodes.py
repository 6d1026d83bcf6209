"""The Dockerfile AST: instruction nodes with their line ranges, and the parser's error."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.build.gostr import quote
from dockyard.errors import InvalidArgumentError


class DockerfileSyntaxError(InvalidArgumentError):
    """A Dockerfile that cannot be parsed; ``line`` is 1-based (0: no location)."""

    def __init__(self, message: str, line: int = 0, end_line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.end_line = end_line or line

    def __str__(self) -> str:
        return f"dockerfile parse error line {self.line}: {self.message}" if self.line else self.message


@dataclass(slots=True)
class Heredoc:
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass(slots=True)
class Node:
    value: str = ""
    next: list[Node] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    json: bool = False
    original: str = ""
    flags: list[str] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0

    def dump(self) -> str:
        out = [self.value.lower()]
        if self.flags:
            out.append(" [" + " ".join(quote(f) for f in self.flags) + "]")
        for child in self.children:
            out.append("(" + child.dump() + ")\n")
        for n in self.next:
            out.append(" " + (n.dump() if n.children else quote(n.value)))
        return "".join(out).strip()

    @property
    def args(self) -> list[str]:
        return [n.value for n in self.next]


@dataclass(slots=True)
class ParseResult:
    nodes: list[Node]
    escape: str
    warnings: list[str]

    def dump(self) -> str:
        return "".join("(" + n.dump() + ")\n" for n in self.nodes).strip()
