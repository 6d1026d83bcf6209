"""``dockyard version``: Docker's ``version`` layout, the client and the engine it runs in-process."""

from __future__ import annotations

import argparse
import platform
import sys

from dockyard import __version__
from dockyard.cli.context import Context, require_args
from dockyard.cli.format import go_struct, render_document
from dockyard.engine.version import API_VERSION
from dockyard.oci.platform import host_architecture
from dockyard.errors import DockyardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("version", prog="dockyard version")
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--format", default="", help="Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")
    p.set_defaults(handler=version_cmd)


def version_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "version", 0, at_most=True)
    client = client_info()
    try:
        info = {"Client": client, "Server": server_info(ctx)}
    except DockyardError:
        # Docker prints the client's part, then why the server's is missing
        if not args.format:
            sys.stdout.write(version_text({"Client": client, "Server": None}))
        raise
    if args.format:
        # Go structs, as the docker CLI's template sees them: an unknown field is an error naming the type
        server = info["Server"]
        document = go_struct("system.versionInfo", {
            "Client": go_struct("system.clientVersion", info["Client"]),
            "Server": go_struct("*types.Version", {**server, "Platform": go_struct("struct { Name string }", server["Platform"])}),
        })  # fmt: skip
        # 64: the docker CLI's exit for a --format it cannot parse
        sys.stdout.write(render_document(args.format, document, name="version", parse_code=64))
    else:
        sys.stdout.write(version_text(info))
    return 0


def client_info() -> dict[str, Any]:
    """What ``--format`` sees as ``{{.Client.…}}`` (Docker's field names)."""
    return {
        "Version": __version__, "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION,
        "PythonVersion": platform.python_version(), "Os": "linux", "Arch": host_architecture(), "Context": "default",
    }  # fmt: skip


def server_info(ctx: Context) -> dict[str, Any]:
    """``{{.Server.…}}``: the engine's version report in Docker's field names."""
    from dockyard.engine.version import engine_version, version_document

    return version_document(engine_version(ctx.engine), "dockyard Engine (in-process)")


def version_text(info: dict[str, Any]) -> str:
    """Docker's version template, its tab-separated cells aligned by a tabwriter (min width 20)."""
    c = info["Client"]
    rows = [
        "Client:", f" Version:\t{c['Version']}", f" API version:\t{c['ApiVersion']}",
        f" Python version:\t{c['PythonVersion']}", f" OS/Arch:\t{c['Os']}/{c['Arch']}", f" Context:\t{c['Context']}",
    ]  # fmt: skip
    s = info["Server"]
    if s is None:
        return _tabwriter(rows)
    rows += ["", f"Server: {s['Platform']['Name']}"]
    for component in s["Components"]:
        rows.append(f" {component['Name']}:")
        d = component["Details"]
        if component["Name"] == "Engine":
            rows += [
                f"  Version:\t{component['Version']}",
                f"  API version:\t{d['ApiVersion']} (minimum version {d['MinAPIVersion']})",
                f"  Python version:\t{d['PythonVersion']}", f"  OS/Arch:\t{d['Os']}/{d['Arch']}",
                f"  Storage driver:\t{d['StorageDriver']}", f"  Experimental:\t{d['Experimental']}",
            ]  # fmt: skip
        else:
            rows += [f"  Version:\t{component['Version']}", *(f"  {k}:\t{v}" for k, v in d.items())]
    return _tabwriter(rows)


def _tabwriter(rows: list[str], min_width: int = 20, padding: int = 1) -> str:
    """Go's tabwriter for two-cell lines: a line without a tab ends the block whose first cells align."""
    out: list[str] = []
    block: list[list[str]] = []

    def flush() -> None:
        width = max([min_width, *(len(cells[0]) + padding for cells in block)])
        out.extend(cells[0].ljust(width) + cells[1] for cells in block)
        block.clear()

    for row in rows:
        cells = row.split("\t", 1)
        if len(cells) == 2:
            block.append(cells)
            continue
        if block:
            flush()
        out.append(row)
    if block:
        flush()
    return "".join(line + "\n" for line in out)
