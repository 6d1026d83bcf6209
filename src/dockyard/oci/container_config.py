"""A container's Config as Docker writes it (Go's ``container.Config``): its keys in Go's order.

Apart from the image config's module so that ``inspect`` of a container prints its Config without
creating the image config's record types.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# Keys of the container config Docker writes, in its order (Go struct order).
CONTAINER_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
    "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled",
    "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
)  # fmt: skip
# ... of which Go leaves these out when empty (``json:",omitempty"``)
CONTAINER_CONFIG_OMIT_EMPTY = frozenset({
    "ExposedPorts", "Healthcheck", "ArgsEscaped", "NetworkDisabled", "MacAddress", "StopSignal", "StopTimeout", "Shell",
})


def docker_container_config(stored: dict[str, Any]) -> dict[str, Any]:
    """A container's Config as dockerd marshals it: Go's field order, an empty Env null, empty optional keys out."""
    values = {**stored, "Env": stored.get("Env") or None}
    return {key: values[key] for key in CONTAINER_CONFIG_KEYS
            if key in values and not (key in CONTAINER_CONFIG_OMIT_EMPTY and not values[key])}
