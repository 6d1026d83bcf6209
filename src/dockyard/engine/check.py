"""``system check``: an fsck of the store, and with ``repair`` the fixes that lose nothing anyone names.

Checks, in order: the database (SQLite's integrity and foreign-key checks);
every layer row against its driver directory (and overlay2's short link);
driver directories no row names (crash leftovers); layer refcounts
recomputed from what holds each layer; with ``verify_content``, every blob
re-hashed and every layer's tar rebuilt from its tar-split and hashed
against its diff ID; mounts under the root that nothing running holds.

``repair`` removes leftovers and stale mounts, rewrites a refcount and a lost
short link; what it cannot fix (a damaged database, a layer whose files are
gone or differ from its diff ID, a corrupt image config) stays a problem.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import DockyardError, StorageError
from dockyard.metadata import check as dbcheck
from dockyard.oci.digest import Digest

if TYPE_CHECKING:
    from dockyard.engine import Engine


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # database, layer, leftover, refcount, content, mount
    subject: str
    detail: str
    repaired: bool = False

    def line(self) -> str:
        return f"{'repaired' if self.repaired else 'problem'}: {self.kind} {self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class CheckReport:
    problems: tuple[Problem, ...]
    skipped: tuple[str, ...] = ()  # checks left out, and why

    @property
    def clean(self) -> bool:
        return all(p.repaired for p in self.problems)


def check_store(engine: Engine, *, repair: bool = False, verify_content: bool = False) -> CheckReport:
    found: list[Problem] = [Problem("database", str(engine.db.path), p) for p in dbcheck.integrity_problems(engine.db)]
    skipped: list[str] = []
    found += _layer_dirs(engine, repair)
    if engine.alone:
        found += _leftovers(engine, repair)
    else:
        skipped.append("leftover directories and mounts: another dockyard command is running")
    found += _refcounts(engine, repair)
    if verify_content:
        found += _blobs(engine, repair) + _layer_contents(engine)
    if engine.alone:
        found += _mounts(engine, repair)
    return CheckReport(tuple(found), tuple(skipped))


def _layer_dirs(engine: Engine, repair: bool) -> list[Problem]:
    out = []
    for row in engine.db.layers():
        for problem in engine.driver.layer_problems(row.cache_id):
            fixed = repair and engine.driver.repair_layer(row.cache_id)
            out.append(Problem("layer", row.chain_id, f"{problem} ({engine.driver.name}/{row.cache_id})", fixed))
    return out


def _leftovers(engine: Engine, repair: bool) -> list[Problem]:
    before = engine.layers.leftovers()
    if repair and before:
        engine.layers.sweep()
    after = set(engine.layers.leftovers()) if repair else set(before)
    return [Problem("leftover", str(p.relative_to(engine.root)), "named by no layer", p not in after) for p in before]


def _refcounts(engine: Engine, repair: bool) -> list[Problem]:
    out = []
    for chain, stored, expected in dbcheck.refcount_mismatches(engine.db):
        if repair:
            dbcheck.set_refcount(engine.db, chain, expected)
        out.append(Problem("refcount", chain, f"stored {stored}, held by {expected}", repair))
    return out


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _blobs(engine: Engine, repair: bool) -> list[Problem]:
    """Re-hash every blob; a corrupt one is deleted by ``repair`` unless it is an image's config (then unfixable)."""
    configs = {row.id for row in engine.db.images()}
    out = []
    for digest in engine.content.walk():
        path = engine.content.path(digest)
        if digest.algorithm != "sha256" or _hash_file(path) == digest.hex:
            continue
        fixable = str(digest) not in configs
        if repair and fixable:
            engine.content.delete(digest)
        out.append(Problem("content", str(digest), "content does not match its digest", repair and fixable))
    for image_id in configs:
        if not engine.content.exists(Digest.parse(image_id)):
            out.append(Problem("content", image_id, "image config blob missing"))
    return out


def _layer_contents(engine: Engine) -> list[Problem]:
    """Rebuild each layer's tar from its directory and tar-split; its digest must be the diff ID."""
    out = []
    for row in engine.db.layers():
        h = hashlib.sha256()
        try:
            engine.layers.export(Digest.parse(row.chain_id), h.update)
        except (DockyardError, OSError) as exc:
            out.append(Problem("layer", row.chain_id, f"cannot rebuild its tar: {exc}"))
            continue
        if f"sha256:{h.hexdigest()}" != row.diff_id:
            out.append(Problem("layer", row.chain_id, f"content differs from diff ID {row.diff_id}"))
    return out


def _mount_points(root: Path) -> list[str]:
    prefix = os.path.realpath(root) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4].replace("\\040", " ") for line in f]
    return sorted({p for p in points if p.startswith(prefix)}, key=lambda p: p.count("/"), reverse=True)


def _mounts(engine: Engine, repair: bool) -> list[Problem]:
    """Mounts under the root nothing running holds: killed builds' under tmp/, containers' that stopped or are gone."""
    root = Path(os.path.realpath(engine.root))
    known = dbcheck.container_ids(engine.db)
    out = []
    for point in _mount_points(root):
        parts = Path(point).relative_to(root).parts
        if parts[0] == "containers" and len(parts) > 1 and parts[1] in known and _running(engine, parts[1]):
            continue
        if parts[0] not in ("tmp", "containers", engine.driver.home.name):
            continue  # network namespaces, volumes: their owners keep them
        fixed = repair and _unmount(point)
        out.append(Problem("mount", point, "left mounted", fixed))
    return out


def _running(engine: Engine, cid: str) -> bool:
    try:
        return engine.containers.get(cid).running
    except DockyardError:
        return False


def _unmount(point: str) -> bool:
    from dockyard.storage.mount import unmount

    try:
        unmount(Path(point))
    except StorageError:
        return subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0
    return True
