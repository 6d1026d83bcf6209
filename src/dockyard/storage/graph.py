"""Docker's ``GraphDriver`` of ``inspect``: where an image's or a container's layer directories are.

Worked out from the driver's name, its home and the stack's cache IDs alone, with no driver object or
layer store, so ``inspect`` reads it from metadata; the snapshotters answer ``graph_driver`` with it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Sequence


@dataclass(frozen=True, slots=True)
class GraphDriver:
    """Docker's ``GraphDriver`` of ``inspect``; ``data`` None prints as null."""

    name: str
    lower_dir: str | None = None
    upper_dir: str | None = None
    work_dir: str | None = None
    merged_dir: str | None = None

    def data(self) -> dict[str, str] | None:
        fields = {"LowerDir": self.lower_dir, "MergedDir": self.merged_dir, "UpperDir": self.upper_dir,
                  "WorkDir": self.work_dir}
        out = {k: v for k, v in fields.items() if v is not None}
        return out or None

    def to_json(self) -> dict[str, object]:
        return {"Data": self.data(), "Name": self.name}


def graph_driver(driver: str, home: Path, cache_ids: Sequence[str], key: str | None = None,
                 merged: str | None = None) -> GraphDriver:
    """``key`` None: an image, whose top layer is the upper directory and the ones below the lower; otherwise the
    active layer ``key`` (its ``diff`` and ``work``) over the whole stack. vfs layers are full copies: an image
    names no directory, a container only its own."""
    if driver not in ("overlay2", "fuse-overlayfs"):
        return GraphDriver(driver) if key is None else GraphDriver(driver, None, str(Path(key) / "diff"),
                                                                   str(Path(key) / "work"), merged)
    if key is None:
        if not cache_ids:
            return GraphDriver(driver)
        top = home / cache_ids[-1]
        lower = ":".join(str(home / c / "diff") for c in reversed(cache_ids[:-1])) or None
        return GraphDriver(driver, lower, str(top / "diff"), str(top / "work"), str(top / "merged"))
    lower = ":".join(str(home / c / "diff") for c in reversed(cache_ids)) or None
    return GraphDriver(driver, lower, str(Path(key) / "diff"), str(Path(key) / "work"), merged)
