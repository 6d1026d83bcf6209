"""Output the way Docker's CLI writes it: Go templates, tabwriter tables, JSON."""

from __future__ import annotations

import re

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


def render(fmt: str, rows: list[Mapping[str, Any]], headers: Mapping[str, str]) -> str:
    """Render rows with a ``--format`` value; ``table …`` adds a header and aligns columns."""
    is_table = fmt.startswith("table")
    text = fmt[5:].lstrip() if is_table else fmt
    text = text.replace("\\t", "\t").replace("\\n", "\n")
    fields = _simple_fields(text)
    if fields is not None and all(isinstance(row.get(f), str) for row in rows for f in fields):
        # the common templates (the default tables among them) need no template engine:
        # string fields print as themselves, which keeps short commands fast
        lines = [_substitute(text, row) for row in rows]
        header = _substitute(text, headers)
    else:
        from dockyard.cli import gotemplate

        template = gotemplate.parse(text)
        lines = [template.execute(row) for row in rows]
        # Docker renders the header row with functions that pass column names through
        header = gotemplate.parse(text, funcs=gotemplate.HEADER_FUNCS).execute(headers) if is_table else ""
    if not is_table:
        return "".join(line + "\n" for line in lines)
    return tabulate([header, *lines]) if rows or header.strip() else ""


def to_json(value: Any) -> str:
    """``docker inspect``'s output: Go's json.MarshalIndent with four spaces."""
    import json

    return json.dumps(value, indent=4, ensure_ascii=False)
