"""Named network namespaces: an nsfs bind mount on a file, as ``ip netns add`` makes them.

The file lives under the store root (``network/netns/<container id>``), so
each store's namespaces are its own and a leak shows up as a mount under the
root. ``unshare --net=FILE`` creates the namespace and binds it in one step.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from dockyard.errors import DockyardError, StorageError
from dockyard.runtime.rootfs import is_mounted
from dockyard.storage.mount import unmount


class NetnsError(DockyardError):
    """The network namespace could not be created."""


def create(path: Path) -> None:
    """Idempotent: an existing namespace at ``path`` is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and is_mounted(path):
        return
    path.touch(mode=0o444)
    result = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        raise NetnsError(f"create network namespace {path}: {result.stderr.strip()}")


def remove(path: Path) -> None:
    """Idempotent: unmount (every stacked mount) and delete the file."""
    while path.exists() and is_mounted(path):
        try:
            unmount(path)
        except StorageError:
            if is_mounted(path):  # not another process tearing the same sandbox down at once
                raise
    path.unlink(missing_ok=True)


def add_addresses(path: Path, ifname: str, addresses: tuple[str, ...]) -> None:
    """Extra addresses on an interface inside the namespace (Docker's link-local IPs): /16 for IPv4, /64 for
    IPv6 as Docker gives them; raises NetnsError with ``ip``'s complaint."""
    for address in addresses:
        cidr = f"{address}/{64 if ':' in address else 16}"
        result = subprocess.run(["nsenter", f"--net={path}", "ip", "addr", "add", cidr, "dev", ifname],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise NetnsError(f"add link-local address {address}: {result.stderr.strip()}")
