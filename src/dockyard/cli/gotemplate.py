"""Go text/template, as Docker's ``--format`` flags use it, over plain Python data.

A port of Go 1.19's text/template lexer, parser and executor (the Go Docker
20.10.2x is built with), of the parts of fmt and encoding/json that templates
print through, and of the docker CLI's template functions (json, join, split,
lower, upper, title, pad, truncate).

Data model: dict is a Go map/struct (``.Key`` looks a key up), list/tuple a
slice, str/int/float/bool the Go scalars.  A missing key evaluates to MISSING,
Go's invalid value, which prints "<no value>".  None is a nil pointer, map or
slice: it prints "<nil>", is empty to len/range/if, ``index`` of it by a string
is "", and a field of it is "<no value>" (Go would fail on a nil pointer).
A list of str passes as []string (join), a dict of str as map[string]string
(``index`` of a missing key is "").  ``json`` keeps dict order and, as
docker/cli does, does not HTML-escape.  Errors read like Go's, e.g.
``template: :1: function "foo" not defined``.

Not supported: complex constants, %p, invalid UTF-8 in strings, methods on
Python objects (only dict keys are fields); template recursion stops at 100.
"""

from __future__ import annotations

import math
import struct
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NoReturn

__all__ = ["HEADER_FUNCS", "MISSING", "Template", "TemplateError", "go_json", "go_sprint", "go_sprintf", "parse"]


class TemplateError(ValueError):
    """A parse or execution error, worded like Go's text/template errors."""


class _Missing:
    """Go's invalid reflect.Value: what a missing map key evaluates to."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


class _Uint8(int):
    """A byte of a string, as `index` and Go's s[i] yield it."""


def _is_nil(value: object) -> bool:
    return value is None or value is MISSING


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _all_str(values: Any) -> bool:
    return all(isinstance(v, str) for v in values)


def go_type_name(value: object) -> str:
    """The Go type a Python value stands for, as Go spells it in messages."""
    if _is_nil(value):
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "uint8" if isinstance(value, _Uint8) else "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "[]string" if value and _all_str(value) else "[]interface {}"
    if isinstance(value, dict):
        return "map[string]string" if value and _all_str(value.values()) else "map[string]interface {}"
    if callable(value):
        return "func"
    return type(value).__name__


def _truth(value: object) -> bool:
    """text/template's isTrue: zero values and empty containers are false."""
    if _is_nil(value):
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _sort_key(key: object) -> tuple[int, Any]:
    """fmtsort's order for map keys: numbers numerically, strings bytewise."""
    if isinstance(key, (bool, int, float)):
        return (0, key)
    if isinstance(key, str):
        return (1, key)
    return (2, repr(key))


def _sorted_items(mapping: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    return sorted(mapping.items(), key=lambda item: _sort_key(item[0]))


# ---------------------------------------------------------------- strconv


def _decimal(value: float, ndigits: int | None) -> tuple[str, int]:
    """Go's decimalSlice of abs(value): significant digits, trailing zeros
    trimmed, and the decimal point position (value = 0.DIGITS * 10**point).
    Shortest round-trip digits when ndigits is None."""
    if value == 0:
        return "", 0
    text = repr(abs(value)) if ndigits is None else format(abs(value), f".{ndigits - 1}e")
    mantissa, _, exp = text.partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    stripped = digits.lstrip("0")
    point = len(whole) + int(exp or 0) - (len(digits) - len(stripped))
    return stripped.rstrip("0"), point


def _fmt_e(digits: str, point: int, prec: int, letter: str) -> str:
    out = digits[0] if digits else "0"
    if prec > 0:
        frac = digits[1 : prec + 1]
        out += "." + frac + "0" * (prec - len(frac))
    exp = point - 1 if digits else 0
    return f"{out}{letter}{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _fmt_f(digits: str, point: int, prec: int) -> str:
    if point > 0:
        whole = digits[:point]
        out = whole + "0" * (point - len(whole))
    else:
        out = "0"
    if prec > 0:
        frac = "".join(digits[point + i] if 0 <= point + i < len(digits) else "0" for i in range(prec))
        out += "." + frac
    return out


def format_float(value: float, fmt: str, prec: int) -> str:
    """strconv.FormatFloat(value, fmt, prec, 64) for fmt in b e E f g G x X; prec<0 is shortest."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if fmt in "bxX":
        mant, exp = _float_bits(value)
        return sign + (_fmt_b(mant, exp) if fmt == "b" else _fmt_x(mant, exp, prec, fmt))
    if fmt in "gG":
        return sign + _format_g(value, fmt, prec)
    if prec < 0:
        digits, point = _decimal(value, None)
        if fmt in "eE":
            return sign + _fmt_e(digits, point, max(len(digits) - 1, 0), fmt)
        return sign + _fmt_f(digits, point, max(len(digits) - point, 0))
    text = format(abs(value), f".{prec}{'e' if fmt in 'eE' else 'f'}")
    return sign + (text.upper() if fmt == "E" else text)


def _format_g(value: float, fmt: str, prec: int) -> str:
    shortest = prec < 0
    digits, point = _decimal(value, None if shortest else max(prec, 1))
    prec = len(digits) if shortest else max(prec, 1)
    eprec = 6 if shortest else prec  # Go switches to %e at 1e+06 for shortest %g/%v.
    exp = point - 1
    if exp < -4 or exp >= eprec:
        return _fmt_e(digits, point, min(prec, len(digits)) - 1, "e" if fmt == "g" else "E")
    if prec > point:
        prec = len(digits)
    return _fmt_f(digits, point, max(prec - point, 0))


def _float_bits(value: float) -> tuple[int, int]:
    """IEEE 754 mantissa (hidden bit included) and unbiased exponent, as strconv sees them."""
    bits = struct.unpack("<Q", struct.pack("<d", value))[0]
    exp, mant = (bits >> 52) & 0x7FF, bits & ((1 << 52) - 1)
    if exp == 0:
        exp += 1  # denormal
    else:
        mant |= 1 << 52
    return mant, exp - 1023


def _fmt_b(mant: int, exp: int) -> str:
    exp -= 52
    return f"{mant}p{'+' if exp >= 0 else ''}{exp}"


def _fmt_x(mant: int, exp: int, prec: int, fmt: str) -> str:
    """%x of a float: 0x1.8p+01 style, rounded to prec hex digits."""
    mask64 = (1 << 64) - 1
    if mant == 0:
        exp = 0
    mant <<= 60 - 52  # leading 1 at bit 60
    while mant != 0 and mant & (1 << 60) == 0:
        mant <<= 1
        exp -= 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant <<= 60 - shift
        if mant & (1 << 61):  # rounding carried into a new leading digit
            mant >>= 1
            exp += 1
    digits = _LDIGITS if fmt == "x" else _UDIGITS
    out = "0" + fmt + str((mant >> 60) & 1)
    mant = (mant << 4) & mask64
    if (prec < 0 and mant != 0) or prec > 0:
        out += "."
        count = prec if prec > 0 else None
        while (count is None and mant != 0) or (count is not None and count > 0):
            out += digits[(mant >> 60) & 15]
            mant = (mant << 4) & mask64
            count = None if count is None else count - 1
    sign = "-" if exp < 0 else "+"
    return f"{out}{'p' if fmt == 'x' else 'P'}{sign}{abs(exp):02d}"


_SIMPLE_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def _escape_rune(ch: str, quote: str, ascii_only: bool) -> str:
    if ch == quote or ch == "\\":
        return "\\" + ch
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:  # not a valid rune: Go substitutes U+FFFD
        ch, code = "\ufffd", 0xFFFD
    if (code < 0x80 or not ascii_only) and ch.isprintable():
        return ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str, quote: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteRune with quote="'", QuoteToASCII with ascii_only)."""
    return quote + "".join(_escape_rune(ch, quote, ascii_only) for ch in text) + quote


def _can_backquote(text: str) -> bool:
    return not any(ch == "`" or ch == "\ufeff" or (ord(ch) < 0x20 and ch != "\t") or ch == "\x7f" for ch in text)


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "replace")


def _from_bytes(data: bytes) -> str:
    # Go strings may hold any bytes; a Python str cannot, so bad UTF-8 becomes U+FFFD.
    return data.decode("utf-8", "replace")


# ---------------------------------------------------------------- fmt

_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"


def _too_large(n: int) -> bool:
    return not -1_000_000 < n < 1_000_000


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if _too_large(num):
            return 0, False, end
        num = num * 10 + ord(s[i]) - ord("0")
        isnum = True
        i += 1
    return num, isnum, i


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    if len(s) < 3:
        return 0, 1, False
    close = s.find("]", 1)
    if close < 0:
        return 0, 1, False
    width, ok, newi = _parsenum(s, 1, close)
    if not ok or newi != close:
        return 0, close + 1, False
    return width - 1, close + 1, True


def _int_from_arg(args: Sequence[object], arg_num: int) -> tuple[int, bool, int]:
    if arg_num >= len(args):
        return 0, False, arg_num
    arg = args[arg_num]
    if not _is_int(arg) or _too_large(arg):  # type: ignore[arg-type]
        return 0, False, arg_num + 1
    return arg, True, arg_num + 1  # type: ignore[return-value]


class _Printer:
    """Go's fmt printer (pp plus fmt), enough for Sprint, Sprintln and Sprintf."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.reordered = False
        self.good_arg_num = True
        self.clear_flags()

    def clear_flags(self) -> None:
        self.wid = self.prec = 0
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False

    def text(self) -> str:
        return "".join(self.buf)

    # -- padding and primitive formatters (Go's fmt type)

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
        elif self.minus:
            self.buf.append(s)
            self.write_padding(self.wid - len(s))
        else:
            self.write_padding(self.wid - len(s))
            self.buf.append(s)

    def pad_unzeroed(self, s: str) -> None:
        zero, self.zero = self.zero, False
        self.pad(s)
        self.zero = zero

    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec_present else s

    def fmt_integer(self, n: int, base: int, verb: str, digits: str) -> None:
        negative = n < 0
        u = -n if negative else n
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                zero, self.zero = self.zero, False
                self.write_padding(self.wid)
                self.zero = zero
                return
        elif self.zero and self.wid_present:
            prec = self.wid - (1 if negative or self.plus or self.space else 0)
        out = ""
        while True:
            u, rem = divmod(u, base)
            out = digits[rem] + out
            if u == 0:
                break
        out = out.rjust(prec, "0")
        if self.sharp:
            if base == 2:
                out = "0b" + out
            elif base == 8 and out[0] != "0":
                out = "0" + out
            elif base == 16:
                out = "0" + digits[16] + out
        if verb == "O":
            out = "0o" + out
        if negative:
            out = "-" + out
        elif self.plus:
            out = "+" + out
        elif self.space:
            out = " " + out
        self.pad_unzeroed(out)

    def fmt_unicode(self, u: int) -> None:
        u &= (1 << 64) - 1  # Go formats the uint64 bit pattern of negative runes
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        out = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and u <= 0x10FFFF and chr(u).isprintable():
            out += f" '{chr(u)}'"
        self.pad_unzeroed(out)

    def fmt_c(self, u: int) -> None:
        self.pad(_rune(u))

    def fmt_qc(self, u: int) -> None:
        self.pad(go_quote(_rune(u), "'", self.plus))

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate(s))

    def fmt_sx(self, s: str, digits: str) -> None:
        data = _to_bytes(s)
        length = min(len(data), self.prec) if self.prec_present else len(data)
        width = 2 * length
        if width <= 0:
            if self.wid_present:
                self.write_padding(self.wid)
            return
        if self.space:
            width = width * 2 + length - 1 if self.sharp else width + length - 1
        elif self.sharp:
            width += 2
        if self.wid_present and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        prefix = "0" + digits[16] if self.sharp else ""
        parts = [digits[b >> 4] + digits[b & 0xF] for b in data[:length]]
        out = prefix + (" " + prefix).join(parts) if self.space else prefix + "".join(parts)
        self.buf.append(out)
        if self.wid_present and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and _can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.pad(go_quote(s, '"', self.plus))

    def fmt_float(self, value: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(value, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":  # Inf and NaN are never zero padded
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad_unzeroed(num)
            return
        if self.sharp and verb != "b":
            num = self._sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and self.wid_present and self.wid > len(num):
                self.buf.append(num[0])
                self.write_padding(self.wid - len(num))
                self.buf.append(num[1:])
            else:
                self.pad(num)
            return
        self.pad(num[1:])

    @staticmethod
    def _sharp_float(num: str, verb: str, prec: int) -> str:
        """'#' keeps the decimal point and, for %g, the trailing zeros."""
        digits = (6 if prec == -1 else prec) if verb in "vgGx" else 0
        tail, has_point, saw_nonzero = "", False, False
        for i in range(1, len(num)):
            c = num[i]
            if c == ".":
                has_point = True
            elif c in "pP" or (c in "eE" and verb not in "xX"):
                num, tail = num[:i], num[i:]
                break
            else:
                saw_nonzero = saw_nonzero or c != "0"
                if saw_nonzero:
                    digits -= 1
        if not has_point:
            if len(num) == 2 and num[1] == "0":
                digits -= 1
            num += "."
        return num + "0" * max(digits, 0) + tail

    # -- per-type verb dispatch (Go's pp type)

    def bad_verb(self, verb: str, value: object) -> None:
        self.buf.append(f"%!{verb}(")
        if _is_nil(value):
            self.buf.append("<nil>")
        else:
            self.buf.append(go_type_name(value) + "=")
            self.print_value(value, "v", 0)
        self.buf.append(")")

    def fmt_bool(self, value: bool, verb: str) -> None:
        if verb in "tv":
            self.pad("true" if value else "false")
        else:
            self.bad_verb(verb, value)

    def fmt_int(self, value: int, verb: str) -> None:
        bases = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
        if verb in bases:
            self.fmt_integer(value, bases[verb], verb, _UDIGITS if verb == "X" else _LDIGITS)
        elif verb == "c":
            self.fmt_c(value)
        elif verb == "q":
            self.fmt_qc(value)
        elif verb == "U":
            self.fmt_unicode(value)
        else:
            self.bad_verb(verb, value)

    def fmt_float_verb(self, value: float, verb: str) -> None:
        if verb == "v":
            self.fmt_float(value, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(value, verb, -1)
        elif verb in "feE":
            self.fmt_float(value, verb, 6)
        elif verb == "F":
            self.fmt_float(value, "f", 6)
        else:
            self.bad_verb(verb, value)

    def fmt_string(self, value: str, verb: str) -> None:
        if verb == "v":
            self.fmt_q(value) if self.sharp_v else self.fmt_s(value)
        elif verb == "s":
            self.fmt_s(value)
        elif verb in "xX":
            self.fmt_sx(value, _UDIGITS if verb == "X" else _LDIGITS)
        elif verb == "q":
            self.fmt_q(value)
        else:
            self.bad_verb(verb, value)

    def print_arg(self, arg: object, verb: str) -> None:
        if _is_nil(arg):
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
        elif verb == "T":
            self.fmt_s(go_type_name(arg))
        elif verb == "p":
            self.bad_verb(verb, arg)
        else:
            self.print_value(arg, verb, 0)

    def print_value(self, value: object, verb: str, depth: int) -> None:
        if _is_nil(value):  # a nil element of a slice or map
            self.buf.append("interface {}(nil)" if self.sharp_v else "<nil>")
        elif isinstance(value, bool):
            self.fmt_bool(value, verb)
        elif isinstance(value, int):
            self.fmt_int(value, verb)
        elif isinstance(value, float):
            self.fmt_float_verb(value, verb)
        elif isinstance(value, str):
            self.fmt_string(value, verb)
        elif isinstance(value, (list, tuple)):
            self.print_list(value, verb, depth)
        elif isinstance(value, dict):
            self.print_map(value, verb, depth)
        else:
            self.fmt_s(str(value))

    def print_list(self, value: Sequence[object], verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type_name(value) + "{")
        else:
            self.buf.append("[")
        for i, elem in enumerate(value):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(elem, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def print_map(self, value: Mapping[Any, object], verb: str, depth: int) -> None:
        self.buf.append(go_type_name(value) + "{" if self.sharp_v else "map[")
        for i, (key, elem) in enumerate(_sorted_items(value)):
            if i:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_value(key, verb, depth + 1)
            self.buf.append(":")
            self.print_value(elem, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    # -- Sprint, Sprintln, Sprintf

    def do_print(self, args: Sequence[object]) -> None:
        prev_string = False
        for i, arg in enumerate(args):
            is_string = isinstance(arg, str)
            if i > 0 and not is_string and not prev_string:
                self.buf.append(" ")
            self.print_arg(arg, "v")
            prev_string = is_string

    def do_println(self, args: Sequence[object]) -> None:
        for i, arg in enumerate(args):
            if i > 0:
                self.buf.append(" ")
            self.print_arg(arg, "v")
        self.buf.append("\n")

    def arg_number(self, arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool]:
        if len(fmt) <= i or fmt[i] != "[":
            return arg_num, i, False
        self.reordered = True
        index, wid, ok = _parse_arg_number(fmt[i:])
        if ok and 0 <= index < num_args:
            return index, i + wid, True
        self.good_arg_num = False
        return arg_num, i + wid, ok

    def parse_flags(self, fmt: str, i: int) -> int:
        while i < len(fmt):
            c = fmt[i]
            if c == "#":
                self.sharp = True
            elif c == "0":
                self.zero = not self.minus  # only pad with zeros on the left
            elif c == "+":
                self.plus = True
            elif c == "-":
                self.minus, self.zero = True, False
            elif c == " ":
                self.space = True
            else:
                break
            i += 1
        return i

    def print_verb(self, arg: object, verb: str) -> None:
        if verb == "v":
            self.sharp_v, self.sharp = self.sharp, False
            self.plus_v, self.plus = self.plus, False
        self.print_arg(arg, verb)

    def do_printf(self, fmt: str, args: Sequence[object]) -> None:
        end, arg_num, i = len(fmt), 0, 0
        while i < end:
            self.good_arg_num = True
            percent = fmt.find("%", i)
            percent = end if percent < 0 else percent
            self.buf.append(fmt[i:percent])
            if percent >= end:
                break
            self.clear_flags()
            i = self.parse_flags(fmt, percent + 1)
            if i < end and "a" <= fmt[i] <= "z" and arg_num < len(args):  # fast path: %v, %s...
                self.print_verb(args[arg_num], fmt[i])
                arg_num, i = arg_num + 1, i + 1
                continue
            arg_num, i = self.parse_width_prec(fmt, i, args, arg_num)
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb, i = fmt[i], i + 1
            if verb == "%":
                self.buf.append("%")
            elif not self.good_arg_num:
                self.buf.append(f"%!{verb}(BADINDEX)")
            elif arg_num >= len(args):
                self.buf.append(f"%!{verb}(MISSING)")
            else:
                self.print_verb(args[arg_num], verb)
                arg_num += 1
        if not self.reordered and arg_num < len(args):
            self.write_extra(args[arg_num:])

    def parse_width_prec(self, fmt: str, i: int, args: Sequence[object], arg_num: int) -> tuple[int, int]:
        end = len(fmt)
        arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
        if i < end and fmt[i] == "*":
            self.wid, self.wid_present, arg_num = _int_from_arg(args, arg_num)
            i += 1
            if not self.wid_present:
                self.buf.append("%!(BADWIDTH)")
            if self.wid < 0:
                self.wid, self.minus, self.zero = -self.wid, True, False
            after_index = False
        else:
            self.wid, self.wid_present, i = _parsenum(fmt, i, end)
            if after_index and self.wid_present:  # "%[3]2d"
                self.good_arg_num = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:  # "%[3].2d"
                self.good_arg_num = False
            arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
            if i < end and fmt[i] == "*":
                self.prec, self.prec_present, arg_num = _int_from_arg(args, arg_num)
                i += 1
                if self.prec < 0:
                    self.prec, self.prec_present = 0, False
                if not self.prec_present:
                    self.buf.append("%!(BADPREC)")
                after_index = False
            else:
                self.prec, self.prec_present, i = _parsenum(fmt, i, end)
                if not self.prec_present:
                    self.prec, self.prec_present = 0, True
        if not after_index:
            arg_num, i, after_index = self.arg_number(arg_num, fmt, i, len(args))
        return arg_num, i

    def write_extra(self, extra: Sequence[object]) -> None:
        self.clear_flags()
        self.buf.append("%!(EXTRA ")
        for i, arg in enumerate(extra):
            if i:
                self.buf.append(", ")
            if _is_nil(arg):
                self.buf.append("<nil>")
            else:
                self.buf.append(go_type_name(arg) + "=")
                self.print_arg(arg, "v")
        self.buf.append(")")


def _rune(u: int) -> str:
    if u < 0 or u > 0x10FFFF or 0xD800 <= u <= 0xDFFF:
        return "\ufffd"
    return chr(u)


def go_sprint(*args: object) -> str:
    """fmt.Sprint: operands printed with %v, spaced when neither side is a string."""
    printer = _Printer()
    printer.do_print(args)
    return printer.text()


def go_sprintln(*args: object) -> str:
    """fmt.Sprintln: operands printed with %v, always spaced, newline appended."""
    printer = _Printer()
    printer.do_println(args)
    return printer.text()


def go_sprintf(fmt: str, *args: object) -> str:
    """fmt.Sprintf, for the verbs templates use (%v %s %d %q %t %x %f %e %g ...)."""
    printer = _Printer()
    printer.do_printf(fmt, args)
    return printer.text()


# ---------------------------------------------------------------- encoding/json


class _JSONError(Exception):
    pass


def _json_string(text: str) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif code in (0x2028, 0x2029):  # escaped even without HTML escaping, for JSONP
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise _JSONError(f"json: unsupported value: {format_float(value, 'g', -1)}")
    magnitude = abs(value)
    fmt = "e" if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21) else "f"
    text = format_float(value, fmt, -1)
    if fmt == "e" and len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
        text = text[:-2] + text[-1]  # e-07 -> e-7, like ES6
    return text


def _json_value(value: object) -> str:
    if _is_nil(value):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(str(k))}:{_json_value(v)}" for k, v in value.items()) + "}"
    raise _JSONError(f"json: unsupported type: {go_type_name(value)}")


def go_json(value: object) -> str:
    """Docker's `json` function: compact encoding/json output without HTML
    escaping (docker/cli calls SetEscapeHTML(false)); keys keep dict order.
    Docker ignores encoding errors, so e.g. NaN yields ""."""
    try:
        return _json_value(value)
    except _JSONError:
        return ""


# ---------------------------------------------------------------- lexer


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


# ---------------------------------------------------------------- Go literals


class _SyntaxError(Exception):
    """strconv.ErrSyntax."""


_HEX = "0123456789abcdefABCDEF"


def _unquote_char(s: str, i: int, quote: str) -> tuple[int | bytes, int]:
    """strconv.UnquoteChar at s[i]: a rune (int) or a raw \\x/octal byte (bytes)."""
    if i >= len(s):
        raise _SyntaxError
    c = s[i]
    if c == quote:
        raise _SyntaxError
    if c != "\\":
        return ord(c), i + 1
    if i + 1 >= len(s):
        raise _SyntaxError
    c, i = s[i + 1], i + 2
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}
    if c in simple:
        return simple[c], i
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        code = s[i : i + n]
        if len(code) < n or any(ch not in _HEX for ch in code):
            raise _SyntaxError
        value = int(code, 16)
        if c == "x":
            return bytes([value]), i + n
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise _SyntaxError
        return value, i + n
    if "0" <= c <= "7":
        code = c + s[i : i + 2]
        if len(code) < 3 or any(not "0" <= ch <= "7" for ch in code) or int(code, 8) > 255:
            raise _SyntaxError
        return bytes([int(code, 8)]), i + 2
    if c in "'\"" and c == quote:
        return ord(c), i
    raise _SyntaxError


def _unquote(literal: str) -> str:
    """strconv.Unquote for "..." and `...` literals."""
    if len(literal) < 2 or literal[0] != literal[-1]:
        raise _SyntaxError
    quote, body = literal[0], literal[1:-1]
    if quote == "`":
        if "`" in body:
            raise _SyntaxError
        return body.replace("\r", "")  # Go discards carriage returns in raw strings
    if quote != '"' or "\n" in body:
        raise _SyntaxError
    out, i = bytearray(), 0
    while i < len(body):
        value, i = _unquote_char(body, i, quote)
        out += value if isinstance(value, bytes) else chr(value).encode("utf-8")
    return _from_bytes(bytes(out))


def _unquote_rune(literal: str) -> int:
    """The value of a 'x' character constant."""
    value, i = _unquote_char(literal, 1, "'")
    if literal[i:] != "'":
        raise ValueError(f"malformed character constant: {literal}")
    return value[0] if isinstance(value, bytes) else value


def _parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) without the range check; None if invalid."""
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    base, digits = 10, body
    lowered = body.lower()
    if lowered.startswith(("0x", "0o", "0b")):
        base, digits = {"x": 16, "o": 8, "b": 2}[lowered[1]], body[2:]
        digits = digits[1:] if digits.startswith("_") else digits
    elif len(body) > 1 and body[0] == "0":
        base, digits = 8, body[1:].lstrip("_")
    if not digits or digits.startswith("_") or digits.endswith("_") or "__" in digits:
        return None
    try:
        return sign * int(digits.replace("_", ""), base)
    except ValueError:
        return None


def _parse_go_float(text: str) -> float | None:
    try:
        if "x" in text.lower():  # Go hex floats need a binary exponent
            return float.fromhex(text.replace("_", "")) if "p" in text.lower() else None
        if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return None
        return float(text)
    except (ValueError, OverflowError):
        return None


# ---------------------------------------------------------------- parse tree


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


# ---------------------------------------------------------------- parser


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


# ---------------------------------------------------------------- functions

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


# ---------------------------------------------------------------- execution


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
            receiver = self.eval_field(name, None, _NO_FINAL, receiver)
        return self.eval_field(idents[-1], args, final, receiver)

    def eval_field(self, name: str, args: Sequence[_Node] | None, final: object, receiver: object) -> object:
        if _is_nil(receiver):  # an invalid value, or a nil map: no entry
            return MISSING
        if isinstance(receiver, dict):
            if (args is not None and len(args) > 1) or final is not _NO_FINAL:
                self.errorf(f"{name} is not a method but has arguments")
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


# ---------------------------------------------------------------- API


class Template:
    """A parsed template; execute() renders it against Python data."""

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
