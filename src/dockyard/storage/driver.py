"""The storage driver interface and the two drivers.

A driver owns one directory per layer, named by a random cache ID (fresh
names also avoid ext4's slow re-creation of just-deleted trees). Drivers
return mounts as data; ``storage.mount`` is the one place that performs them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dockyard.archive.apply import Whiteouts
from dockyard.errors import StorageError


@dataclass(frozen=True, slots=True)
class Mount:
    type: str
    source: str
    options: tuple[str, ...] = ()
    cwd: str | None = None  # overlay resolves relative lowerdirs from here (keeps options within a page)


class Driver(Protocol):
    """Lifecycle: ``create`` a layer dir, apply a tar into ``diff_path``,
    then the layer store records it; ``remove`` is idempotent."""

    name: str
    whiteouts: Whiteouts
    home: Path

    def create(self, cache_id: str, parents: list[str]) -> Path: ...

    def diff_path(self, cache_id: str) -> Path: ...

    def remove(self, cache_id: str) -> None: ...

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]: ...


def new_cache_id() -> str:
    return secrets.token_hex(32)


def _remove_tree(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        # a fresh name first, so a crash mid-delete never leaves a half tree under the old name
        doomed = path.with_name(f".removing-{path.name}")
        os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


class Overlay2:
    """Docker's overlay2 layout: <id>/diff, <id>/link, <id>/lower, <id>/work, l/<short> -> ../<id>/diff."""

    name = "overlay2"
    whiteouts = Whiteouts.OVERLAY

    def __init__(self, home: Path) -> None:
        self.home = home
        (home / "l").mkdir(parents=True, exist_ok=True)

    def diff_path(self, cache_id: str) -> Path:
        return self.home / cache_id / "diff"

    def short_link(self, cache_id: str) -> str:
        return (self.home / cache_id / "link").read_text()

    def create(self, cache_id: str, parents: list[str]) -> Path:
        """``parents`` bottom first."""
        layer = self.home / cache_id
        (layer / "diff").mkdir(parents=True)
        from base64 import b32encode

        short = b32encode(secrets.token_bytes(16)).decode().rstrip("=")[:26]
        os.symlink(f"../{cache_id}/diff", self.home / "l" / short)
        (layer / "link").write_text(short)
        if parents:
            (layer / "work").mkdir()
            lower = ":".join(f"l/{self.short_link(p)}" for p in reversed(parents))
            (layer / "lower").write_text(lower)
        return layer / "diff"

    def remove(self, cache_id: str) -> None:
        layer = self.home / cache_id
        try:
            (self.home / "l" / (layer / "link").read_text()).unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        _remove_tree(layer)

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]:
        """``layers`` bottom first; without ``upper`` the mount is read-only."""
        lowers = ":".join(f"l/{self.short_link(c)}" for c in reversed(layers))
        if upper is None and len(layers) == 1:
            return [Mount("bind", str(self.diff_path(layers[0])), ("ro", "rbind"))]
        options = [f"lowerdir={lowers}"]
        if upper is not None:
            options += [f"upperdir={upper}/diff", f"workdir={upper}/work"]
        return [Mount("overlay", "overlay", tuple(options), cwd=str(self.home))]

    def sweep(self, known: set[str]) -> None:
        """Remove layer dirs no metadata row names, and dangling short links."""
        for name in os.listdir(self.home):
            if name == "l" or name in known:
                continue
            if not (self.home / name).is_dir():
                (self.home / name).unlink()
            elif name.startswith(".removing-"):
                shutil.rmtree(self.home / name, ignore_errors=True)
            else:
                self.remove(name)
        for short in os.listdir(self.home / "l"):
            if not (self.home / "l" / short).exists():
                (self.home / "l" / short).unlink()


class Vfs:
    """A full copy of the parent per layer: works on any filesystem."""

    name = "vfs"
    whiteouts = Whiteouts.DELETE

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def diff_path(self, cache_id: str) -> Path:
        return self.home / cache_id / "diff"

    def create(self, cache_id: str, parents: list[str]) -> Path:
        diff = self.diff_path(cache_id)
        diff.parent.mkdir(parents=True)
        if parents:
            import subprocess

            # GNU cp keeps owners, modes, xattrs, hardlinks and devices, and reflinks where it can
            result = subprocess.run(
                ["cp", "-a", "--reflink=auto", str(self.diff_path(parents[-1])), str(diff)],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StorageError(f"vfs: copy parent layer: {result.stderr.strip()}")
        else:
            diff.mkdir()
        return diff

    def remove(self, cache_id: str) -> None:
        _remove_tree(self.home / cache_id)

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]:
        source = self.diff_path(upper.rsplit("/", 1)[-1]) if upper else self.diff_path(layers[-1])
        return [Mount("bind", str(source), ("rbind",) if upper else ("ro", "rbind"))]

    def sweep(self, known: set[str]) -> None:
        for name in os.listdir(self.home):
            if name in known:
                continue
            if (self.home / name).is_dir():
                shutil.rmtree(self.home / name, ignore_errors=True)
            else:
                (self.home / name).unlink()
