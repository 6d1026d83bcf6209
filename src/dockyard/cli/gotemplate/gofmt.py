"""Go's fmt printing (Sprint, Sprintln, Sprintf): the verbs and %v rendering of Python data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.cli.gotemplate.gostrconv import _LDIGITS, _UDIGITS, _can_backquote, _to_bytes, format_float, go_quote
from dockyard.cli.gotemplate.values import _is_int, _is_nil, _sorted_items, go_type_name


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
