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

# where each name lives: loaded on first use, so a command that needs one leaf (``ps`` quotes its
# COMMAND column with gostrconv) does not load the lexer, parser and executor (~15 ms)
_EXPORTS = {
    "Template": "execute", "HEADER_FUNCS": "funcs", "go_sprint": "gofmt", "go_sprintf": "gofmt", "go_json": "gojson",
    "parse": "parser", "MISSING": "values", "Method": "values", "Struct": "values", "TemplateError": "values",
}  # fmt: skip

__all__ = ["HEADER_FUNCS", "MISSING", "Method", "Struct", "Template", "TemplateError", "go_json", "go_sprint", "go_sprintf", "parse"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
