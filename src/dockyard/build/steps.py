"""The steps that change the filesystem (RUN, COPY/ADD, WORKDIR), run in a worker thread.

Each gets its parent layer stack (resolved on the builder's thread), has
the snapshotter prepare an active layer over it, does its work, and returns
the change set as a layer tar on disk (an empty tar when nothing
changed: Docker 20.10's BuildKit keeps such layers too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dockyard.build import fsops
from dockyard.build.context import BuildContext, Source
from dockyard.build.errors import BuildStepError
from dockyard.build.executor import BindMount, RunRequest, StepRunner
from dockyard.build.ignore import IgnoreMatcher
from dockyard.build.workspace import Workspace
from dockyard.errors import DockyardError, InvalidArgumentError
from dockyard.storage.snapshotter import Committed, Snapshotter

# mount points runc creates when the image lacks them; they must not end up in the layer
_RUNTIME_PATHS = ("/proc", "/sys", "/dev", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname")


@dataclass(slots=True)
class Env:
    """What every step needs from the builder."""

    snapshotter: Snapshotter
    tmp: Path
    runner: StepRunner
    clamp: float | None  # reproducible builds: no mtime later than this
    cache_mounts: Path


@dataclass(slots=True)
class CopyItem:
    source: Source
    root: Path  # the tree ``source`` lives in (context or another stage's mounted rootfs)
    walk: list[str] = field(default_factory=list)  # below a directory source, in order


@dataclass(slots=True)
class CopyPlan:
    dest: str  # absolute, a trailing "/" kept
    owner: fsops.Owner | None
    mode: int | None
    items: list[CopyItem] = field(default_factory=list)
    inline: list[tuple[str, bytes]] = field(default_factory=list)  # heredoc files: name, data
    archives: list[Path] = field(default_factory=list)  # ADD: local tars to unpack
    downloads: list[tuple[str, Path, float]] = field(default_factory=list)  # ADD URL: name, file, mtime
    from_stage: bool = False  # COPY --from: view ``from_parent`` and resolve ``from_paths`` there
    from_parent: Committed | None = None
    from_paths: list[str] = field(default_factory=list)
    chown_spec: str = ""


# a step that changed nothing still makes a layer, as Docker 20.10's BuildKit does: the empty tar
# Go writes (two zero blocks), whose diff ID is the well-known sha256:5f70bf18…
EMPTY_TAR = bytes(1024)


def _spool_diff(ws: Workspace, env: Env) -> Path:
    fd, name = tempfile.mkstemp(dir=env.tmp, prefix="layer-", suffix=".tar")
    with os.fdopen(fd, "wb") as out:
        if not ws.diff(out, env.clamp):
            out.write(EMPTY_TAR)
    return Path(name)


def run_in_workspace(env: Env, parent: Committed | None, work: Callable[[Workspace], None], cleanup: tuple[str, ...] = ()) -> Path:
    ws = Workspace(env.snapshotter, parent, env.tmp)
    try:
        ws.open()
        missing = [p for p in cleanup if not os.path.lexists(fsops.confined(ws.rootfs, p, follow_last=False))]
        try:
            work(ws)
        finally:
            ws.close()
        for path in missing:
            _drop_created(ws.upper, path)
        return _spool_diff(ws, env)
    finally:
        ws.remove()


def _drop_created(upper: Path, path: str) -> None:
    """Remove a mount point runc created (an empty file or directory) and the empty directories above it."""
    target = upper / path.lstrip("/")
    while target != upper and os.path.lexists(target):
        if target.is_dir() and not target.is_symlink():
            if any(target.iterdir()):
                return
            target.rmdir()
        elif target.is_file() and not target.is_symlink() and target.stat().st_size == 0:
            target.unlink()
        else:
            return
        target = target.parent


# RUN --------------------------------------------------------------------------------


@dataclass(slots=True)
class RunPlan:
    request: RunRequest
    script: tuple[str, str] | None = None  # (path inside the container, content) for a heredoc with #!
    stage_mounts: list[StageMount] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)  # targets of empty scratch directories


@dataclass(frozen=True, slots=True)
class StageMount:
    """RUN --mount=type=bind,from=: a path of another stage's (or image's) root filesystem."""

    parent: Committed | None
    source: str
    target: str
    readonly: bool


def execute_run(env: Env, parent: Committed | None, plan: RunPlan, output: Callable[[bytes, bool], None], label: str) -> Path:
    tail: deque[str] = deque(maxlen=10)
    partial = [b""]

    def collect(chunk: bytes, stderr: bool) -> None:
        output(chunk, stderr)
        lines = (partial[0] + chunk).split(b"\n")
        partial[0] = lines.pop()
        tail.extend(line.decode(errors="replace") for line in lines)

    code = [0]
    mounts = list(plan.request.mounts)
    scratch: list[Path] = []
    sources: list[Workspace] = []

    def work(ws: Workspace) -> None:
        for m in plan.stage_mounts:  # writes to them land in their own upper directory: discarded
            sources.append(Workspace(env.snapshotter, m.parent, env.tmp).open())
            mounts.append(BindMount(str(fsops.confined(sources[-1].rootfs, m.source)), m.target, m.readonly))
        for target in plan.tmpfs:
            scratch.append(Path(tempfile.mkdtemp(dir=env.tmp, prefix="tmpfs-")))
            mounts.append(BindMount(str(scratch[-1]), target, False))
        if plan.script is not None:
            fd, name = tempfile.mkstemp(dir=env.tmp, prefix="script-")
            with os.fdopen(fd, "w") as f:
                f.write(plan.script[1])
            os.chmod(name, 0o755)
            scratch.append(Path(name))
            mounts.append(BindMount(name, plan.script[0]))
        request = dataclasses.replace(plan.request, rootfs=str(ws.rootfs), mounts=tuple(mounts))
        fsops.make_dirs(ws.rootfs, plan.request.cwd)
        try:
            code[0] = env.runner.run(request, collect)
        except DockyardError as exc:
            raise BuildStepError(f"executor failed running [{' '.join(plan.request.argv)}]: {exc}", label, list(tail)) from None

    targets = _RUNTIME_PATHS + tuple(m.destination for m in mounts) + tuple(m.target for m in plan.stage_mounts)
    targets += tuple(plan.tmpfs) + ((plan.script[0],) if plan.script else ())
    try:
        result = run_in_workspace(env, parent, work, cleanup=targets)
    finally:
        for source in sources:
            source.remove()
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    if partial[0]:
        tail.append(partial[0].decode(errors="replace"))
    if code[0] != 0:
        result.unlink(missing_ok=True)
        argv = " ".join(plan.request.argv)
        raise BuildStepError(f"executor failed running [{argv}]: exit code: {code[0]}", label, list(tail), code[0], argv)
    return result


def cache_mount_dir(env: Env, ident: str) -> Path:
    path = env.cache_mounts / hashlib.sha256(ident.encode()).hexdigest()[:32]
    path.mkdir(parents=True, exist_ok=True)
    return path


# COPY / ADD -------------------------------------------------------------------------


def execute_copy(env: Env, parent: Committed | None, plan: CopyPlan) -> Path:
    def work(ws: Workspace) -> None:
        root = ws.rootfs
        owner = fsops.parse_chown(root, plan.chown_spec) if plan.chown_spec else None
        if plan.from_stage:
            source_ws = Workspace(env.snapshotter, plan.from_parent, env.tmp, writable=False).open()
            try:
                context = BuildContext(source_ws.rootfs, IgnoreMatcher([]))
                items = []
                for path in plan.from_paths:
                    for source in context.resolve(_confine_source(source_ws.rootfs, path)):
                        items.append(CopyItem(source, source_ws.rootfs, context.walk(source) if source.is_dir else []))
                _copy_items(root, plan, items, owner)
            finally:
                source_ws.remove()
        else:
            _copy_items(root, plan, plan.items, owner)

    return run_in_workspace(env, parent, work)


def _confine_source(root: Path, path: str) -> str:
    """A source path in another stage, its symlinked directories resolved inside that stage."""
    clean = posixpath.normpath("/" + path)
    parent, name = posixpath.split(clean)
    real = fsops.confined(root, parent)
    rel = os.path.relpath(real, root)
    rel = "" if rel == "." else rel
    return posixpath.join(rel, name) if name else rel or "."


def _copy_items(root: Path, plan: CopyPlan, items: list[CopyItem], owner: fsops.Owner | None) -> None:
    dest = plan.dest
    owner = owner or plan.owner
    count = len(items) + len(plan.inline) + len(plan.downloads)
    existing = fsops.confined(root, dest)
    into_dir = dest.endswith("/") or existing.is_dir()
    if count > 1 and not into_dir:
        raise InvalidArgumentError("When using COPY with more than one source file, the destination must be a directory and end with a /")
    base = dest.rstrip("/") or "/"
    if into_dir:
        fsops.make_dirs(root, base, owner)  # a destination directory COPY creates belongs to --chown's user
    for item in items:
        if item.source.is_dir:
            fsops.make_dirs(root, base, owner)
            fsops.copy_entry(item.source.path, root, base, owner, plan.mode) if base != "/" else None
            known: dict[str, Path] = {}  # directories of this tree, resolved once
            top = os.path.relpath(item.source.path, item.root)
            cut = 0 if top == "." else len(top) + 1  # walked names are relative to item.root
            for rel in item.walk:
                fsops.copy_entry(item.root / rel, root, posixpath.join(base, rel[cut:]), owner, plan.mode, known)
            if base != "/":  # the directory's own time, after its contents changed it
                st = os.lstat(item.source.path)
                os.utime(fsops.confined(root, base), ns=(st.st_mtime_ns, st.st_mtime_ns))
        else:
            target = posixpath.join(base, posixpath.basename(item.source.rel)) if into_dir else base
            fsops.copy_entry(item.source.path, root, target, owner, plan.mode)
    now = time.time()
    for name, data in plan.inline:
        target = posixpath.join(base, name) if into_dir else base
        fsops.write_file(root, target, data, owner, plan.mode if plan.mode is not None else 0o644, now)
    for name, path, mtime in plan.downloads:
        target = posixpath.join(base, name) if into_dir else base
        fsops.write_file(root, target, path, owner, plan.mode if plan.mode is not None else 0o600, mtime)
    for archive in plan.archives:
        fsops.extract_archive(archive, root, base, owner)


def execute_mkdir(env: Env, parent: Committed | None, path: str, user: str) -> Path:
    def work(ws: Workspace) -> None:
        fsops.make_dirs(ws.rootfs, path, fsops.parse_chown(ws.rootfs, user) if user else None)

    return run_in_workspace(env, parent, work)
