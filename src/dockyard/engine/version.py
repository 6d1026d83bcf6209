"""What ``version`` reports of the engine: its version, the Docker API it follows, the runtime it runs."""

from __future__ import annotations

import platform
import subprocess
from dataclasses import dataclass

from dockyard.oci.platform import host_architecture

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine import Engine

API_VERSION = "1.41"  # the Docker Engine API whose behaviour dockyard follows (Docker 20.10's)
MIN_API_VERSION = "1.12"


@dataclass(frozen=True, slots=True)
class Component:
    """A part of the engine with a version of its own (Docker's ``Server.Components``)."""

    name: str
    version: str
    details: dict[str, str]


@dataclass(frozen=True, slots=True)
class EngineVersion:
    """The engine's side of ``version``."""

    version: str
    storage_driver: str
    kernel_version: str
    components: list[Component]  # the engine itself first, then the OCI runtime


def engine_version(engine: Engine) -> EngineVersion:
    from dockyard import __version__

    details = {
        "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "PythonVersion": platform.python_version(),
        "Os": "linux", "Arch": host_architecture(), "KernelVersion": platform.release(), "Experimental": "false",
        "StorageDriver": engine.driver_name,
    }  # fmt: skip
    components = [Component("Engine", __version__, details)]
    runc = _runc_version()
    if runc:
        components.append(Component("runc", runc[0], {"GitCommit": runc[1]}))
    return EngineVersion(__version__, engine.driver_name, platform.release(), components)


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


def version_document(
    report: EngineVersion, platform_name: str, api_version: str = API_VERSION, min_api_version: str = MIN_API_VERSION
) -> dict[str, object]:
    """The Engine API's ``SystemVersion`` (``GET /version``, ``{{.Server}}`` of ``version --format``): one
    document for both faces; each says which API versions it serves."""
    components = []
    for c in report.components:
        details = dict(c.details)
        if c.name == "Engine":
            details.update(ApiVersion=api_version, MinAPIVersion=min_api_version)
        components.append({"Name": c.name, "Version": c.version, "Details": details})
    return {
        "Platform": {"Name": platform_name}, "Components": components, "Version": report.version,
        "ApiVersion": api_version, "MinAPIVersion": min_api_version, "Os": "linux", "Arch": host_architecture(),
        "KernelVersion": report.kernel_version, "Experimental": False,
        # fields SystemVersion always carries (clients such as docker-py expect them); no Go build, no commit
        "GitCommit": "", "GoVersion": "",
    }  # fmt: skip
