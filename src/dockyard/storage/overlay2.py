"""overlay2: Docker's layer layout (its snapshotter, which stacks active layers on it with overlayfs, is
``storage.overlay2_snapshotter``).

Layer directories: ``<id>/diff``, ``<id>/link`` (the short name), ``<id>/lower``
(the parents' short names), ``<id>/work``, and ``l/<short> -> ../<id>/diff``,
which keeps a many-layer mount option within a page. ``create`` writes
``link`` atomically before it makes the short link, so a crash leaves either
no short link or one whose layer names it; the sweep removes both.
"""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.storage.dirs import remove_tree, sweep_each, write_atomic
from dockyard.storage.mount import Mount

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from dockyard.archive.apply import Whiteouts
    from dockyard.storage.layers import LayerStoreImpl
    from dockyard.storage.overlay2_snapshotter import Overlay2Snapshotter


def _valid_short(short: str) -> bool:
    return bool(short) and "/" not in short and short not in (".", "..")


class Overlay2:
    """Committed layer directories in Docker's overlay2 layout."""

    name = "overlay2"

    def __init__(self, home: Path, *, userxattr: bool = False) -> None:
        """``userxattr``: mounted in a user namespace, where overlay keeps its state in ``user.overlay.*``."""
        self.home = home
        self.userxattr = userxattr
        (home / "l").mkdir(parents=True, exist_ok=True)

    @property
    def whiteouts(self) -> Whiteouts:
        from dockyard.archive.apply import Whiteouts

        return Whiteouts.OVERLAY_USERXATTR if self.userxattr else Whiteouts.OVERLAY

    def diff_path(self, cache_id: str) -> Path:
        return self.home / cache_id / "diff"

    def snapshotter(self, layers: LayerStoreImpl, tmp: Path) -> Overlay2Snapshotter:
        """This driver's snapshotter, over the layer store that owns its committed layers (its module loads
        here: ``rmi`` deletes layer directories without it)."""
        from dockyard.storage.overlay2_snapshotter import Overlay2Snapshotter

        return Overlay2Snapshotter(self, layers, tmp)

    def short_link(self, cache_id: str) -> str:
        return (self.home / cache_id / "link").read_text()

    def create(self, cache_id: str, parents: list[str]) -> Path:
        """``parents`` bottom first."""
        from dockyard.storage.placement import make_layer_dir

        layer = make_layer_dir(self.home, cache_id)
        (layer / "diff").mkdir()
        import secrets
        from base64 import b32encode

        short = b32encode(secrets.token_bytes(16)).decode().rstrip("=")[:26]
        write_atomic(layer / "link", short)  # before the short link: a crash never leaves an empty ``link``
        if parents:
            (layer / "work").mkdir()
            (layer / "lower").write_text(self._lower_above(parents))
        os.symlink(f"../{cache_id}/diff", self.home / "l" / short)
        return layer / "diff"

    def _lower_above(self, parents: list[str]) -> str:
        """The ``lower`` of a layer on ``parents`` (bottom first): the parent's own short link, then its
        ``lower``, as Docker builds it; two reads per layer, not one per layer below it."""
        top = parents[-1]
        below = ""
        if len(parents) > 1:
            try:
                below = (self.home / top / "lower").read_text()
            except FileNotFoundError:  # not made by create(): name every parent
                below = ":".join(f"l/{self.short_link(p)}" for p in reversed(parents[:-1]))
        return f"l/{self.short_link(top)}" + (f":{below}" if below else "")

    def remove(self, cache_id: str) -> None:
        layer = self.home / cache_id
        try:
            short = (layer / "link").read_text().strip()
        except OSError:
            short = ""
        if _valid_short(short):  # an empty or odd ``link`` (a crash mid-create) names no short link
            (self.home / "l" / short).unlink(missing_ok=True)
        remove_tree(layer)

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]:
        """``layers`` bottom first; without ``upper`` the mount is read-only."""
        lowers = ":".join(f"l/{self.short_link(c)}" for c in reversed(layers))
        if upper is None and len(layers) == 1:
            return [Mount("bind", str(self.diff_path(layers[0])), ("ro", "rbind"))]
        options = ["userxattr"] if self.userxattr else []
        options.append(f"lowerdir={lowers}")
        if upper is not None:
            options += [f"upperdir={upper}/diff", f"workdir={upper}/work"]
        return [Mount("overlay", "overlay", tuple(options), cwd=str(self.home))]

    def layer_problems(self, cache_id: str) -> list[str]:
        """What is wrong with a layer's directory (for ``system check``); empty when sound."""
        layer = self.home / cache_id
        if not (layer / "diff").is_dir():
            return ["layer directory missing"]
        try:
            short = (layer / "link").read_text().strip()
        except OSError:
            short = ""
        if not _valid_short(short):
            return ["its link file is missing or empty"]
        if os.path.realpath(self.home / "l" / short) != os.path.realpath(layer / "diff"):
            return [f"short link l/{short} missing"]
        return []

    def repair_layer(self, cache_id: str) -> bool:
        """Make a lost short link again (its name is in ``link``, which the layers above use)."""
        problems = self.layer_problems(cache_id)
        if not problems or not problems[0].startswith("short link"):
            return not problems
        link = self.home / "l" / self.short_link(cache_id).strip()
        link.unlink(missing_ok=True)  # it may lead somewhere else
        os.symlink(f"../{cache_id}/diff", link)
        return True

    def leftovers(self, known: set[str]) -> list[Path]:
        """Layer directories no row names, half-removed trees, and short links that lead nowhere."""
        out = [self.home / n for n in sorted(os.listdir(self.home)) if n != "l" and n not in known]
        links = self.home / "l"
        out += [links / s for s in sorted(os.listdir(links)) if not (links / s).exists()]
        return out

    def sweep(self, known: set[str]) -> None:
        """Remove the leftovers; one that cannot be removed is reported and skipped."""
        sweep_each(self.leftovers(known), self._remove_leftover)

    def _remove_leftover(self, path: Path) -> None:
        if path.parent == self.home / "l" or not path.is_dir() or path.is_symlink():
            path.unlink(missing_ok=True)
            return
        if not path.name.startswith(".removing-"):
            self.remove(path.name)  # its short link too
            path = path.with_name(f".removing-{path.name}")
        if path.exists():
            import shutil

            shutil.rmtree(path)  # what remove could not delete: say why


class FuseOverlay(Overlay2):
    """overlay2's layout mounted by ``fuse-overlayfs``: a user namespace where the kernel refuses overlay.
    It reads the kernel's whiteouts and opaque xattrs, so layers are applied as for overlay with userxattr."""

    name = "fuse-overlayfs"

    def __init__(self, home: Path) -> None:
        super().__init__(home, userxattr=True)

    def mounts(self, layers: list[str], upper: str | None) -> list[Mount]:
        return [fuse_mount(m) if m.type == "overlay" else m for m in super().mounts(layers, upper)]


def fuse_mount(overlay: Mount) -> Mount:
    """An overlay mount as fuse-overlayfs takes it: absolute directories, no kernel-only option."""
    options = []
    for opt in overlay.options:
        key, _, value = opt.partition("=")
        if key == "userxattr":
            continue
        if key in ("lowerdir", "upperdir", "workdir") and overlay.cwd:
            value = ":".join(os.path.join(overlay.cwd, v) for v in value.split(":"))
        options.append(f"{key}={value}")
    return Mount("fuse-overlayfs", "fuse-overlayfs", tuple(options))
