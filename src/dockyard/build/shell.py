"""Shell-word processing as Dockerfiles do it (BuildKit's ``shell.Lex``).

Variable substitution (``$V``, ``${V}``, ``${V:-w}``, ``${V:+w}``, ``${V-w}``,
``${V+w}``, ``${V?w}``, ``${V#p}``, ``${V%p}``, ``${V/p/r}``), quotes and the
escape character, producing either one word (``process_word``) or the list of
words a shell would split it into (``process_words``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from dockyard.errors import InvalidArgumentError

_EOF = ""
_SPECIAL = set("@*#?-$!0")


class ShellWordError(InvalidArgumentError):
    """A word cannot be expanded (unterminated quote, bad substitution)."""


@dataclass(slots=True)
class _Words:
    """Splits expanded text into words: unquoted whitespace separates, quoted text is kept."""

    buf: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf.clear()
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf.clear()
        return self.words


@dataclass(slots=True)
class Lex:
    """One expansion run; ``escape`` is the Dockerfile's escape character.

    ``raw_quotes`` keeps quote characters in the output, ``skip_unset`` leaves
    unknown variables as written (both used to find heredoc names)."""

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    skip_quotes: bool = False  # quotes are plain characters (heredoc bodies)
    _text: str = ""
    _pos: int = 0
    _env: Mapping[str, str] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self._run(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return self._run(word, env)[1]

    def _run(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        self._text, self._pos, self._env = word, 0, env
        try:
            return self._until(_EOF, self.raw_escapes)
        except ShellWordError as exc:
            raise ShellWordError(f"failed to process {_go_quote(word)}: {exc}") from None

    # the scanner ---------------------------------------------------------------

    def _peek(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else _EOF

    def _next(self) -> str:
        ch = self._peek()
        if ch:
            self._pos += 1
        return ch

    # grammar -------------------------------------------------------------------

    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until_inner(stop)
        finally:
            self.raw_escapes = saved

    def _until_inner(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self._peek() != _EOF:
            ch = self._peek()
            if stop and ch == stop:
                self._next()
                return "".join(result), words.result()
            if ch == "$":
                text = self._dollar()
                result.append(text)
                words.add_string(text)
            elif ch == "<":
                text = self._maybe_heredoc()
                result.append(text)
                words.add_raw(text)
            elif ch in "'\"" and not self.skip_quotes:
                text = self._single_quote() if ch == "'" else self._double_quote()
                result.append(text)
                words.add_raw(text)
            else:
                ch = self._next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self._next()
                    if ch == _EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise ShellWordError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _single_quote(self) -> str:
        first = self._next()
        out = [first] if self.raw_quotes else []
        while True:
            ch = self._next()
            if ch == _EOF:
                raise ShellWordError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        first = self._next()
        out = [first] if self.raw_quotes else []
        while True:
            ch = self._peek()
            if ch == _EOF:
                raise ShellWordError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self._next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self._peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _maybe_heredoc(self) -> str:
        self._next()
        if self._peek() != "<":
            return "<"
        self._next()
        space = []
        while self._peek() in ("\t", "\r", " ") and self._peek():
            space.append(self._next())
        return "<<" + "".join(space)

    def _name(self) -> str:
        name: list[str] = []
        while (ch := self._peek()) != _EOF:
            if not name and ch.isdigit():
                while self._peek() != _EOF and self._peek().isdigit():
                    name.append(self._next())
                return "".join(name)
            if not name and ch in _SPECIAL:
                return self._next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(self._next())
        return "".join(name)

    def _get(self, name: str) -> tuple[str, bool]:
        if name in self._env:
            self.matched.add(name)
            return self._env[name], True
        self.unmatched.add(name)
        return "", False

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            return f"${name}" if not found and self.skip_unset else value
        self._next()
        if self._peek() == _EOF:
            raise ShellWordError("syntax error: missing '}'")
        if self._peek() in "{}:":
            raise ShellWordError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        if ch == "}":
            value, found = self._get(name)
            return f"${{{name}}}" if not found and self.skip_unset else value
        if ch == "/":
            return self._replace(name)
        modifier, null_is_unset = ch, False
        if ch == ":":
            null_is_unset = True
            ch = self._next()
            modifier += ch
        if ch not in ("+", "-", "?", "#", "%"):
            raise ShellWordError(f"unsupported modifier ({modifier}) in substitution")
        if null_is_unset and ch in "#%":
            raise ShellWordError(f"unsupported modifier ({modifier}) in substitution")
        word = self._operand("}", ch in "#%")
        value, found = self._get(name)
        if self.skip_unset and not found:
            return f"${{{name}{modifier}{word}}}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellWordError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellWordError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        word = word[1:] if greedy else word
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def _operand(self, stop: str, raw_escapes: bool) -> str:
        try:
            return self._until(stop, raw_escapes)[0]
        except ShellWordError:
            if self._peek() == _EOF:
                raise ShellWordError("syntax error: missing '}'" if stop == "}" else "syntax error: missing '/' in ${}") from None
            raise

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        pattern = self._operand("/", True)
        replacement = self._operand("}", True)
        value, found = self._get(name)
        if self.skip_unset and not found:
            return f"${{{name}/{pattern}/{replacement}}}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        match = regex.search(value)
        return value[: match.start()] + replacement + value[match.end():] if match else value


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell glob (``*``, ``?``, ``\\`` escapes) as a regex."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            if i >= len(pattern) or pattern[i] not in "*?\\":
                bad = pattern[i] if i < len(pattern) else ""
                raise ShellWordError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{bad}'")
            out.append(re.escape(pattern[i]))
            i += 1
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            out.append(pattern[i : i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(reversed(out))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_quote(text: str) -> str:
    from dockyard.build.gostr import quote

    return quote(text)
