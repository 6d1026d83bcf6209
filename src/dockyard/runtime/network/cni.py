"""Running CNI plugins: the binaries from ``containernetworking-plugins``, invoked directly.

No libcni: each plugin of a network's list is executed with the CNI
environment (``CNI_COMMAND``, ``CNI_CONTAINERID``, ``CNI_NETNS``,
``CNI_IFNAME``, ``CNI_PATH``) and its configuration on stdin, as the spec
says (CNI 1.0.0, "Execution protocol"). ADD runs the list in order, each
plugin receiving the previous one's result as ``prevResult``; DEL runs it in
reverse with the ADD's result. Runtime values (published ports) go into
``runtimeConfig`` of the plugins whose ``capabilities`` ask for them, as
libcni does.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import DockyardError
from dockyard.runtime.network import nsexec

CNI_VERSION = "1.0.0"
PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))


class CniError(DockyardError):
    """A plugin failed; the message is the plugin's own ``msg`` (and ``details``)."""


@dataclass(frozen=True, slots=True)
class Invocation:
    """Who the plugins act for: one container's interface in one network namespace."""

    container_id: str
    netns: str
    ifname: str = "eth0"
    runtime: dict[str, Any] = field(default_factory=dict)  # capability name -> value
    args: str = ""  # CNI_ARGS, e.g. "IgnoreUnknown=1;IP=10.1.2.3" (host-local's requested address)


def plugin_path(kind: str, dirs: tuple[Path, ...] = PLUGIN_DIRS) -> Path:
    for d in dirs:
        if (d / kind).is_file():
            return d / kind
    raise CniError(f'failed to find plugin "{kind}" in path {[str(d) for d in dirs]}')


def _env(command: str, inv: Invocation, dirs: tuple[Path, ...]) -> dict[str, str]:
    return {
        "CNI_COMMAND": command, "CNI_CONTAINERID": inv.container_id, "CNI_NETNS": inv.netns,
        "CNI_IFNAME": inv.ifname, "CNI_ARGS": inv.args, "CNI_PATH": ":".join(str(d) for d in dirs), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }


def plugin_config(network: dict[str, Any], plugin: dict[str, Any], inv: Invocation,
                  prev: dict[str, Any] | None) -> dict[str, Any]:
    """One plugin's stdin: its own keys plus the list's name and version, runtimeConfig and prevResult."""
    conf = {**plugin, "cniVersion": network["cniVersion"], "name": network["name"]}
    caps = {k for k, on in plugin.get("capabilities", {}).items() if on}
    runtime = {k: v for k, v in inv.runtime.items() if k in caps}
    if runtime:
        conf["runtimeConfig"] = runtime
    if prev is not None:
        conf["prevResult"] = prev
    return conf


def exec_plugin(command: str, conf: dict[str, Any], inv: Invocation,
                dirs: tuple[Path, ...] = PLUGIN_DIRS) -> dict[str, Any] | None:
    """Run one plugin; its JSON result (ADD) or None (DEL). Raises CniError with the plugin's message."""
    proc = subprocess.run(nsexec.command([str(plugin_path(conf["type"], dirs))]), input=json.dumps(conf).encode(),
                          env=_env(command, inv, dirs), capture_output=True)
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        try:
            err = json.loads(out)
            message = err.get("msg", "") + (f": {err['details']}" if err.get("details") else "")
        except ValueError:
            message = out or proc.stderr.decode(errors="replace").strip()
        raise CniError(f"plugin type=\"{conf['type']}\" failed ({command.lower()}): {message}")
    if command != "ADD" or not out:
        return None
    result: dict[str, Any] = json.loads(out)
    return result


def add(network: dict[str, Any], inv: Invocation, dirs: tuple[Path, ...] = PLUGIN_DIRS) -> dict[str, Any]:
    """ADD the whole list; the last plugin's result. On failure the caller runs ``delete``."""
    result: dict[str, Any] | None = None
    for plugin in network["plugins"]:
        result = exec_plugin("ADD", plugin_config(network, plugin, inv, result), inv, dirs) or result
    return result or {}


def delete(network: dict[str, Any], inv: Invocation, prev: dict[str, Any] | None,
           dirs: tuple[Path, ...] = PLUGIN_DIRS) -> list[str]:
    """DEL the list in reverse; every plugin runs even if one fails. Returns the failures' messages."""
    errors = []
    for plugin in reversed(network["plugins"]):
        try:
            exec_plugin("DEL", plugin_config(network, plugin, inv, prev), inv, dirs)
        except CniError as exc:
            errors.append(str(exc))
    return errors
