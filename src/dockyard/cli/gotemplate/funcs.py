"""Template functions: Go's builtins, docker/cli's (json, join, split, ...) and HEADER_FUNCS."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dockyard.cli.gotemplate.gofmt import go_sprint, go_sprintf, go_sprintln
from dockyard.cli.gotemplate.gojson import go_json
from dockyard.cli.gotemplate.gostrconv import _from_bytes, _to_bytes
from dockyard.cli.gotemplate.values import MISSING, _all_str, _is_int, _is_nil, _truth, _Uint8, go_type_name


# Parameter kinds, named as Go spells the parameter types in messages.
_ANY = "interface {}"  # nil-able anything; MISSING arrives as None
_VALUE = "reflect.Value"  # builtins see the raw value, MISSING included
_STR = "string"
_INT = "int"
_STRS = "[]string"


class _CallError(Exception):
    """A function's returned error: reported as 'error calling NAME: ...'."""


@dataclass(frozen=True)
class _Func:
    """A template function: its implementation, its parameters' Go types, the variadic one, and whether it is one of
    Go's own builtins (``and``/``or`` short-circuit) rather than docker/cli's or a method."""

    impl: Callable[..., object]
    params: tuple[str, ...] = ()
    variadic: str | None = None
    builtin: bool = True


def _index_arg(index: object, cap: int) -> int:
    if _is_nil(index):
        raise _CallError("cannot index slice/array with nil")
    if not _is_int(index):
        raise _CallError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:  # type: ignore[operator]
        raise _CallError(f"index out of range: {index}")
    return index  # type: ignore[return-value]


def _index_one(item: object, index: object) -> object:
    if item is None:  # a nil map yields its zero value; a nil slice has no elements
        if isinstance(index, str):
            return ""
        _index_arg(index, 0)
        raise _CallError("reflect: slice index out of range")
    if isinstance(item, (str, list, tuple)):
        seq: bytes | Sequence[object] = _to_bytes(item) if isinstance(item, str) else item
        x = _index_arg(index, len(seq))
        if x == len(seq):
            kind = "string" if isinstance(item, str) else "slice"
            raise _CallError(f"reflect: {kind} index out of range")
        return _Uint8(seq[x]) if isinstance(seq, bytes) else seq[x]
    if isinstance(item, dict):
        if _is_nil(index):
            raise _CallError("value is nil; should be of type string")
        if not isinstance(index, str):
            raise _CallError(f"value has type {go_type_name(index)}; should be string")
        if index in item:
            return item[index]
        # The zero value: "" for a map[string]string such as Labels.
        return "" if _all_str(item.values()) else MISSING
    raise _CallError(f"can't index item of type {go_type_name(item)}")


def _fn_index(item: object, *indexes: object) -> object:
    if item is MISSING:
        raise _CallError("index of untyped nil")
    for index in indexes:
        if item is MISSING:  # e.g. a missing key of a map[string]interface{}
            raise _CallError("index of nil pointer")
        item = _index_one(item, MISSING if index is None else index)
    return item


def _fn_slice(item: object, *indexes: object) -> object:
    if _is_nil(item):
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _CallError("cannot 3-index slice a string")
        data = _to_bytes(item)
    elif isinstance(item, (list, tuple)):
        data = item  # type: ignore[assignment]
    else:
        raise _CallError(f"can't slice item of type {go_type_name(item)}")
    idx = [0, len(data), len(data)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(data))
    if idx[0] > idx[1]:
        raise _CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise _CallError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = data[idx[0] : idx[1]]
    return _from_bytes(part) if isinstance(part, bytes) else list(part)


def _fn_len(item: object) -> int:
    if item is None:
        return 0
    if item is MISSING:  # Go trips over the invalid value inside reflect
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return len(_to_bytes(item))
    if isinstance(item, (list, tuple, dict)):
        return len(item)
    raise _CallError(f"len of type {go_type_name(item)}")


def _basic_kind(value: object) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def _fn_eq(arg1: object, *args: object) -> bool:
    if not args:
        raise _CallError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args:
        k2 = _basic_kind(arg)
        if k1 != k2:
            if not _is_nil(arg1) and not _is_nil(arg):
                raise _CallError("incompatible types for comparison")
            truth = False
        elif k1 is not None:
            truth = arg1 == arg
        elif _is_nil(arg1) or _is_nil(arg):
            truth = _is_nil(arg1) == _is_nil(arg)
        elif type(arg1) is not type(arg):
            raise _CallError(go_sprintf("non-comparable types %s: %v, %s: %v", arg1, go_type_name(arg1), go_type_name(arg), arg))
        else:
            raise _CallError(go_sprintf("non-comparable type %s: %v", arg, go_type_name(arg)))
        if truth:
            return True
    return False


def _fn_ne(arg1: object, arg2: object) -> bool:
    return not _fn_eq(arg1, arg2)


def _fn_lt(arg1: object, arg2: object) -> bool:
    k1, k2 = _basic_kind(arg1), _basic_kind(arg2)
    if k1 is None or k2 is None:
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    if k1 == "bool":
        raise _CallError("invalid type for comparison")
    return arg1 < arg2  # type: ignore[operator]


def _fn_le(arg1: object, arg2: object) -> bool:
    return _fn_lt(arg1, arg2) or _fn_eq(arg1, arg2)


def _fn_gt(arg1: object, arg2: object) -> bool:
    return not _fn_le(arg1, arg2)


def _fn_ge(arg1: object, arg2: object) -> bool:
    return not _fn_lt(arg1, arg2)


def _eval_args(args: Sequence[object]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(*args)


def _fn_html(*args: object) -> str:
    table = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return "".join(table.get(ch, ch) for ch in _eval_args(args))


def _js_escape(ch: str) -> str:
    table = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026", "=": "\\u003D"}
    if ch in table:
        return table[ch]
    if ord(ch) < 0x20:
        return f"\\u00{ord(ch):02X}"
    if ord(ch) >= 0x80 and not ch.isprintable():
        return f"\\u{ord(ch):04X}"
    return ch


def _fn_js(*args: object) -> str:
    return "".join(_js_escape(ch) for ch in _eval_args(args))


def _fn_urlquery(*args: object) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _fn_call(fn: object, *args: object) -> object:
    if _is_nil(fn):
        raise _CallError("call of nil")
    if not callable(fn):
        raise _CallError(f"non-function of type {go_type_name(fn)}")
    try:
        return fn(*(None if a is MISSING else a for a in args))
    except Exception as err:  # the called function's error, as Go's call reports it
        raise _CallError(str(err)) from err


def _fn_split(text: str, sep: str) -> list[str]:
    if sep == "":  # Go explodes the string into its runes
        return list(text)
    return text.split(sep)


def _simple_case(text: str, convert: Callable[[str], str]) -> str:
    """Go maps case rune by rune (unicode.ToUpper etc.), never growing a string."""
    return "".join(_simple_case_rune(ch, convert) for ch in text)


def _simple_case_rune(ch: str, convert: Callable[[str], str]) -> str:
    mapped = convert(ch)
    if len(mapped) == 1:
        return mapped
    # Python applies full mappings (ß -> SS); Go's simple one differs for a few runes.
    if convert is str.lower:
        return "i" if ch == "\u0130" else ch
    titled = ch.title()  # e.g. U+1FB3 -> U+1FBC, Go's simple upper-case mapping
    return titled if len(titled) == 1 else ch


def _is_title_separator(ch: str) -> bool:
    if ord(ch) < 0x80:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch.isspace()


def _fn_title(text: str) -> str:
    """strings.Title: upper-case the first letter of each word."""
    out, prev = [], " "
    for ch in text:
        out.append(_simple_case(ch, str.title) if _is_title_separator(prev) else ch)
        prev = ch
    return "".join(out)


def _fn_pad(text: str, prefix: int, suffix: int) -> str:
    if text == "":
        return text
    if prefix < 0 or suffix < 0:
        raise _CallError("strings: negative Repeat count")
    return " " * prefix + text + " " * suffix


def _fn_truncate(text: str, length: int) -> str:
    data = _to_bytes(text)  # Go slices bytes, not runes
    if len(data) < length:
        return text
    if length < 0:
        raise _CallError(f"runtime error: slice bounds out of range [:{length}]")
    return _from_bytes(data[:length])


def _builtin_funcs() -> dict[str, _Func]:
    v, two = (_VALUE,), (_VALUE, _VALUE)
    return {
        "and": _Func(lambda *a: a[-1], v, _VALUE),  # short-circuits in _State.eval_call
        "or": _Func(lambda *a: a[-1], v, _VALUE),
        "not": _Func(lambda a: not _truth(a), v),
        "len": _Func(_fn_len, v),
        "index": _Func(_fn_index, v, _VALUE),
        "slice": _Func(_fn_slice, v, _VALUE),
        "call": _Func(_fn_call, v, _VALUE),
        "eq": _Func(_fn_eq, v, _VALUE),
        "ne": _Func(_fn_ne, two),
        "lt": _Func(_fn_lt, two),
        "le": _Func(_fn_le, two),
        "gt": _Func(_fn_gt, two),
        "ge": _Func(_fn_ge, two),
        "print": _Func(go_sprint, (), _ANY),
        "printf": _Func(go_sprintf, (_STR,), _ANY),
        "println": _Func(go_sprintln, (), _ANY),
        "html": _Func(_fn_html, (), _ANY),
        "js": _Func(_fn_js, (), _ANY),
        "urlquery": _Func(_fn_urlquery, (), _ANY),
    }


def _docker_funcs() -> dict[str, _Func]:
    """docker/cli templates.basicFunctions."""
    return {
        "json": _Func(go_json, (_ANY,), builtin=False),
        "split": _Func(_fn_split, (_STR, _STR), builtin=False),
        "join": _Func(lambda items, sep: sep.join(items), (_STRS, _STR), builtin=False),
        "title": _Func(_fn_title, (_STR,), builtin=False),
        "lower": _Func(lambda s: _simple_case(s, str.lower), (_STR,), builtin=False),
        "upper": _Func(lambda s: _simple_case(s, str.upper), (_STR,), builtin=False),
        "pad": _Func(_fn_pad, (_STR, _INT, _INT), builtin=False),
        "truncate": _Func(_fn_truncate, (_STR, _INT), builtin=False),
    }


_FUNCS: dict[str, _Func] = {**_builtin_funcs(), **_docker_funcs()}


# docker/cli templates.HeaderFunctions: parse a table format with funcs=HEADER_FUNCS
# to render its header row, so "{{join .Names ","}}" prints the column name as is.
HEADER_FUNCS: dict[str, Callable[..., object]] = {
    "json": lambda v: v,
    "split": lambda v, _sep: v,
    "join": lambda v, _sep: v,
    "title": lambda v: v,
    "lower": lambda v: v,
    "upper": lambda v: v,
    "truncate": lambda v, _n: v,
}


def _wrap_user_func(impl: Callable[..., object]) -> Callable[..., object]:
    def call(*args: object) -> object:
        try:
            return impl(*args)
        except Exception as err:
            raise _CallError(str(err)) from err

    return call
