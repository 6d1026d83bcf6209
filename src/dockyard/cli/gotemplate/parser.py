"""Go's text/template parser: items into parse trees, and parse(), the package's entry point."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NoReturn

from dockyard.cli.gotemplate.execute import Template
from dockyard.cli.gotemplate.funcs import _ANY, _FUNCS, _Func, _wrap_user_func
from dockyard.cli.gotemplate.gostrconv import _SyntaxError, _unquote, go_quote
from dockyard.cli.gotemplate.lexer import _T, _Item, _Lexer
from dockyard.cli.gotemplate.nodes import (
    _ActionNode,
    _BoolNode,
    _BreakNode,
    _ChainNode,
    _CommandNode,
    _ContinueNode,
    _DotNode,
    _ElseNode,
    _EndNode,
    _FieldNode,
    _IdentifierNode,
    _IfNode,
    _is_empty_tree,
    _ListNode,
    _new_number,
    _NilNode,
    _Node,
    _NumberNode,
    _PipeNode,
    _RangeNode,
    _StringNode,
    _TemplateNode,
    _TextNode,
    _VariableNode,
    _WithNode,
)
from dockyard.cli.gotemplate.values import TemplateError


class _ItemStream:
    """The lexer's output, shared by the parsers of a file and its {{define}}s."""

    def __init__(self, items: list[_Item]) -> None:
        self.items = items
        self.index = 0

    def next_item(self) -> _Item:
        item = self.items[min(self.index, len(self.items) - 1)]
        self.index += 1
        return item


class _Parser:
    """parse.Tree: a recursive-descent parser with Go's three-token lookahead."""

    def __init__(self, name: str, stream: _ItemStream, funcs: Mapping[str, object], trees: dict[str, _ListNode]):
        self.name = name
        self.parse_name = name
        self.stream = stream
        self.funcs = funcs
        self.trees = trees
        self.root: _ListNode | None = None
        self.token: list[_Item] = [_Item(_T.EOF, 0, "", 1)] * 3
        self.peek_count = 0
        self.vars = ["$"]
        self.action_line = 0
        self.range_depth = 0

    # -- token buffer

    def next(self) -> _Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self.stream.next_item()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: _Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: _Item, t1: _Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> _Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self.stream.next_item()
        return self.token[0]

    def next_non_space(self) -> _Item:
        while True:
            token = self.next()
            if token.typ != _T.SPACE:
                return token

    def peek_non_space(self) -> _Item:
        token = self.next_non_space()
        self.backup()
        return token

    # -- errors

    def errorf(self, message: str) -> NoReturn:
        raise TemplateError(f"template: {self.parse_name}:{self.token[0].line}: {message}")

    def expect(self, expected: _T, context: str) -> _Item:
        token = self.next_non_space()
        if token.typ != expected:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: _Item, context: str) -> NoReturn:
        if token.typ == _T.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.errorf(f"{token}{extra}")
        self.errorf(f"unexpected {token} in {context}")

    # -- top level

    def parse(self) -> _ListNode:
        self.root = _ListNode(self.peek().pos)
        while self.peek().typ != _T.EOF:
            if self.peek().typ == _T.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ == _T.DEFINE:
                    _Parser("definition", self.stream, self.funcs, self.trees).parse_definition(self.parse_name)
                    continue
                self.backup2(delim)
            node = self.text_or_action()
            if isinstance(node, (_EndNode, _ElseNode)):
                self.errorf(f"unexpected {node}")
            self.root.nodes.append(node)
        self.add()
        return self.root

    def add(self) -> None:
        tree = self.trees.get(self.name)
        if tree is None or _is_empty_tree(tree):
            assert self.root is not None
            self.trees[self.name] = self.root
        elif not _is_empty_tree(self.root):
            self.errorf(f"template: multiple definition of template {go_quote(self.name)}")

    def parse_definition(self, parse_name: str) -> None:
        self.parse_name = parse_name
        token = self.next_non_space()
        if token.typ not in (_T.STRING, _T.RAW_STRING):
            self.unexpected(token, "define clause")
        self.name = self.unquote(token.val)
        self.expect(_T.RIGHT_DELIM, "define clause")
        self.root, end = self.item_list()
        if not isinstance(end, _EndNode):
            self.errorf(f"unexpected {end} in define clause")
        self.add()

    def item_list(self) -> tuple[_ListNode, _Node]:
        body = _ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != _T.EOF:
            node = self.text_or_action()
            if isinstance(node, (_EndNode, _ElseNode)):
                return body, node
            body.nodes.append(node)
        self.errorf("unexpected EOF")

    def text_or_action(self) -> _Node:
        token = self.next_non_space()
        if token.typ == _T.TEXT:
            return _TextNode(token.pos, token.val)
        if token.typ == _T.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(token, "input")

    def action(self) -> _Node:
        token = self.next_non_space()
        controls: dict[_T, Callable[[], _Node]] = {
            _T.BLOCK: self.block_control,
            _T.ELSE: self.else_control,
            _T.END: self.end_control,
            _T.IF: lambda: _IfNode(*self.parse_control(True, "if")),
            _T.RANGE: lambda: _RangeNode(*self.parse_control(False, "range")),
            _T.TEMPLATE: self.template_control,
            _T.WITH: lambda: _WithNode(*self.parse_control(False, "with")),
        }
        if token.typ in (_T.BREAK, _T.CONTINUE):
            return self.loop_control(token)
        if token.typ in controls:
            return controls[token.typ]()
        self.backup()
        token = self.peek()
        # Variables declared here persist until the enclosing {{end}}.
        return _ActionNode(token.pos, token.line, self.pipeline("command", _T.RIGHT_DELIM))

    def loop_control(self, keyword: _Item) -> _Node:
        token = self.next_non_space()
        if token.typ != _T.RIGHT_DELIM:
            self.unexpected(token, f"{{{{{keyword.val}}}}}")
        if self.range_depth == 0:
            self.errorf(f"{{{{{keyword.val}}}}} outside {{{{range}}}}")
        return _BreakNode(keyword.pos) if keyword.typ == _T.BREAK else _ContinueNode(keyword.pos)

    # -- pipelines

    def pipeline(self, context: str, end: _T) -> _PipeNode:
        token = self.peek_non_space()
        pipe = _PipeNode(token.pos, token.line)
        self.parse_declarations(pipe, context)
        operand_start = {
            _T.BOOL, _T.CHAR_CONSTANT, _T.COMPLEX, _T.DOT, _T.FIELD, _T.IDENTIFIER, _T.NUMBER,
            _T.NIL, _T.RAW_STRING, _T.STRING, _T.VARIABLE, _T.LEFT_PAREN,
        }  # fmt: skip
        while True:
            token = self.next_non_space()
            if token.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ not in operand_start:
                self.unexpected(token, context)
            self.backup()
            pipe.cmds.append(self.command())

    def parse_declarations(self, pipe: _PipeNode, context: str) -> None:
        while True:
            v = self.peek_non_space()
            if v.typ != _T.VARIABLE:
                return
            self.next()
            # "$x foo" needs three tokens of lookahead to tell an argument from "$x :=".
            token_after_variable = self.peek()
            following = self.peek_non_space()
            if following.typ in (_T.ASSIGN, _T.DECLARE):
                pipe.is_assign = following.typ == _T.ASSIGN
                self.next_non_space()
                pipe.decl.append(_VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                return
            if following.typ == _T.CHAR and following.val == ",":
                self.next_non_space()
                pipe.decl.append(_VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (_T.VARIABLE, _T.RIGHT_DELIM, _T.RIGHT_PAREN):
                        continue  # the second variable of "range $i, $v :="
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            if token_after_variable.typ == _T.SPACE:
                self.backup3(v, token_after_variable)
            else:
                self.backup2(v)
            return

    def check_pipeline(self, pipe: _PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.errorf(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], (_BoolNode, _DotNode, _NilNode, _NumberNode, _StringNode)):
                self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, allow_else_if: bool, context: str) -> tuple[int, int, _PipeNode, _ListNode, _ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, _T.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, following = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_body = None
            if isinstance(following, _ElseNode):
                # {{else if x}} parses as {{else}}{{if x}}...{{end}}, sharing one {{end}}.
                if allow_else_if and self.peek().typ == _T.IF:
                    self.next()
                    else_body = _ListNode(following.pos)
                    else_body.nodes.append(_IfNode(*self.parse_control(True, "if")))
                else:
                    else_body, following = self.item_list()
                    if not isinstance(following, _EndNode):
                        self.errorf(f"expected end; found {following}")
            return pipe.pos, pipe.line, pipe, body, else_body
        finally:
            del self.vars[mark:]

    def end_control(self) -> _Node:
        return _EndNode(self.expect(_T.RIGHT_DELIM, "end").pos)

    def else_control(self) -> _Node:
        peek = self.peek_non_space()
        if peek.typ == _T.IF:  # "{{else if": leave the "if" for parse_control
            return _ElseNode(peek.pos, peek.line)
        token = self.expect(_T.RIGHT_DELIM, "else")
        return _ElseNode(token.pos, token.line)

    def block_control(self) -> _Node:
        token = self.next_non_space()
        name = self.parse_template_name(token, "block clause")
        pipe = self.pipeline("block clause", _T.RIGHT_DELIM)
        block = _Parser(name, self.stream, self.funcs, self.trees)
        block.parse_name = self.parse_name
        block.root, end = block.item_list()
        if not isinstance(end, _EndNode):
            self.errorf(f"unexpected {end} in block clause")
        block.add()
        return _TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self) -> _Node:
        token = self.next_non_space()
        name = self.parse_template_name(token, "template clause")
        pipe = None
        if self.next_non_space().typ != _T.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline("template clause", _T.RIGHT_DELIM)
        return _TemplateNode(token.pos, token.line, name, pipe)

    def parse_template_name(self, token: _Item, context: str) -> str:
        if token.typ not in (_T.STRING, _T.RAW_STRING):
            self.unexpected(token, context)
        return self.unquote(token.val)

    def unquote(self, literal: str) -> str:
        try:
            return _unquote(literal)
        except _SyntaxError:
            self.errorf("invalid syntax")

    # -- commands and operands

    def command(self) -> _CommandNode:
        cmd = _CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()  # skip leading spaces
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ == _T.SPACE:
                continue
            if token.typ in (_T.RIGHT_DELIM, _T.RIGHT_PAREN):
                self.backup()
            elif token.typ != _T.PIPE:
                self.unexpected(token, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self) -> _Node | None:
        node = self.term()
        if node is None or self.peek().typ != _T.FIELD:
            return node
        chain = _ChainNode(self.peek().pos, node)
        while self.peek().typ == _T.FIELD:
            chain.fields.append(self.next().val[1:])
        # Fields on fields/variables fold into one node, as Go's parser does.
        if isinstance(node, _FieldNode):
            return _FieldNode(chain.pos, str(chain))
        if isinstance(node, _VariableNode):
            return _VariableNode(chain.pos, str(chain))
        if isinstance(node, (_BoolNode, _StringNode, _NumberNode, _NilNode, _DotNode)):
            self.errorf(f"unexpected . after term {go_quote(str(node))}")
        return chain

    def term(self) -> _Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == _T.IDENTIFIER:
            if token.val not in self.funcs:
                self.errorf(f"function {go_quote(token.val)} not defined")
            return _IdentifierNode(token.pos, token.val)
        if typ == _T.DOT:
            return _DotNode(token.pos)
        if typ == _T.NIL:
            return _NilNode(token.pos)
        if typ == _T.VARIABLE:
            return self.use_var(token.pos, token.val)
        if typ == _T.FIELD:
            return _FieldNode(token.pos, token.val)
        if typ == _T.BOOL:
            return _BoolNode(token.pos, token.val == "true")
        if typ in (_T.CHAR_CONSTANT, _T.COMPLEX, _T.NUMBER):
            try:
                return _new_number(token.pos, token.val, typ)
            except _SyntaxError:
                self.errorf("invalid syntax")
            except ValueError as err:
                self.errorf(str(err))
        if typ == _T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", _T.RIGHT_PAREN)
        if typ in (_T.STRING, _T.RAW_STRING):
            return _StringNode(token.pos, token.val, self.unquote(token.val))
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> _VariableNode:
        node = _VariableNode(pos, name)
        if node.ident[0] not in self.vars:
            self.errorf(f"undefined variable {go_quote(node.ident[0])}")
        return node


def parse(text: str, name: str = "", funcs: Mapping[str, Callable[..., object]] | None = None) -> Template:
    """Parse a Go template; raises TemplateError on syntax errors.

    `funcs` adds (or overrides) functions; they receive evaluated arguments,
    with a missing value passed as None, and may raise to report an error.
    """
    table = dict(_FUNCS)
    for fname, impl in (funcs or {}).items():
        table[fname] = _Func(_wrap_user_func(impl), (), _ANY, builtin=False)
    items = _Lexer(text, "break" not in table, "continue" not in table).run()
    trees: dict[str, _ListNode] = {}
    _Parser(name, _ItemStream(items), table, trees).parse()
    return Template(name, text, trees, table)
