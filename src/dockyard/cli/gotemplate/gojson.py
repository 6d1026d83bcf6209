"""Docker's `json` template function: Go's encoding/json, compact and without HTML escaping."""

from __future__ import annotations

import math

from dockyard.cli.gotemplate.gostrconv import format_float
from dockyard.cli.gotemplate.values import Method, Struct, _is_nil, go_type_name


class _JSONError(Exception):
    pass


_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _json_string(text: str, html: bool = False) -> str:
    out = ['"']
    for ch in text:
        code = ord(ch)
        if html and ch in _HTML:
            out.append(_HTML[ch])
        elif ch in '"\\':
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


def _json_value(value: object, html: bool = False) -> str:
    if _is_nil(value):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _json_float(value)
    if isinstance(value, str):
        return _json_string(value, html)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_json_value(v, html) for v in value) + "]"
    if isinstance(value, Struct):
        # Docker's formatter contexts marshal through json.Marshal of a map: sorted keys, HTML escaped
        fields = sorted((k, v) for k, v in value.items() if not isinstance(v, Method))
        return "{" + ",".join(f"{_json_string(str(k), True)}:{_json_value(v, True)}" for k, v in fields) + "}"
    if isinstance(value, dict):
        # a struct's methods are not part of its encoding
        items = ((k, v) for k, v in value.items() if not isinstance(v, Method))
        return "{" + ",".join(f"{_json_string(str(k), html)}:{_json_value(v, html)}" for k, v in items) + "}"
    raise _JSONError(f"json: unsupported type: {go_type_name(value)}")


def go_json(value: object) -> str:
    """Docker's `json` function: compact encoding/json output without HTML
    escaping (docker/cli calls SetEscapeHTML(false)); keys keep dict order.
    Docker ignores encoding errors, so e.g. NaN yields ""."""
    try:
        return _json_value(value)
    except _JSONError:
        return ""
