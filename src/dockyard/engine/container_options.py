"""The typed options a face builds for container operations, the errors it tells apart, and the checks of
flag values, named from one engine module so the faces depend on the engine alone.

Each name loads its module on first use (PEP 562): ``run`` does not load the commit or copy code.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from dockyard.runtime.commit import CommitOptions
    from dockyard.runtime.container_state import ContainerNotFoundError
    from dockyard.runtime.containers import ContainerStartError, CreateOptions
    from dockyard.runtime.copy import ContainerPathNotFoundError, CopyOptions, CopyPathError
    from dockyard.runtime.exec import EXEC_FAILED, ExecOptions, ExecStartError
    from dockyard.runtime.health import HealthConfig, parse_duration
    from dockyard.runtime.isolation import DEVICE_CGROUP_RULE, DeviceMapping, Isolation, RunFlags, Ulimit
    from dockyard.runtime.links import parse_link
    from dockyard.runtime.network.attachment import NetworkOptions, check_mac
    from dockyard.runtime.network.hosts import parse_extra_host
    from dockyard.runtime.network.ports import parse_expose, parse_publish
    from dockyard.runtime.resources import ULIMITS, Limits, parse_nano_cpus
    from dockyard.runtime.restart import RestartPolicy
    from dockyard.runtime.spec import Overrides, parse_env_file

_WHERE = {
    "CommitOptions": "commit", "ContainerNotFoundError": "container_state", "ContainerStartError": "containers",
    "CreateOptions": "containers", "ContainerPathNotFoundError": "copy", "CopyOptions": "copy", "CopyPathError": "copy",
    "EXEC_FAILED": "exec", "ExecOptions": "exec", "ExecStartError": "exec", "HealthConfig": "health",
    "parse_duration": "health", "Isolation": "isolation", "DEVICE_CGROUP_RULE": "isolation", "parse_link": "links",
    "RunFlags": "isolation", "Ulimit": "isolation", "DeviceMapping": "isolation", "ULIMITS": "resources",
    "NetworkOptions": "network.attachment", "check_mac": "network.attachment", "parse_extra_host": "network.hosts", "parse_expose": "network.ports",
    "parse_publish": "network.ports", "Limits": "resources", "parse_nano_cpus": "resources",
    "RestartPolicy": "restart", "Overrides": "spec", "parse_env_file": "spec",
}  # fmt: skip

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"dockyard.runtime.{_WHERE[name]}"), name)
