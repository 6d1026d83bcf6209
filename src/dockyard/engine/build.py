"""The build service: Dockerfile builds from typed options, and the build cache.

It wires the builder's parts (``build.builder.Services``): RUN steps through
runc, layers and cache in this store, base images through
``engine.ensure_image``. It reads the build's inputs (a context directory, a
URL, an archive or a Dockerfile on stdin) into a scratch directory under the
root that the crash sweep clears. Progress goes to the caller's
``build.progress.Progress``; nothing here prints.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable

from dockyard.build.builder import BuildOptions, Services
from dockyard.build.cache import BuildCache
from dockyard.build.errors import BuildStepError
from dockyard.build.output import Output
from dockyard.build.progress import Progress
from dockyard.errors import InvalidArgumentError
from dockyard.oci.digest import Digest
from dockyard.oci.reference import Reference, parse_docker_ref

if TYPE_CHECKING:
    from dockyard.build.executor import RunRequest, StepRunner
    from dockyard.engine import Engine
    from dockyard.registry.client.auth import Credentials
    from dockyard.runtime.network.attachment import ContainerNetworking

__all__ = [
    "BuildOptions", "BuildReport", "BuildRequest", "BuildService", "BuildSource", "BuildStepError", "Output", "Progress",
    "PruneReport", "parse_tag",
]  # fmt: skip


def parse_tag(text: str) -> Reference:
    """A ``-t`` value (``name[:tag]``, ``latest`` when none); InvalidArgumentError if it is no name."""
    return parse_docker_ref(text)


@dataclass(frozen=True, slots=True)
class BuildSource:
    """Where the Dockerfile and the context come from, as ``docker build PATH | URL | -`` names them."""

    location: str  # a directory, an http(s) URL (a tarball or a Dockerfile), or "-" for stdin
    dockerfile: str = ""  # -f: a path (relative to the context), or "-" for stdin
    stdin: BinaryIO | None = None


@dataclass(frozen=True, slots=True)
class BuildRequest:
    source: BuildSource
    options: BuildOptions = field(default_factory=BuildOptions)
    output: Output | None = None  # --output: export the filesystem instead of storing an image
    auths: dict[str, Credentials] = field(default_factory=dict)  # X-Registry-Config: logins for base images


@dataclass(frozen=True, slots=True)
class BuildReport:
    image_id: Digest | None  # None when the result was exported (--output)


@dataclass(frozen=True, slots=True)
class PruneReport:
    removed: tuple[str, ...]  # cache entry IDs as ``builder prune`` lists them
    reclaimed: int  # bytes


@dataclass(frozen=True, slots=True)
class _Inputs:
    dockerfile: bytes
    name: str  # as error messages name it
    context: Path | None  # None: no context (a Dockerfile alone)
    path: Path | None  # the Dockerfile's path, for its own .dockerignore


class BuildService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def cache(self) -> BuildCache:
        """The build cache with its RUN cache mounts."""
        return BuildCache(self.engine.db, self.engine.layers, self.engine.root / "build-cache")

    def services(self, progress: Progress, clamp_mtime: float | None, auths: dict[str, Credentials] | None = None) -> Services:
        """The builder's parts: RUN steps through runc, layers and cache in this store; base images
        pulled with ``auths`` when given (config.json keys -> logins), else the stored logins."""
        from dockyard.build.steps import Env

        engine = self.engine
        env = Env(engine.snapshotter, engine.tmp, _RuncRunner(engine), clamp_mtime, engine.root / "build-cache")

        def ensure_image(name: str, always: bool) -> None:
            from dockyard.engine.registry import PullPolicy

            policy = PullPolicy.ALWAYS if always else PullPolicy.MISSING
            engine.registry.ensure_image(name, policy, auths=auths)

        return Services(engine.images, engine.snapshotter.committed, env, ensure_image, progress, self.cache())

    def build(self, request: BuildRequest, progress: Progress) -> BuildReport:
        """Build (or export) the Dockerfile's target; errors are DockyardErrors (BuildStepError for a step)."""
        from dockyard.build.builder import Builder
        from dockyard.build.context import BuildContext, load_ignore
        from dockyard.build.instructions import parse_dockerfile
        from dockyard.build.parser import DockerfileSyntaxError

        with tempfile.TemporaryDirectory(dir=self.engine.tmp, prefix="context-") as scratch:
            inputs = _inputs(request.source, Path(scratch))
            try:
                dockerfile = parse_dockerfile(inputs.dockerfile)
            except DockerfileSyntaxError as exc:
                where = f"{inputs.name}:{exc.line}" if exc.line else inputs.name
                raise InvalidArgumentError(f"{where}: {exc}") from None
            context = BuildContext(inputs.context, load_ignore(inputs.context, inputs.path)) if inputs.context else None
            services = self.services(progress, request.options.epoch, request.auths)
            builder = Builder(services, dockerfile, context, request.options)
            if request.output is not None:
                builder.export(request.output)
                return BuildReport(None)
            image_id = builder.build()
        for ref in request.options.tags:  # Docker's ``tag`` event for every -t, moved or not
            self.engine.images.log_event("tag", str(image_id), ref.familiar)
        return BuildReport(image_id)

    def prune(self) -> PruneReport:
        """Drop every cache entry and cache mount (``builder prune``), not running builds' leases."""
        removed, reclaimed = self.cache().prune()
        self.engine.events.pruned("builder", reclaimed)
        return PruneReport(tuple(removed), reclaimed)


class _RuncRunner:
    """RUN steps through runc, whose modules load with the first step that runs: a cached build runs none."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._runner: StepRunner | None = None
        self._lock = threading.Lock()

    def run(self, request: RunRequest, output: Callable[[bytes, bool], None]) -> int:
        with self._lock:  # steps of parallel stages run on worker threads
            if self._runner is None:
                from dockyard.runtime.runc import Runc
                from dockyard.runtime.step import RuncStepRunner

                self._runner = RuncStepRunner(Runc(self.engine.root / "runc"), self.engine.tmp, self._networking)
        return self._runner.run(request, output)

    def _networking(self) -> ContainerNetworking:
        """For a step that joins a network, on its worker thread: a database connection of its own."""
        from dockyard.metadata.db import Database

        return self.engine.networking_on(Database(self.engine.db.path))


def _inputs(source: BuildSource, scratch: Path) -> _Inputs:
    from dockyard.build.context import fetch_context, spool, unpack_context
    from dockyard.build.fsops import is_archive

    location = source.location
    remote = location.startswith(("http://", "https://"))
    if location == "-" or remote:
        if remote and location.endswith(".git"):
            raise InvalidArgumentError(f"unable to prepare context: {location}: git repositories are not supported")
        data = fetch_context(location, scratch) if remote else spool(_stdin(source), scratch)
        if is_archive(data):
            context = unpack_context(data, scratch / "context")
            name = source.dockerfile or "Dockerfile"
            path = context / name.lstrip("/")
            if not path.is_file():
                raise InvalidArgumentError(f"failed to read dockerfile: open {name}: no such file or directory")
            return _Inputs(path.read_bytes(), name, context, path)
        if source.dockerfile:
            raise InvalidArgumentError("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles")
        return _Inputs(data.read_bytes(), "Dockerfile", None, None)
    root = Path(location)
    if not root.is_dir():
        raise InvalidArgumentError(f'unable to prepare context: path "{location}" not found')
    if source.dockerfile == "-":
        return _Inputs(_stdin(source).read(), "Dockerfile", root, None)
    path = Path(source.dockerfile) if source.dockerfile else root / "Dockerfile"
    if source.dockerfile and not path.exists() and not path.is_absolute():
        path = root / source.dockerfile
    if not path.is_file():
        raise InvalidArgumentError(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {path.resolve()}: no such file or directory"
        )
    return _Inputs(path.read_bytes(), str(path), root, path)


def _stdin(source: BuildSource) -> BinaryIO:
    if source.stdin is None:
        raise InvalidArgumentError("the build reads from stdin, but none was given")
    return source.stdin
