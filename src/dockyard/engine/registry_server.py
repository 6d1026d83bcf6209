"""The registry server as the engine offers it: configuration, ``serve`` and ``gc``.

A face names the configuration (a YAML file, a storage root, overrides from
flags) and gets a checked ``ServerConfig``; ``serve`` runs until a signal,
``collect_garbage`` returns the collector's report. Nothing here prints; the
server logs through ``logging``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dockyard.errors import NotFoundError
from dockyard.registry.server.config import ServerConfig
from dockyard.registry.server.gc import Report as GcReport

__all__ = ["GcOptions", "GcReport", "ServerConfig", "collect_garbage", "load_config", "probe_storage", "serve"]


@dataclass(frozen=True, slots=True)
class GcOptions:
    dry_run: bool = False
    delete_untagged: bool = False
    grace: float | None = None  # None: the configuration's
    upload_ttl: float | None = None


def load_config(path: Path | None, root: Path, *, explicit_root: bool = False, **overrides: object) -> ServerConfig:
    """The YAML file's configuration (defaults without one), then ``root`` when given on the command line,
    then every override that is not None."""
    from dockyard.registry.server import config

    loaded = config.load(path, root)
    if explicit_root:
        loaded = loaded.with_overrides(root=root)
    return loaded.with_overrides(**overrides)


def probe_storage(conf: ServerConfig) -> None:
    """Reach the S3 bucket before anything is announced: a wrong endpoint or key raises OSError here."""
    from dockyard.registry.server.backend import open_storage

    if conf.s3_endpoint:
        open_storage(conf.check())


def serve(conf: ServerConfig, on_ready: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT; OSError when the address cannot be listened on."""
    from dockyard.registry.server.serve import serve as run

    run(conf, on_ready=on_ready)


def collect_garbage(conf: ServerConfig, options: GcOptions) -> GcReport:
    """Mark and sweep the registry's storage; NotFoundError when there is none at its root."""
    from dockyard.registry.server.backend import open_storage
    from dockyard.registry.server.gc import collect
    from dockyard.registry.server.registry import Registry

    conf = conf.check()
    if not conf.s3_endpoint and not conf.root.is_dir():
        raise NotFoundError(f"no registry storage at {conf.root}")
    registry = Registry(open_storage(conf, create=False))
    return collect(
        registry, dry_run=options.dry_run, delete_untagged=options.delete_untagged,
        grace=conf.gc_grace if options.grace is None else options.grace,
        upload_ttl=conf.upload_ttl if options.upload_ttl is None else options.upload_ttl,
    )  # fmt: skip
