"""Template: a parsed template, executed against Python data as Go's exec.go does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from dockyard.cli.gotemplate.funcs import _ANY, _INT, _STR, _STRS, _VALUE, _CallError, _Func
from dockyard.cli.gotemplate.gofmt import go_sprint
from dockyard.cli.gotemplate.gostrconv import _to_bytes, go_quote
from dockyard.cli.gotemplate.nodes import (
    _ActionNode,
    _BoolNode,
    _BranchNode,
    _BreakNode,
    _ChainNode,
    _CommandNode,
    _ContinueNode,
    _DotNode,
    _FieldNode,
    _IdentifierNode,
    _IfNode,
    _ListNode,
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
from dockyard.cli.gotemplate.values import (
    MISSING, Method, Struct, TemplateError, _all_str, _is_int, _is_nil, _sorted_items, _truth, go_type_name
)


class _NoFinal:
    """Go's missingVal: no value is piped into the command."""


_NO_FINAL: Any = _NoFinal()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _State:
    """One execution of a template: Go's exec.go state."""

    def __init__(self, template: Template, out: list[str], dot: object, name: str, depth: int = 0) -> None:
        self.template = template
        self.name = name  # the (sub)template executing; locations use the top-level name
        self.out = out
        self.node: _Node | None = None
        self.vars: list[list[Any]] = [["$", dot]]
        self.depth = depth

    # -- errors and variables

    def at(self, node: _Node) -> None:
        self.node = node

    def errorf(self, message: str) -> NoReturn:
        if self.node is None:
            raise TemplateError(f"template: {self.name}: {message}")
        text = self.template.text[: self.node.pos]
        line = 1 + text.count("\n")
        col = len(_to_bytes(text[text.rfind("\n") + 1 :]))
        location = f"{self.template.name}:{line}:{col}"
        raise TemplateError(f"template: {location}: executing {go_quote(self.name)} at <{self.node}>: {message}")

    def set_var(self, name: str, value: object) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        self.errorf(f"undefined variable: {name}")

    def var_value(self, name: str) -> object:
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        self.errorf(f"undefined variable: {name}")

    # -- walking the tree

    def walk(self, dot: object, node: _Node) -> None:
        self.at(node)
        if isinstance(node, _ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, _TextNode):
            self.out.append(node.text)
        elif isinstance(node, _ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, _RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, (_IfNode, _WithNode)):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, _TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, _BreakNode):
            raise _Break
        elif isinstance(node, _ContinueNode):
            raise _Continue
        else:  # pragma: no cover - the parser makes no other nodes
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, dot: object, node: _BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if _truth(value):
                self.walk(value if isinstance(node, _WithNode) else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, node: _RangeNode) -> None:
        self.at(node)
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if isinstance(value, dict):
                pairs: list[tuple[object, object]] = _sorted_items(value)
            elif isinstance(value, (list, tuple)):
                pairs = list(enumerate(value))
            elif _is_nil(value):  # a nil map or slice is empty
                pairs = []
            else:
                self.errorf(f"range can't iterate over {go_sprint(value)}")
            for key, elem in pairs:
                if self.range_iteration(node, key, elem):
                    break
            if not pairs and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def range_iteration(self, node: _RangeNode, key: object, elem: object) -> bool:
        """Run the body once; True on {{break}}."""
        mark = len(self.vars)
        if node.pipe.decl:
            self.vars[-1][1] = elem
        if len(node.pipe.decl) > 1:
            self.vars[-2][1] = key
        try:
            self.walk(elem, node.body)
        except _Continue:
            pass
        except _Break:
            return True
        finally:
            del self.vars[mark:]
        return False

    def walk_template(self, dot: object, node: _TemplateNode) -> None:
        self.at(node)
        tree = self.template.trees.get(node.name)
        if tree is None:
            self.errorf(f"template {go_quote(node.name)} not defined")
        if self.depth >= _MAX_EXEC_DEPTH:
            self.errorf(f"exceeded maximum template depth ({_MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, node.pipe)
        _State(self.template, self.out, dot, node.name, self.depth + 1).walk(dot, tree)

    def print_value(self, node: _Node, value: object) -> None:
        self.at(node)
        if value is MISSING:
            self.out.append("<no value>")
        elif callable(value):
            self.errorf(f"can't print {node} of type {go_type_name(value)}")
        else:
            self.out.append(go_sprint(value))

    # -- pipelines and commands

    def eval_pipeline(self, dot: object, pipe: _PipeNode | None) -> object:
        if pipe is None:
            return MISSING
        self.at(pipe)
        value = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)  # each result feeds the next command
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append([variable.ident[0], value])
        return value

    def not_a_function(self, args: Sequence[_Node], final: object) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: object, cmd: _CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, _FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, _ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, _IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, _BoolNode):
            return first.value
        if isinstance(first, _DotNode):
            return dot
        if isinstance(first, _NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, _NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, _StringNode):
            return first.text
        self.errorf(f"can't evaluate command {go_quote(str(first))}")  # pragma: no cover

    def ideal_constant(self, node: _NumberNode) -> object:
        """An untyped number: float if written like one, otherwise int."""
        self.at(node)
        text = node.text
        is_hex_int = text[:2].lower() == "0x" and "p" not in text.lower()
        if node.is_float and not is_hex_int and text[0] != "'" and any(c in text for c in ".eEpP"):
            return node.float_value
        if node.is_int:
            return node.int_value
        if node.is_uint:
            self.errorf(f"{text} overflows int")
        return MISSING  # pragma: no cover

    # -- fields and variables

    def eval_field_node(self, dot: object, field: _FieldNode, args: Sequence[_Node] | None, final: object) -> object:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(self, dot: object, chain: _ChainNode, args: Sequence[_Node] | None, final: object) -> object:
        self.at(chain)
        if isinstance(chain.node, _NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, _VALUE, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable_node(self, dot: object, var: _VariableNode, args: Sequence[_Node] | None, final: object) -> object:
        self.at(var)
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args or [var], final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self, dot: object, receiver: object, node: _Node, idents: Sequence[str],
        args: Sequence[_Node] | None, final: object,
    ) -> object:  # fmt: skip
        for name in idents[:-1]:
            receiver = self.eval_field(dot, node, name, None, _NO_FINAL, receiver)
        return self.eval_field(dot, node, idents[-1], args, final, receiver)

    def eval_field(
        self, dot: object, node: _Node, name: str, args: Sequence[_Node] | None, final: object, receiver: object
    ) -> object:  # fmt: skip
        if _is_nil(receiver):  # an invalid value, or a nil map: no entry
            return MISSING
        if isinstance(receiver, Struct):
            if name not in receiver:
                self.errorf(f"can't evaluate field {name} in type {receiver.go_type}")
            value = receiver[name]
            if isinstance(value, Method):
                return self.eval_call(dot, _Func(value.impl, (_STR,) * value.params, builtin=False), node, name,
                                      args, final)
            if (args is not None and len(args) > 1) or final is not _NO_FINAL:
                self.errorf(f"{name} is not a method but has arguments")
            return value
        if isinstance(receiver, dict):
            if (args is not None and len(args) > 1) or final is not _NO_FINAL:
                self.errorf(f"{name} is not a method but has arguments")
            if self.template.missing_key_error and name not in receiver:
                self.errorf(f"map has no entry for key {go_quote(name)}")
            return receiver.get(name, MISSING)
        self.errorf(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    # -- function calls

    def eval_function(
        self, dot: object, node: _IdentifierNode, cmd: _Node, args: Sequence[_Node] | None, final: object
    ) -> object:
        self.at(node)
        fn = self.template.funcs.get(node.ident)
        if fn is None:  # pragma: no cover - rejected at parse time
            self.errorf(f"{go_quote(node.ident)} is not a defined function")
        return self.eval_call(dot, fn, cmd, node.ident, args, final)

    def eval_call(
        self, dot: object, fn: _Func, node: _Node, name: str, args: Sequence[_Node] | None, final: object
    ) -> object:
        args = list(args[1:]) if args is not None else []  # args[0] names the function
        num_in = len(args) + (final is not _NO_FINAL)
        num_fixed = len(fn.params)
        if fn.variadic is not None:
            if num_in < num_fixed:
                self.errorf(f"wrong number of args for {name}: want at least {num_fixed} got {len(args)}")
        elif num_in != num_fixed:
            self.errorf(f"wrong number of args for {name}: want {num_fixed} got {num_in}")
        if fn.builtin and name in ("and", "or"):
            return self.eval_and_or(dot, name, args, final)
        argv = [self.eval_arg(dot, self.param_type(fn, i), arg) for i, arg in enumerate(args)]
        if final is not _NO_FINAL:
            argv.append(self.validate_type(final, self.param_type(fn, num_in - 1)))
        try:
            return fn.impl(*argv)
        except _CallError as err:
            self.at(node)
            self.errorf(f"error calling {name}: {err}")

    @staticmethod
    def param_type(fn: _Func, i: int) -> str:
        return fn.params[i] if i < len(fn.params) else fn.variadic or _ANY

    def eval_and_or(self, dot: object, name: str, args: Sequence[_Node], final: object) -> object:
        """and/or stop at the first argument that decides the result (Go 1.18+)."""
        value: object = MISSING
        for arg in args:
            value = self.eval_arg(dot, _VALUE, arg)
            if _truth(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = final
        return value

    def validate_type(self, value: object, typ: str) -> object:
        if _is_nil(value):
            if typ == _VALUE:
                return value
            if typ == _ANY:
                return None
            if typ == _STRS:
                return []
            self.errorf(f"invalid value; expected {typ}")
        ok = {
            _STR: lambda: isinstance(value, str),
            _INT: lambda: _is_int(value),
            _STRS: lambda: isinstance(value, (list, tuple)) and _all_str(value),
        }.get(typ, lambda: True)()
        if not ok:
            self.errorf(f"wrong type for value; expected {typ}; got {go_type_name(value)}")
        return value

    def eval_arg(self, dot: object, typ: str, node: _Node) -> object:
        self.at(node)
        if isinstance(node, _DotNode):
            return self.validate_type(dot, typ)
        if isinstance(node, _NilNode):
            if typ in (_STR, _INT):
                self.errorf(f"cannot assign nil to {typ}")
            return self.validate_type(MISSING, typ)
        if isinstance(node, _FieldNode):
            return self.validate_type(self.eval_field_node(dot, node, [node], _NO_FINAL), typ)
        if isinstance(node, _VariableNode):
            return self.validate_type(self.eval_variable_node(dot, node, None, _NO_FINAL), typ)
        if isinstance(node, _PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), typ)
        if isinstance(node, _IdentifierNode):
            return self.validate_type(self.eval_function(dot, node, node, None, _NO_FINAL), typ)
        if isinstance(node, _ChainNode):
            return self.validate_type(self.eval_chain_node(dot, node, None, _NO_FINAL), typ)
        return self.eval_literal(typ, node)

    def eval_literal(self, typ: str, node: _Node) -> object:
        if typ == _STR:
            if isinstance(node, _StringNode):
                return node.text
            self.errorf(f"expected string; found {node}")
        if typ == _INT:
            if isinstance(node, _NumberNode) and node.is_int:
                return node.int_value
            self.errorf(f"expected integer; found {node}")
        if typ in (_ANY, _VALUE):
            if isinstance(node, _BoolNode):
                return node.value
            if isinstance(node, _NumberNode):
                return self.ideal_constant(node)
            if isinstance(node, _StringNode):
                return node.text
        self.errorf(f"can't handle {node} for arg of type {typ}")


_MAX_EXEC_DEPTH = 100  # Go allows 100000; Python's stack is far smaller


class Template:
    """A parsed template; execute() renders it against Python data. ``missing_key_error`` is Go's
    Option("missingkey=error"): a key a map lacks fails instead of printing "<no value>"."""

    missing_key_error = False

    def __init__(self, name: str, text: str, trees: dict[str, _ListNode], funcs: Mapping[str, _Func]) -> None:
        self.name = name
        self.text = text
        self.trees = trees
        self.funcs = funcs

    def __repr__(self) -> str:
        return f"Template({self.text!r})"

    def execute(self, data: object) -> str:
        """Render the template with `data` as dot; raises TemplateError."""
        out: list[str] = []
        state = _State(self, out, data, self.name)
        root = self.trees.get(self.name)
        if root is None:
            state.errorf(f"{go_quote(self.name)} is an incomplete or empty template")
        try:
            state.walk(data, root)
        except RecursionError:
            raise TemplateError(f"template: {self.name}: exceeded maximum template depth") from None
        return "".join(out)
