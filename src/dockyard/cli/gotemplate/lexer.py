"""Go's text/template lexer: a state machine turning template text into items."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from dockyard.cli.gotemplate.gostrconv import _to_bytes, go_quote


class _T(IntEnum):
    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22  # only delimits the keywords below
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


_KEYWORDS = {
    ".": _T.DOT,
    "block": _T.BLOCK,
    "break": _T.BREAK,
    "continue": _T.CONTINUE,
    "define": _T.DEFINE,
    "else": _T.ELSE,
    "end": _T.END,
    "if": _T.IF,
    "range": _T.RANGE,
    "nil": _T.NIL,
    "template": _T.TEMPLATE,
    "with": _T.WITH,
}

_EOF = ""  # next() at end of input; never test it with `in <str>`
_SPACE_CHARS = " \t\r\n"
_LEFT_DELIM, _RIGHT_DELIM = "{{", "}}"


@dataclass(frozen=True)
class _Item:
    typ: _T
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == _T.EOF:
            return "EOF"
        if self.typ == _T.ERROR:
            return self.val
        if self.typ > _T.KEYWORD:
            return f"<{self.val}>"
        if len(_to_bytes(self.val)) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_space(r: str) -> bool:
    return r != _EOF and r in _SPACE_CHARS


def _is_alnum(r: str) -> bool:
    return r == "_" or r.isalpha() or r.isdecimal()


def _sharp_u(r: str) -> str:
    """fmt's %#U: U+0023 '#'."""
    return f"U+{ord(r):04X}" + (f" '{r}'" if r.isprintable() else "")


_StateFn = Callable[[], "_StateFn | None"]


class _Lexer:
    """Go's template lexer: a state machine turning text into items."""

    def __init__(self, text: str, break_ok: bool, continue_ok: bool) -> None:
        self.input = text
        self.break_ok = break_ok
        self.continue_ok = continue_ok
        self.pos = self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = self.start_line = 1
        self.items: list[_Item] = []

    def run(self) -> list[_Item]:
        state: _StateFn | None = self.lex_text
        while state is not None:
            state = state()
        return self.items

    # -- primitives

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def emit(self, typ: _T) -> None:
        self.items.append(_Item(typ, self.start, self.input[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != _EOF and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == _EOF or r not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> None:
        self.items.append(_Item(_T.ERROR, self.start, message, self.start_line))
        return None

    def has_left_trim_marker(self, i: int) -> bool:
        return i + 1 < len(self.input) and self.input[i] == "-" and self.input[i + 1] in _SPACE_CHARS

    def has_right_trim_marker(self, i: int) -> bool:
        return 0 <= i and i + 1 < len(self.input) and self.input[i] in _SPACE_CHARS and self.input[i + 1] == "-"

    def left_trim_length(self, i: int) -> int:
        rest = self.input[i:]
        return len(rest) - len(rest.lstrip(_SPACE_CHARS))

    def at_right_delim(self) -> tuple[bool, bool]:
        if self.has_right_trim_marker(self.pos) and self.input.startswith(_RIGHT_DELIM, self.pos + 2):
            return True, True
        return self.input.startswith(_RIGHT_DELIM, self.pos), False

    def at_terminator(self) -> bool:
        r = self.peek()
        if _is_space(r) or r == _EOF or r in ".,|:)(":
            return True
        return self.input.startswith(_RIGHT_DELIM, self.pos)

    # -- states

    def lex_text(self) -> _StateFn | None:
        x = self.input.find(_LEFT_DELIM, self.pos)
        if x < 0:
            self.pos = len(self.input)
            if self.pos > self.start:
                self.line += self.input.count("\n", self.start, self.pos)
                self.emit(_T.TEXT)
            self.emit(_T.EOF)
            return None
        self.pos = x
        trim = 0
        if self.has_left_trim_marker(x + len(_LEFT_DELIM)):
            before = self.input[self.start : x]
            trim = len(before) - len(before.rstrip(_SPACE_CHARS))
        self.pos -= trim
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(_T.TEXT)
        self.pos += trim
        self.ignore()
        return self.lex_left_delim

    def lex_left_delim(self) -> _StateFn | None:
        self.pos += len(_LEFT_DELIM)
        after_marker = 2 if self.has_left_trim_marker(self.pos) else 0
        if self.input.startswith("/*", self.pos + after_marker):
            self.pos += after_marker
            self.ignore()
            return self.lex_comment
        self.emit(_T.LEFT_DELIM)
        self.pos += after_marker
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self) -> _StateFn | None:
        self.pos += 2
        end = self.input.find("*/", self.pos)
        if end < 0:
            return self.errorf("unclosed comment")
        self.pos = end + 2
        delim, trim_space = self.at_right_delim()
        if not delim:
            return self.errorf("comment ends before closing delimiter")
        if trim_space:
            self.pos += 2
        self.pos += len(_RIGHT_DELIM)
        if trim_space:
            self.pos += self.left_trim_length(self.pos)
        self.ignore()
        return self.lex_text

    def lex_right_delim(self) -> _StateFn | None:
        trim_space = self.has_right_trim_marker(self.pos)
        if trim_space:
            self.pos += 2
            self.ignore()
        self.pos += len(_RIGHT_DELIM)
        self.emit(_T.RIGHT_DELIM)
        if trim_space:
            self.pos += self.left_trim_length(self.pos)
            self.ignore()
        return self.lex_text

    def lex_inside_action(self) -> _StateFn | None:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            return self.errorf("unclosed left paren")
        r = self.next()
        if r == _EOF:
            return self.errorf("unclosed action")
        if _is_space(r):
            self.backup()  # put the space back in case of " -}}"
            return self.lex_space
        simple = {"=": _T.ASSIGN, "|": _T.PIPE}
        if r in simple:
            self.emit(simple[r])
        elif r == ":":
            if self.next() != "=":
                return self.errorf("expected :=")
            self.emit(_T.DECLARE)
        elif r in "\"`$'":
            return {'"': self.lex_quote, "`": self.lex_raw_quote, "$": self.lex_variable, "'": self.lex_char}[r]
        elif r == "." and self.pos < len(self.input) and not "0" <= self.input[self.pos] <= "9":
            return self.lex_field
        elif r in "+-." or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(r):
            self.backup()
            return self.lex_identifier
        elif r == "(":
            self.emit(_T.LEFT_PAREN)
            self.paren_depth += 1
        elif r == ")":
            self.emit(_T.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                return self.errorf(f"unexpected right paren {_sharp_u(r)}")
        elif ord(r) < 0x80 and r.isprintable():
            self.emit(_T.CHAR)
        else:
            return self.errorf(f"unrecognized character in action: {_sharp_u(r)}")
        return self.lex_inside_action

    def lex_space(self) -> _StateFn | None:
        num_spaces = 0
        while _is_space(self.peek()):
            self.next()
            num_spaces += 1
        # A trim-marked right delimiter starts with a space: leave it for lex_right_delim.
        if self.has_right_trim_marker(self.pos - 1) and self.input.startswith(_RIGHT_DELIM, self.pos + 1):
            self.backup()
            if num_spaces == 1:
                return self.lex_right_delim
        self.emit(_T.SPACE)
        return self.lex_inside_action

    def lex_identifier(self) -> _StateFn | None:
        while True:
            r = self.next()
            if not _is_alnum(r):
                break
        self.backup()
        if not self.at_terminator():
            return self.errorf(f"bad character {_sharp_u(r)}")
        word = self.input[self.start : self.pos]
        keyword = _KEYWORDS.get(word)
        if keyword is not None and keyword > _T.KEYWORD:
            disabled = (keyword == _T.BREAK and not self.break_ok) or (
                keyword == _T.CONTINUE and not self.continue_ok
            )
            self.emit(_T.IDENTIFIER if disabled else keyword)
        elif word[0] == ".":
            self.emit(_T.FIELD)
        elif word in ("true", "false"):
            self.emit(_T.BOOL)
        else:
            self.emit(_T.IDENTIFIER)
        return self.lex_inside_action

    def lex_field(self) -> _StateFn | None:
        return self.lex_field_or_variable(_T.FIELD)

    def lex_variable(self) -> _StateFn | None:
        if self.at_terminator():  # a lone "$"
            self.emit(_T.VARIABLE)
            return self.lex_inside_action
        return self.lex_field_or_variable(_T.VARIABLE)

    def lex_field_or_variable(self, typ: _T) -> _StateFn | None:
        if self.at_terminator():  # a lone "." or "$"
            self.emit(_T.VARIABLE if typ == _T.VARIABLE else _T.DOT)
            return self.lex_inside_action
        while True:
            r = self.next()
            if not _is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            return self.errorf(f"bad character {_sharp_u(r)}")
        self.emit(typ)
        return self.lex_inside_action

    def lex_quoted(self, quote: str, typ: _T, what: str) -> _StateFn | None:
        while True:
            r = self.next()
            if r == "\\":
                escaped = self.next()
                if escaped != _EOF and escaped != "\n":
                    continue
                return self.errorf(f"unterminated {what}")
            if r == _EOF or r == "\n":
                return self.errorf(f"unterminated {what}")
            if r == quote:
                break
        self.emit(typ)
        return self.lex_inside_action

    def lex_char(self) -> _StateFn | None:
        return self.lex_quoted("'", _T.CHAR_CONSTANT, "character constant")

    def lex_quote(self) -> _StateFn | None:
        return self.lex_quoted('"', _T.STRING, "quoted string")

    def lex_raw_quote(self) -> _StateFn | None:
        while True:
            r = self.next()
            if r == _EOF:
                return self.errorf("unterminated raw quoted string")
            if r == "`":
                break
        self.emit(_T.RAW_STRING)
        return self.lex_inside_action

    def lex_number(self) -> _StateFn | None:
        if not self.scan_number():
            return self.errorf(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
        if self.peek() in ("+", "-"):  # complex: 1+2i
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                return self.errorf(f"bad number syntax: {go_quote(self.input[self.start : self.pos])}")
            self.emit(_T.COMPLEX)
        else:
            self.emit(_T.NUMBER)
        return self.lex_inside_action

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True
