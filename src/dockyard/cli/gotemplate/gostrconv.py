"""The parts of Go's strconv that templates use: FormatFloat, Quote, Unquote, ParseInt and ParseFloat."""

from __future__ import annotations

import math
import struct

_LDIGITS = "0123456789abcdefx"
_UDIGITS = "0123456789ABCDEFX"


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
