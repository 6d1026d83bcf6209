"""Paths inside a root filesystem that cannot lead out of it."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.errors import StorageError

MAX_SYMLINK_HOPS = 40  # as Linux's path walk


def confined(root: Path, path: str, follow_last: bool = True) -> Path:
    """``root/path`` with every symlink resolved inside ``root``: an image or a container names its own
    files, never the host's. ``..`` stops at ``root``; ``follow_last=False`` keeps a final symlink itself."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if candidate.is_symlink() and (parts or follow_last):
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise StorageError(f"too many levels of symbolic links resolving {path}")
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            current = root if target.startswith("/") else current
            continue
        current = candidate
    return current
