"""The one place that performs mounts a driver describes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dockyard.errors import StorageError
from dockyard.storage.driver import Mount


def mount_all(mounts: list[Mount], target: Path) -> None:
    for m in mounts:
        argv = ["mount", "-t", m.type, "-o", ",".join(m.options), m.source, str(target)]
        if m.type == "bind":
            argv = ["mount", "-o", ",".join(("bind", *m.options)), m.source, str(target)]
        result = subprocess.run(argv, cwd=m.cwd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StorageError(f"mount {m.type} on {target}: {result.stderr.strip()}")


def unmount(target: Path) -> None:
    result = subprocess.run(["umount", str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        raise StorageError(f"unmount {target}: {result.stderr.strip()}")


def overlay_supported(scratch: Path) -> bool:
    """Try a real two-lower overlay mount: the kernel and the backing filesystem both must agree."""
    dirs = [scratch / n for n in ("l1", "l2", "m")]
    try:
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
        mount_all([Mount("overlay", "overlay", (f"lowerdir={dirs[1]}:{dirs[0]}",))], dirs[2])
    except (StorageError, OSError):
        return False
    else:
        unmount(dirs[2])
        return True
    finally:
        for d in dirs:
            try:
                d.rmdir()
            except OSError:
                pass
