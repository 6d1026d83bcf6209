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

from dockyard.cli.gotemplate.execute import Template
from dockyard.cli.gotemplate.funcs import HEADER_FUNCS
from dockyard.cli.gotemplate.gofmt import go_sprint, go_sprintf
from dockyard.cli.gotemplate.gojson import go_json
from dockyard.cli.gotemplate.parser import parse
from dockyard.cli.gotemplate.values import MISSING, Method, Struct, TemplateError

__all__ = ["HEADER_FUNCS", "MISSING", "Method", "Struct", "Template", "TemplateError", "go_json", "go_sprint", "go_sprintf", "parse"]
