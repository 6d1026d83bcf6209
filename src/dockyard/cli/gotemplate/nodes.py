"""The parse tree of a Go template, node by node as text/template/parse builds it."""

from __future__ import annotations

import math

from dockyard.cli.gotemplate.gostrconv import _parse_go_float, _parse_go_int, _unquote_rune, go_quote
from dockyard.cli.gotemplate.lexer import _T


class _Node:
    pos: int

    def __str__(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class _ListNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.nodes: list[_Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class _TextNode(_Node):
    def __init__(self, pos: int, text: str) -> None:
        self.pos, self.text = pos, text

    def __str__(self) -> str:
        return self.text


class _VariableNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos, self.ident = pos, ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class _CommandNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.args: list[_Node] = []

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, _PipeNode) else str(a) for a in self.args)


class _PipeNode(_Node):
    def __init__(self, pos: int, line: int) -> None:
        self.pos, self.line = pos, line
        self.is_assign = False
        self.decl: list[_VariableNode] = []
        self.cmds: list[_CommandNode] = []

    def __str__(self) -> str:
        decl = ", ".join(str(v) for v in self.decl) + " := " if self.decl else ""
        return decl + " | ".join(str(c) for c in self.cmds)


class _ActionNode(_Node):
    def __init__(self, pos: int, line: int, pipe: _PipeNode) -> None:
        self.pos, self.line, self.pipe = pos, line, pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class _IdentifierNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos, self.ident = pos, ident

    def __str__(self) -> str:
        return self.ident


class _DotNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "."


class _NilNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "nil"


class _FieldNode(_Node):
    def __init__(self, pos: int, ident: str) -> None:
        self.pos, self.ident = pos, ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class _ChainNode(_Node):
    def __init__(self, pos: int, node: _Node) -> None:
        self.pos, self.node = pos, node
        self.fields: list[str] = []

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, _PipeNode) else str(self.node)
        return base + "".join("." + f for f in self.fields)


class _BoolNode(_Node):
    def __init__(self, pos: int, value: bool) -> None:
        self.pos, self.value = pos, value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class _NumberNode(_Node):
    def __init__(self, pos: int, text: str) -> None:
        self.pos, self.text = pos, text
        self.is_int = self.is_uint = self.is_float = False
        self.int_value = 0
        self.float_value = 0.0

    def __str__(self) -> str:
        return self.text


class _StringNode(_Node):
    def __init__(self, pos: int, quoted: str, text: str) -> None:
        self.pos, self.quoted, self.text = pos, quoted, text

    def __str__(self) -> str:
        return self.quoted


class _EndNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{end}}"


class _ElseNode(_Node):
    def __init__(self, pos: int, line: int) -> None:
        self.pos, self.line = pos, line

    def __str__(self) -> str:
        return "{{else}}"


class _BranchNode(_Node):
    keyword = ""

    def __init__(self, pos: int, line: int, pipe: _PipeNode, body: _ListNode, else_body: _ListNode | None) -> None:
        self.pos, self.line, self.pipe, self.body, self.else_body = pos, line, pipe, body, else_body

    def __str__(self) -> str:
        else_part = "{{else}}" + str(self.else_body) if self.else_body is not None else ""
        return f"{{{{{self.keyword} {self.pipe}}}}}{self.body}{else_part}{{{{end}}}}"


class _IfNode(_BranchNode):
    keyword = "if"


class _RangeNode(_BranchNode):
    keyword = "range"


class _WithNode(_BranchNode):
    keyword = "with"


class _BreakNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{break}}"


class _ContinueNode(_Node):
    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:
        return "{{continue}}"


class _TemplateNode(_Node):
    def __init__(self, pos: int, line: int, name: str, pipe: _PipeNode | None) -> None:
        self.pos, self.line, self.name, self.pipe = pos, line, name, pipe

    def __str__(self) -> str:
        pipe = f" {self.pipe}" if self.pipe is not None else ""
        return f"{{{{template {go_quote(self.name)}{pipe}}}}}"


def _new_number(pos: int, text: str, typ: _T) -> _NumberNode:
    """parse.newNumber: classify a literal as int, uint and/or float."""
    node = _NumberNode(pos, text)
    if typ == _T.CHAR_CONSTANT:
        rune = _unquote_rune(text)
        node.is_int = node.is_uint = node.is_float = True
        node.int_value, node.float_value = rune, float(rune)
        return node
    if typ == _T.COMPLEX or text.endswith("i"):
        raise ValueError(f"complex constants are not supported: {text}")
    value = _parse_go_int(text)
    if value is not None and -(2**63) <= value < 2**64:
        node.is_int = value < 2**63
        node.is_uint = value >= 0
        node.int_value, node.float_value, node.is_float = value, float(value), True
        return node
    number = _parse_go_float(text)
    if number is not None and math.isfinite(number):
        if not any(c in text for c in ".eEpP"):
            raise ValueError(f"integer overflow: {go_quote(text)}")
        node.is_float, node.float_value = True, number
        if number == int(number) and -(2**63) <= number < 2**63:
            node.is_int, node.int_value = True, int(number)
        node.is_uint = node.is_int and node.int_value >= 0
        return node
    raise ValueError(f"illegal number syntax: {go_quote(text)}")


def _is_empty_tree(node: _Node | None) -> bool:
    if node is None:
        return True
    if isinstance(node, _ListNode):
        return all(_is_empty_tree(n) for n in node.nodes)
    if isinstance(node, _TextNode):
        return not node.text.strip(" \t\n\v\f\r\x85\xa0")
    return False
