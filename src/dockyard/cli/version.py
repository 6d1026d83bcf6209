"""``dockyard version``: Docker's ``version`` layout, the client and the engine it runs in-process."""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
from typing import Any

from dockyard import __version__
from dockyard.cli.context import Context, require_args
from dockyard.cli.format import render

API_VERSION = "1.41"  # the Docker Engine API whose behaviour dockyard follows (Docker 20.10's)
MIN_API_VERSION = "1.12"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("version", prog="dockyard version")
    p.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("-f", "--format", default="", help="Format output using a custom template:\n'json':             Print in JSON format\n'TEMPLATE':         Print output using the given Go template.\nRefer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")
    p.set_defaults(handler=version_cmd)


def version_cmd(ctx: Context, args: argparse.Namespace) -> int:
    require_args(args, "version", 0, at_most=True)
    info = version_info(ctx)
    if args.format:
        sys.stdout.write(render(args.format, [info], {}))
    else:
        sys.stdout.write(version_text(info))
    return 0


def version_info(ctx: Context) -> dict[str, Any]:
    """What ``--format`` sees: Docker's ``{{.Client.…}}`` and ``{{.Server.…}}`` fields."""
    python = platform.python_version()
    arch = _ARCH.get(platform.machine(), platform.machine())
    client = {
        "Version": __version__, "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION, "PythonVersion": python,
        "Os": "linux", "Arch": arch, "Context": "default",
    }  # fmt: skip
    engine = {
        "Name": "Engine", "Version": __version__,
        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "PythonVersion": python,
                    "Os": "linux", "Arch": arch, "KernelVersion": platform.release(),
                    "StorageDriver": ctx.engine.driver_name, "Experimental": "false"},
    }  # fmt: skip
    components: list[dict[str, Any]] = [engine]
    runc = _runc_version()
    if runc:
        components.append({"Name": "runc", "Version": runc[0], "Details": {"GitCommit": runc[1]}})
    server = {
        "Platform": {"Name": "dockyard Engine (in-process)"}, "Components": components, "Version": __version__,
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch,
        "KernelVersion": platform.release(), "Experimental": False,
    }  # fmt: skip
    return {"Client": client, "Server": server}


def _runc_version() -> tuple[str, str] | None:
    try:
        out = subprocess.run(["runc", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    version = commit = ""
    for line in out.splitlines():
        if line.startswith("runc version "):
            version = line.removeprefix("runc version ").strip()
        elif line.startswith("commit: "):
            commit = line.removeprefix("commit: ").strip()
    return (version, commit) if version else None


def version_text(info: dict[str, Any]) -> str:
    """Docker's version template, its tab-separated cells aligned by a tabwriter (min width 20)."""
    c = info["Client"]
    rows = [
        "Client:", f" Version:\t{c['Version']}", f" API version:\t{c['ApiVersion']}",
        f" Python version:\t{c['PythonVersion']}", f" OS/Arch:\t{c['Os']}/{c['Arch']}", f" Context:\t{c['Context']}",
    ]  # fmt: skip
    s = info["Server"]
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
