"""Output the way Docker's CLI writes it: Go templates, tabwriter tables, JSON."""

from __future__ import annotations

import re
import sys

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping


# Docker's table writer: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
_MIN_WIDTH = 10
_PADDING = 3


def tabulate(lines: Iterable[str]) -> str:
    """Align tab-separated cells as Go's text/tabwriter does (the last cell is not padded)."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), max(len(cell) + _PADDING, _MIN_WIDTH))
    out = []
    for cells in rows:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + cells[-1])
    return "".join(line + "\n" for line in out)


_SIMPLE = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def _simple_fields(text: str) -> list[str] | None:
    """The fields of a template made only of ``{{.Field}}`` and literal text, else None."""
    rest = _SIMPLE.sub("", text)
    return None if "{{" in rest or "}}" in rest else _SIMPLE.findall(text)


def _substitute(text: str, row: Mapping[str, Any]) -> str:
    return _SIMPLE.sub(lambda m: str(row.get(m.group(1), "<no value>")), text)


# Docker 28: ``--format json`` is ``{{json .}}``, one object per line
JSON_FORMAT = "{{json .}}"
PARSE_ERROR = "template parsing error"


def render(
    fmt: str,
    rows: list[Mapping[str, Any]],
    headers: Mapping[str, str],
    go_type: str | None = None,
    *,
    errors: tuple[str, str] = (PARSE_ERROR, PARSE_ERROR),
    parse_code: int = 1,
    strict_maps: bool = False,
    name: str = "",
) -> str:
    """Render rows with a ``--format`` value; ``table …`` adds a header and aligns columns.

    ``go_type`` names the Docker formatter context the rows stand for (``*formatter.imageContext``):
    a field the row lacks then fails as Docker's Go struct does, instead of printing "<no value>",
    and a callable value is a method with string parameters (ps's ``Label``).
    A template that cannot be parsed or executed raises UsageError with ``errors``' prefix (parse,
    execute), as the docker CLI words it for the command; exit 1, or ``parse_code`` for one that
    does not parse (``info`` and ``version`` exit 64 there); an empty execute prefix prints Go's
    error alone. ``strict_maps`` fails on a key a map lacks (Go's missingkey=error, as ``inspect``
    runs its templates); ``name`` is the template's, which Go's messages quote (``version``).
    """
    if fmt == "json":
        fmt = JSON_FORMAT
    is_table = fmt.startswith("table")
    text = fmt[5:].lstrip() if is_table else fmt
    # Docker replaces the escapes before parsing: {{"\n"}} is a string broken by a newline
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    fields = _simple_fields(text)
    if fields is not None and all(isinstance(row.get(f), str) for row in rows for f in fields):
        # the common templates (the default tables among them) need no template engine:
        # string fields print as themselves, which keeps short commands fast; a field a row
        # lacks is not a str, so an unknown field always takes the engine and its error
        lines = [_substitute(text, row) for row in rows]
        header = _substitute(text, headers)
    else:
        lines, header = _execute(text, rows, headers, is_table, go_type, errors, parse_code, strict_maps, name)
    if not is_table:
        return "".join(line + "\n" for line in lines)
    return tabulate([header, *lines]) if rows or header.strip() else ""


def _execute(
    text: str,
    rows: list[Mapping[str, Any]],
    headers: Mapping[str, str],
    is_table: bool,
    go_type: str | None,
    errors: tuple[str, str],
    parse_code: int,
    strict_maps: bool = False,
    name: str = "",
) -> tuple[list[str], str]:
    from dockyard.cli import gotemplate
    from dockyard.cli.context import UsageError

    if go_type is not None:  # here, not before the fast path: the template engine loads only when needed
        rows = [_struct(gotemplate, go_type, row) for row in rows]

    try:
        template = gotemplate.parse(text, name)
        # Docker renders the header row with functions that pass column names through
        header_template = gotemplate.parse(text, name, funcs=gotemplate.HEADER_FUNCS) if is_table else None
    except gotemplate.TemplateError as exc:
        raise UsageError(f"{errors[0]}: {exc}", parse_code) from None
    template.missing_key_error = strict_maps
    if go_type is not None and any(callable(v) for v in headers.values()):
        # a header with methods ({{.Label "app"}}) is a struct too; fields it does not name print empty
        blank = dict.fromkeys(rows[0], "") if rows else {}
        headers = _struct(gotemplate, go_type, {**blank, **headers})
    try:
        lines = [template.execute(row) for row in rows]
        return lines, header_template.execute(headers) if header_template is not None else ""
    except gotemplate.TemplateError as exc:
        raise UsageError(f"{errors[1]}: {exc}" if errors[1] else str(exc), 1) from None


def render_document(fmt: str, document: Any, *, name: str = "", parse_code: int = 1) -> str:
    """``version``/``info --format``: one Go struct through a template. As the docker CLI, a template that
    fails while running still ends the output's line, and the error is Go's message alone."""
    from dockyard.cli.context import UsageError

    try:
        return render(fmt, [document], {}, name=name, parse_code=parse_code, errors=(PARSE_ERROR, ""))
    except UsageError as exc:
        if exc.code != parse_code:
            sys.stdout.write("\n")
        raise


def go_struct(go_type: str, fields: Mapping[str, Any]) -> Any:
    """``fields`` as a Go struct of ``go_type`` for a template: a field it lacks is Go's error, not "<no value>"."""
    from dockyard.cli import gotemplate

    return _struct(gotemplate, go_type, fields)


def _struct(gotemplate: Any, go_type: str, row: Mapping[str, Any]) -> Any:
    """The row as Docker's Go struct; a callable value is a method taking string arguments ({{.Label "app"}})."""
    if isinstance(row, gotemplate.Struct):
        return row
    return gotemplate.Struct(go_type, {k: gotemplate.Method(v) if callable(v) else v for k, v in row.items()})


def render_inspect(fmt: str, found: list[Any]) -> str:
    """``inspect --format``: Docker 28 prints ``json`` as the whole list, compact, on one line; a
    template it cannot parse exits 64, a key a document lacks is an error."""
    if fmt == "json":
        from dockyard.cli.gotemplate import go_json

        return go_json(found) + "\n"
    from dockyard.cli.context import UsageError

    try:
        return render(fmt, found, {}, parse_code=64, strict_maps=True)
    except UsageError as exc:
        if exc.code != 64:  # Docker's inspector flushes an empty line before it reports a failed template
            import sys

            sys.stdout.write("\n")
        raise


def to_json(value: Any) -> str:
    """``docker inspect``'s output: Go's json.MarshalIndent with four spaces."""
    import json

    return json.dumps(value, indent=4, ensure_ascii=False)
