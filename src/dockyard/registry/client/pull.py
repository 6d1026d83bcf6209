"""``pull``: a registry's image into the image store, pipelined.

Layers the store already has (by chain ID) are skipped. The others download
in up to ``max_concurrent`` threads into resumable partial files (see
``download``), while the layer store's worker processes read those files as
they grow: each layer is hashed, decompressed and extracted into its own
layer directory during its download, several at once. Nothing becomes
visible until every layer verified and the image store commits the image,
its tag and its repo digest in one transaction; any failure discards the
staged layers. The pulled manifest (and index) go to the content store, and
each compressed blob is kept there with its diff ID recorded, so a later push
of the same layer needs no recompression.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import (
    DockyardError,
    InvalidContentError,
    UnsupportedMediaTypeError,
)
from dockyard.image.layerstore import LayerJob, StagedLayers
from dockyard.image.store import ImageStore
from dockyard.oci.descriptor import Descriptor, Platform
from dockyard.oci.digest import Digest, chain_ids, check_layer_depth
from dockyard.oci.mediatype import LAYER_TYPES
from dockyard.oci.reference import Reference
from dockyard.registry.client.download import BlobDownload, DownloadCancelledError, sweep_stale
from dockyard.registry.client.errors import ConnectionFailedError
from dockyard.registry.client.progress import Event, Sink, discard
from dockyard.registry.client.repository import Repository
from dockyard.registry.client.resolve import (
    Resolved,
    check_config_platform,
    resolve,
    translate,
)
from dockyard.registry.client.session import Connector
from dockyard.registry.errcode import RegistryError

DEFAULT_CONCURRENT_DOWNLOADS = 3


@dataclass(frozen=True, slots=True)
class PullOptions:
    platform: Platform | None = None
    all_tags: bool = False
    max_concurrent: int = DEFAULT_CONCURRENT_DOWNLOADS


@dataclass(frozen=True, slots=True)
class PullResult:
    reference: Reference  # as pulled: with its tag or digest
    image_id: Digest
    digest: Digest
    updated: bool  # the name now points at another image than before (Docker's "Downloaded newer image")


@dataclass(slots=True)
class _Downloads:
    """The pull's download threads; errors are kept for the main thread."""

    items: list[tuple[str, BlobDownload]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, count: int, sink: Sink) -> None:
        work: queue.Queue[tuple[str, BlobDownload]] = queue.Queue()
        for item in self.items:
            work.put(item)

        def worker() -> None:
            while True:
                try:
                    short, download = work.get_nowait()
                except queue.Empty:
                    return
                if download.cancel.is_set():
                    continue  # the pull failed: leave queued blobs alone
                try:
                    download.run(lambda status, cur, total, s=short: sink(Event(s, status, cur, total)))  # type: ignore[misc]
                    sink(Event(short, "Extracting"))
                except DownloadCancelledError:
                    pass  # the error that made us cancel is reported, not this
                except BaseException as exc:  # handed to the main thread
                    self.errors.append(exc)
                    for _, other in self.items:
                        other.cancel.set()

        # daemon threads: Ctrl-C must not wait for downloads; their partial files stay for a resume
        self.threads = [threading.Thread(target=worker, daemon=True, name="download") for _ in range(max(1, count))]
        for thread in self.threads:
            thread.start()

    def wait(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self.threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def cancel(self) -> None:
        for _, download in self.items:
            download.cancel.set()


class Puller:
    """Pulls into ``store``; ``downloads`` keeps partial blobs across processes, ``tmp`` is swept scratch."""

    def __init__(self, store: ImageStore, connector: Connector, downloads: Path, tmp: Path, sink: Sink = discard) -> None:
        self.store = store
        self.connector = connector
        self.downloads = downloads
        self.tmp = tmp
        self.sink = sink

    def pull(self, ref: Reference, options: PullOptions = PullOptions()) -> list[PullResult]:
        sweep_stale(self.downloads)
        repo, first = self._open(ref, options)
        if not options.all_tags:
            assert first is not None
            return [self._pull_resolved(repo, ref, first, options)]
        try:
            tags = repo.tags()
        except RegistryError as exc:
            raise translate(exc, ref) from exc
        results = []
        for tag in sorted(tags):
            tagged = ref.name_only().with_tag(tag)
            results.append(self._pull_resolved(repo, tagged, resolve(repo, tagged, options.platform), options))
        return results

    def _open(self, ref: Reference, options: PullOptions) -> tuple[Repository, Resolved | None]:
        """Try each mirror, then the registry itself; the first that has the image serves the whole pull."""
        groups = self.connector.groups(ref.domain)
        for n, group in enumerate(groups):
            try:
                registry = self.connector.connect(ref.domain, group)
                repo = Repository(registry, ref.path)
                resolved = None if options.all_tags else resolve(repo, ref, options.platform)
                return repo, resolved
            except (ConnectionFailedError, RegistryError, DockyardError) as exc:
                if n == len(groups) - 1 or isinstance(exc, UnsupportedMediaTypeError):
                    raise
        raise AssertionError("no endpoint groups")

    def _pull_resolved(self, repo: Repository, ref: Reference, resolved: Resolved, options: PullOptions) -> PullResult:
        label = ref.familiar if ref.digest else (ref.tag or "latest")  # by digest Docker names REPO@sha256:…
        self.sink(Event(label, f"Pulling from {ref.path}"))
        manifest = resolved.manifest
        check_layer_depth(len(manifest.layers))
        config_raw = self._config(repo, manifest.config)
        if options.platform is not None and not resolved.by_index:
            check_config_platform(config_raw, options.platform, ref)
        from dockyard.oci.config import ImageConfig

        diff_ids = ImageConfig.parse(config_raw).diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise InvalidContentError(
                f"invalid manifest: {len(manifest.layers)} layers for an image config with {len(diff_ids)} diff IDs"
            )
        for layer in manifest.layers:
            if layer.media_type and layer.media_type not in LAYER_TYPES:
                raise UnsupportedMediaTypeError(f"unsupported layer media type: {layer.media_type}")
        # Docker says nothing about layers of an image it already has
        known = self.store.db.image(str(manifest.config.digest)) is not None
        staged = self._stage(repo, manifest.layers, diff_ids, options, announce=not known)
        repo_digest = ref.name_only().with_digest(resolved.digest)
        named = ref if ref.digest is None else repo_digest
        before = self.store.db.ref(str(named))
        image_id, _ = self.store.add(config_raw, staged, tags=[ref] if ref.digest is None else [], digests=[repo_digest])
        self._remember(resolved, diff_ids)
        self.store.log_event("pull", str(image_id), named.familiar_name, actor=named.familiar)
        updated = before is None or before.image_id != str(image_id)
        self.sink(Event("", f"Digest: {resolved.digest}"))
        return PullResult(ref, image_id, resolved.digest, updated)

    def _config(self, repo: Repository, descriptor: Descriptor) -> bytes:
        content = self.store.content
        if content.exists(descriptor.digest):
            return content.read(descriptor.digest)
        try:
            return repo.read_blob(descriptor.digest)
        except RegistryError as exc:
            raise InvalidContentError(f"the image config {descriptor.digest} is not in the registry: {exc}") from exc

    def _stage(
        self, repo: Repository, layers: tuple[Descriptor, ...], diff_ids: list[Digest], options: PullOptions, announce: bool
    ) -> StagedLayers:
        chains = chain_ids(diff_ids)
        present = 0
        while present < len(chains) and self.store.layers.get(chains[present]) is not None:
            present += 1
        for layer in layers[:present] if announce else ():
            self.sink(Event(layer.digest.short, "Already exists"))
        session = Path(tempfile.mkdtemp(dir=self.tmp, prefix="pull-"))
        downloads = _Downloads()
        jobs: list[LayerJob] = []
        by_digest: dict[Digest, BlobDownload] = {}
        for n, (layer, diff_id) in enumerate(zip(layers, diff_ids)):
            if n < present:
                jobs.append(LayerJob(lambda: None, diff_id, layer.digest))  # type: ignore[arg-type,return-value]  # never opened
                continue
            download = by_digest.get(layer.digest)
            if download is None:
                download = BlobDownload(
                    repo, layer.digest, layer.size, self.downloads,
                    self.store.content.path(layer.digest), session / f"{layer.digest.hex}.failed",
                )  # fmt: skip
                by_digest[layer.digest] = download
                downloads.items.append((layer.digest.short, download))
                self.sink(Event(layer.digest.short, "Pulling fs layer"))
            jobs.append(LayerJob(download.source(), diff_id, layer.digest))
        for short, _ in downloads.items[options.max_concurrent :]:
            self.sink(Event(short, "Waiting"))
        shorts = {str(diff_id): layer.digest.short for layer, diff_id in zip(layers, diff_ids)}
        try:
            downloads.start(options.max_concurrent, self.sink)
            try:
                staged = self.store.layers.stage(None, jobs, lambda diff_short, _size: self._complete(diff_short, shorts))
            except Exception as exc:
                downloads.cancel()
                downloads.wait(timeout=5.0)  # a thread may still be writing its error down
                if downloads.errors:
                    raise downloads.errors[0] from exc  # the download's error says more than the reader's
                raise
            except BaseException:
                downloads.cancel()  # Ctrl-C: no waiting; the partial files stay for a resume
                raise
            downloads.wait()
            if downloads.errors:
                self.store.layers.discard(staged)
                raise downloads.errors[0]
            return staged
        finally:
            shutil.rmtree(session, ignore_errors=True)

    def _complete(self, diff_short: str, shorts: dict[str, str]) -> None:
        for diff_id, short in shorts.items():
            if diff_id.startswith("sha256:" + diff_short):
                self.sink(Event(short, "Pull complete"))
                return

    def _remember(self, resolved: Resolved, diff_ids: list[Digest]) -> None:
        """Keep the documents pulled, and which compressed blob holds which diff ID."""
        content = self.store.content
        content.write(resolved.manifest.raw)
        if resolved.index is not None:
            content.write(resolved.index.raw)
        with self.store.db.transaction():
            for layer, diff_id in zip(resolved.manifest.layers, diff_ids):
                self.store.db.record_blob(str(layer.digest), str(diff_id), layer.media_type, layer.size)
