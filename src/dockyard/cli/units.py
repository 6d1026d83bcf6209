"""Ports of github.com/docker/go-units v0.4.0, the version Docker 20.10 vendors.

Sizes and durations are printed exactly as the docker CLI prints them
(``docker images`` SIZE, ``docker ps`` STATUS, ...), and size strings are
parsed exactly as ``--memory``/``--shm-size`` flags parse them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from dockyard.oci.timefmt import INT64_MIN as _INT64_MIN, human_duration as human_duration

KB = 1000
MB = 1000 * KB
GB = 1000 * MB
TB = 1000 * GB
PB = 1000 * TB

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB
PiB = 1024 * TiB

_DECIMAL_MAP = {"k": KB, "m": MB, "g": GB, "t": TB, "p": PB}
_BINARY_MAP = {"k": KiB, "m": MiB, "g": GiB, "t": TiB, "p": PiB}
_DECIMAL_ABBRS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_ABBRS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")

# go-units' `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`; Go's \d is ASCII-only.
_SIZE_RE = re.compile(r"([0-9]+(?:\.[0-9]+)*) ?([kKmMgGtTpP])?[iI]?[bB]?")



def _go_g(value: float, precision: int) -> str:
    """Go's fmt "%.*g": same digits as C's %g, but Go spells the specials its way."""
    if precision < 0:  # Go flags a negative '*' precision, then prints shortest %g.
        return "%!(BADPREC)" + _go_float_special(value, _go_g_shortest)
    return _go_float_special(value, lambda v: "%.*g" % (precision, v))


def _go_float_special(value: float, finite: Callable[[float], str]) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return finite(value)


def _go_g_shortest(value: float) -> str:
    """Go's "%g" without precision: shortest round-trip digits, %e from 1e+06 on."""
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    point = len(whole) + int(exp_text or 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if not digits:
        return sign + "0"
    exp = point - 1
    if exp < -4 or exp >= 6:
        frac_part = "." + digits[1:] if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{frac_part}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _size_and_unit(size: float, base: float, abbrs: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(abbrs) - 1:
        size /= base
        i += 1
    return size, abbrs[i]


def _custom_size(fmt_precision: int, size: float, base: float, abbrs: tuple[str, ...]) -> str:
    """CustomSize with the only format Docker uses, "%.<p>g%s"."""
    value, unit = _size_and_unit(float(size), base, abbrs)
    return _go_g(value, fmt_precision) + unit


def human_size_with_precision(size: float, precision: int) -> str:
    """HumanSizeWithPrecision: decimal (SI) units, `precision` significant digits."""
    return _custom_size(precision, size, 1000.0, _DECIMAL_ABBRS)


def human_size(size: float) -> str:
    """HumanSize: e.g. 1240000 -> "1.24MB", 999999 -> "1000kB"."""
    return human_size_with_precision(size, 4)


def bytes_size(size: float) -> str:
    """BytesSize: binary units, e.g. 1048576 -> "1MiB"."""
    return _custom_size(4, size, 1024.0, _BINARY_ABBRS)




def _parse_size(size_str: str, unit_map: dict[str, int]) -> int:
    match = _SIZE_RE.fullmatch(size_str)
    if match is None:
        raise ValueError(f"invalid size: '{size_str}'")
    number_text, prefix = match.group(1), match.group(2)
    try:
        size = float(number_text)
    except ValueError:  # "1.2.3" matches the pattern but is no float.
        raise ValueError(f'strconv.ParseFloat: parsing "{number_text}": invalid syntax') from None
    if math.isinf(size):
        raise ValueError(f'strconv.ParseFloat: parsing "{number_text}": value out of range')
    if prefix:
        size *= unit_map[prefix.lower()]
    # Go's int64(f) for an out-of-range float yields MinInt64 on amd64.
    if not -(2.0**63) <= size < 2.0**63:
        return _INT64_MIN
    return int(size)


def from_human_size(size: str) -> int:
    """FromHumanSize: SI units, e.g. "32kB" -> 32000; ValueError on bad input."""
    return _parse_size(size, _DECIMAL_MAP)


def ram_in_bytes(size: str) -> int:
    """RAMInBytes: binary units, e.g. "32m" -> 33554432; ValueError on bad input."""
    return _parse_size(size, _BINARY_MAP)
