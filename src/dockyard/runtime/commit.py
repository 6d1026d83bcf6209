"""``commit``: a container's writable layer becomes the top layer of a new image.

The layer tar is written to a spool file under the store's ``tmp/`` (swept
after a crash), then stored like any other layer, so its diff ID is the
digest of exactly the bytes ``save`` and ``push`` will send and Docker
computes the same image ID from the same config and layers. A running
container is frozen (runc pause) while its layer is read, as Docker does with
``--pause``, and thawed after, even on error, and by a guard process if the
command is killed meanwhile.

The config is the container's config, or the one the API's request body
gives, with ``-c`` changes applied and then, as dockerd merges it, what it
leaves empty filled from the container's; the history gains the entry Docker
writes (``empty_layer`` when nothing changed, and then no layer is added).
"""

from __future__ import annotations

import contextlib
import copy
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from dockyard.archive.tarstream import TarStream
from dockyard.image.changes import apply_changes
from dockyard.image.layerstore import LayerJob
from dockyard.oci.container_config import docker_container_config
from dockyard.oci.descriptor import canonical_json
from dockyard.oci.digest import Digest, Digester
from dockyard.oci.reference import Reference
from dockyard.oci.timefmt import format_time
from dockyard.runtime import container_fs, resources
from dockyard.runtime.runc import RuncError

if TYPE_CHECKING:
    from dockyard.image.store import ImageStore
    from dockyard.runtime.containers import Container, ContainerStore
    from dockyard.runtime.runc import Runc


@dataclass(frozen=True, slots=True)
class CommitOptions:
    message: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)
    pause: bool = True
    tag: Reference | None = None
    config: dict[str, Any] | None = None  # Docker's container Config JSON the API's body gives (None: the container's)


# Go's zero values of container.Config's fields that a JSON body may leave out and dockerd still writes
GO_ZERO_CONFIG: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}  # fmt: skip


def container_config(container: Container) -> dict[str, Any]:
    """The container's config as Docker stores it in an image (Go's order; empty optional keys left out)."""
    return docker_container_config(container.record["Config"])


def image_config(base: dict[str, Any], container: Container, opts: CommitOptions, diff_id: Digest | None,
                 created: datetime) -> bytes:
    own = container_config(container)
    config = copy.deepcopy(own if opts.config is None else {**GO_ZERO_CONFIG, **opts.config})
    apply_changes(config, opts.changes)
    merge_config(config, own)
    config = docker_container_config(config)  # a key a change added takes its place in Go's order
    when = format_time(created)
    entry: dict[str, Any] = {"created": when}
    if opts.author:
        entry["author"] = opts.author
    entry["created_by"] = " ".join(container.record["Config"].get("Cmd") or [])
    if opts.message:
        entry["comment"] = opts.message
    if diff_id is None:
        entry["empty_layer"] = True
    rootfs = base.get("rootfs") or {"type": "layers", "diff_ids": []}
    document: dict[str, Any] = {
        "architecture": base.get("architecture", ""),
        **({"author": opts.author} if opts.author else {}),
        "config": config,
        "container": container.id,
        "container_config": container_config(container),
        "created": when,
        "history": [*(base.get("history") or []), entry],
        "os": base.get("os", "linux"),
        "rootfs": {"type": "layers", "diff_ids": [*(rootfs.get("diff_ids") or []), *([str(diff_id)] if diff_id else [])]},
    }
    for key in ("variant", "os.version"):
        if key in base:
            document[key] = base[key]
    return canonical_json(dict(sorted(document.items())))


def merge_config(config: dict[str, Any], container: dict[str, Any]) -> None:
    """Fill what ``config`` leaves empty from the container's config, key by key as dockerd's commit merges."""
    for key in ("User", "WorkingDir", "StopSignal"):
        if not config.get(key):
            config[key] = container.get(key)
    for key in ("ExposedPorts", "Volumes"):  # sets as JSON objects: the union
        if config.get(key) or container.get(key):
            config[key] = {**(container.get(key) or {}), **(config.get(key) or {})}
    env = config.get("Env") or []
    names = {e.partition("=")[0] for e in env}
    config["Env"] = [*env, *(e for e in container.get("Env") or [] if e.partition("=")[0] not in names)]
    config["Labels"] = {**(container.get("Labels") or {}), **(config.get("Labels") or {})}
    if not config.get("Entrypoint"):
        if not config.get("Cmd"):
            config["Cmd"] = container.get("Cmd")
        if config.get("Entrypoint") is None:
            config["Entrypoint"] = container.get("Entrypoint")
    theirs = container.get("Healthcheck")
    if theirs:
        mine = config.get("Healthcheck")
        config["Healthcheck"] = theirs if mine is None else {**theirs, **{k: v for k, v in mine.items() if v}}


def _thaw_if_we_die(runtime: Runc, cid: str) -> tuple[int, int]:
    """A guard process that thaws the container should this one die (kill -9) while it is frozen.

    Returns (guard pid, write end of its pipe): write a byte when done, then close and reap.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the guard
        os.close(w)
        os.setsid()  # a Ctrl-C meant for the command does not reach the guard
        try:
            if not os.read(r, 1):  # EOF without a word: the committing process is gone
                runtime.resume(cid)
        finally:
            os._exit(0)
    os.close(r)
    return pid, w


@contextlib.contextmanager
def _frozen(store: ContainerStore, container: Container, pause: bool) -> Iterator[None]:
    """Freeze a running container for the block (not one already paused, which stays so); a rootless one
    has no freezer and is copied running, as Podman commits by default."""
    if not pause or container.state.get("Status") != "running" or not resources.freezer_available():
        yield
        return
    runtime = store.runtime(container.record)
    guard, done = _thaw_if_we_die(runtime, container.id)  # before pausing: no window left unguarded
    try:
        try:
            runtime.pause(container.id)
        except RuncError:
            # the process ended after its state was read (a short command just started): nothing to freeze
            if runtime.status(container.id) in ("running", "paused"):
                raise
            yield
            return
        try:
            yield
        finally:
            runtime.resume(container.id)
    finally:
        os.write(done, b"x")
        os.close(done)
        os.waitpid(guard, 0)


def _is_empty_tar(path: Path) -> bool:
    with open(path, "rb") as f:
        return TarStream(f, Digester(), lambda _raw: None).next() is None


def commit(store: ContainerStore, images: ImageStore, container: Container, opts: CommitOptions,
           spool: tuple[int, str]) -> Digest:
    """Store the container's changes as a new image; return its ID. ``spool`` is an open temp file (fd, path)."""
    fd, spool_path = spool
    out = os.fdopen(fd, "wb")
    try:
        base = images.config(container.image_id).data
        # validate -c before the (long) layer write
        apply_changes(copy.deepcopy(container_config(container)), opts.changes)
        with _frozen(store, container, opts.pause), out:
            found = container_fs.changes(store, container)
            container_fs.write_layer(store, container, found, out)
            out.flush()
            os.fsync(out.fileno())
        empty = _is_empty_tar(Path(spool_path))
        parent = images.db.image(container.image_id)
        top = Digest.parse(parent.top_layer) if parent and parent.top_layer else None
        jobs = [] if empty else [LayerJob(lambda: open(spool_path, "rb"))]
        staged = images.layers.stage(top, jobs)
        diff_id = None if empty else staged.layers[-1].diff_id
        try:
            raw = image_config(base, container, opts, diff_id, datetime.now(timezone.utc))
        except BaseException:
            images.layers.discard(staged)
            raise
        image_id, _ = images.add(raw, staged, tags=[opts.tag] if opts.tag else [], parent=container.image_id)
        return image_id
    finally:
        out.close()
        Path(spool_path).unlink(missing_ok=True)
