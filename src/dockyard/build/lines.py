"""One (continued) instruction line to a node: keyword, ``--flags``, and the argument
nodes its keyword's rule makes (BuildKit's line parsers); heredoc markers."""

from __future__ import annotations

import json
import re
from typing import Callable

from dockyard.build.gostr import quote
from dockyard.build.nodes import Heredoc, Node
from dockyard.build.shell import Lex, ShellWordError
from dockyard.errors import InvalidArgumentError

WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")


def node_from_line(line: str, escape: str) -> Node:
    keyword, flags, rest = split_command(line, escape)
    rule = _RULES.get(keyword.lower(), _ignore)
    args, is_json = rule(rest, escape)
    return Node(value=keyword, next=args, json=is_json, original=line, flags=flags)


def split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = WHITESPACE.split(line.strip(), maxsplit=1)
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading ``--flag`` words; returns the rest of the line and the flags."""
    words: list[str] = []
    word: list[str] = []
    in_word = in_quote = blank_ok = False
    quote_ch = ""
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if not in_word and not in_quote:
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            in_word = True
        if pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if in_quote:
            if ch == quote_ch:
                in_quote, in_word = False, True
            else:
                if ch == escape:
                    if pos + 1 == n:
                        in_quote, in_word = False, True
                        pos += 1
                        continue
                    pos += 1
                    ch = line[pos]
                word.append(ch)
            pos += 1
            continue
        if ch.isspace():
            text = "".join(word)
            in_word = False
            if text == "--":
                return line[pos:], words
            if blank_ok or text:
                words.append(text)
            word.clear()
            blank_ok = False
        elif ch in "'\"":
            quote_ch, blank_ok, in_quote, in_word = ch, True, True, False
        else:
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept as written."""
    words: list[str] = []
    buf: list[str] = []
    phase = "space"
    quote_ch = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "space":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == "word":
            if ch.isspace():
                phase = "space"
                if blank_ok or buf:
                    words.append("".join(buf))
                buf.clear()
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote_ch, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
        else:
            if ch == quote_ch:
                phase = "word"
            if ch == escape and quote_ch != "'":
                if pos + 1 == n:
                    phase = "word"
                    pos += 1
                    continue
                pos += 1
                buf.append(ch)
                ch = rest[pos]
            buf.append(ch)
        pos += 1
    return words


# per-keyword argument rules --------------------------------------------------------

Rule = Callable[[str, str], tuple[list[Node], bool]]


def _ignore(rest: str, escape: str) -> tuple[list[Node], bool]:
    return [], False


def _sub_command(rest: str, escape: str) -> tuple[list[Node], bool]:
    if not rest:
        return [], False
    return [Node(children=[node_from_line(rest, escape)])], False


def _name_val(rest: str, escape: str, keyword: str) -> list[Node]:
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InvalidArgumentError(f"{keyword} must have two arguments")
        return [Node(parts[0]), Node(parts[1]), Node("")]
    out: list[Node] = []
    for word in words:
        if "=" not in word:
            raise InvalidArgumentError(f"Syntax error - can't find = in {quote(word)}. Must be of the form: name=value")
        key, _, value = word.partition("=")
        out += [Node(key), Node(value), Node("=")]
    return out


def _env(rest: str, escape: str) -> tuple[list[Node], bool]:
    return _name_val(rest, escape, "ENV"), False


def _label(rest: str, escape: str) -> tuple[list[Node], bool]:
    return _name_val(rest, escape, "LABEL"), False


def _name_or_name_val(rest: str, escape: str) -> tuple[list[Node], bool]:
    return [Node(w) for w in parse_words(rest, escape)], False


def _whitespace_words(rest: str, escape: str = "\\") -> tuple[list[Node], bool]:
    if not rest:
        return [], False
    return [Node(w) for w in WHITESPACE.split(rest)], False


def _string(rest: str, escape: str) -> tuple[list[Node], bool]:
    return ([Node(rest)] if rest else []), False


class _NotStrings(InvalidArgumentError):
    def __init__(self) -> None:
        super().__init__("when using JSON array syntax, arrays must be comprised of strings only")


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # NaN / Infinity are not JSON to Go


def _json(rest: str) -> list[Node] | None:
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_reject_constant)  # type: ignore[arg-type]
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NotStrings()
    return [Node(v) for v in value]


def _maybe_json(rest: str, escape: str) -> tuple[list[Node], bool]:
    if not rest:
        return [], False
    nodes = _json(rest)
    if nodes is not None:
        return nodes, True
    return [Node(rest)], False


def _maybe_json_to_list(rest: str, escape: str) -> tuple[list[Node], bool]:
    nodes = _json(rest)
    if nodes is not None:
        return nodes, True
    return _whitespace_words(rest)


def _health(rest: str, escape: str) -> tuple[list[Node], bool]:
    sep = 0
    while sep < len(rest) and not rest[sep].isspace():
        sep += 1
    nxt = sep
    while nxt < len(rest) and rest[nxt].isspace():
        nxt += 1
    if sep == 0:
        return [], False
    cmd, is_json = _maybe_json(rest[nxt:], escape)
    return [Node(rest[:sep]), *cmd], is_json


_RULES: dict[str, Rule] = {
    "add": _maybe_json_to_list, "arg": _name_or_name_val, "cmd": _maybe_json, "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json, "env": _env, "expose": _whitespace_words, "from": _whitespace_words,
    "healthcheck": _health, "label": _label, "maintainer": _string, "onbuild": _sub_command,
    "run": _maybe_json, "shell": _maybe_json, "stopsignal": _string, "user": _string,
    "volume": _maybe_json_to_list, "workdir": _string,
}  # fmt: skip


# heredocs -------------------------------------------------------------------------


def parse_heredoc(word: str) -> Heredoc | None:
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    lex = Lex(escape="\\", skip_unset=True)
    try:
        words = lex.process_words(rest, {})
        if len(words) != 1:
            return None
        raw = Lex(escape="\\", skip_unset=True, raw_quotes=True).process_words(rest, {})
    except ShellWordError as exc:
        raise InvalidArgumentError(str(exc)) from None
    if len(raw) != len(words):
        raise InvalidArgumentError(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    expand = name.count("'") + name.count('"') == raw[0].count("'") + raw[0].count('"')
    return Heredoc(name=name, expand=expand, chomp=match.group(2) == "-", fd=int(match.group(1) or 0))


def heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = Lex(escape="\\", raw_quotes=True, raw_escapes=True, skip_unset=True).process_words(line, {})
    except ShellWordError:
        words = []
    return [doc for word in words if (doc := parse_heredoc(word)) is not None]


def chomp_heredoc(content: str) -> str:
    return re.sub(r"(?m)^\t+", "", content)
