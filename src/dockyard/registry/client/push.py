"""``push``: local images to a registry, as Docker pushes them.

Per layer (in parallel threads): HEAD each compressed blob known for its diff
ID (``Layer already exists``); else a cross-repository mount from another
repository of the same registry that is known to hold the blob (``Mounted
from …``, known from the manifests of RepoDigests on that registry); else an
upload of the blob the content store keeps, or of a fresh level-1 gzip made
in the main thread (the metadata database is used from one thread only) while
other layers upload. Small blobs go in one PUT, large ones in PATCH chunks.
Then the config and the manifest: the one pulled, byte for byte, when the
image's blobs are exactly those, else a new Docker schema2 manifest (OCI when
a layer is OCI-typed or zstd). The digest pushed becomes a RepoDigest.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO, Callable

from dockyard.errors import DockyardError, InvalidContentError, NotFoundError, StreamError
from dockyard.image.store import Image, ImageStore
from dockyard.oci.descriptor import Manifest
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import MediaType
from dockyard.oci.reference import Reference, parse_docker_ref
from dockyard.registry.client.layerblob import (
    Blob,
    compress_layer,
    known_blobs,
    local_blob,
)
from dockyard.registry.client.errors import NoBasicAuthError
from dockyard.registry.client.progress import Event, Sink, discard
from dockyard.registry.client.repository import Repository
from dockyard.registry.client.session import Connector

MONOLITHIC_MAX = 32 * 1024 * 1024  # larger blobs go up in PATCH chunks of this size
CHUNK_SIZE = 32 * 1024 * 1024
DEFAULT_CONCURRENT_UPLOADS = 3

_TO_OCI = {
    MediaType.DOCKER_LAYER_GZIP: MediaType.OCI_LAYER_GZIP,
    MediaType.DOCKER_LAYER: MediaType.OCI_LAYER,
    MediaType.DOCKER_LAYER_FOREIGN: MediaType.OCI_LAYER_NONDIST_GZIP,
}
_TO_DOCKER = {v: k for k, v in _TO_OCI.items()}


class PushStreamError(StreamError):
    """A push failure the daemon reports in its progress stream."""


class NoSuchLocalTagError(StreamError, NotFoundError):
    """Nothing to push, in the daemon's words: no tag of the repository at all, or not this one."""


@dataclass(frozen=True, slots=True)
class PushResult:
    reference: Reference
    digest: Digest
    size: int


def build_manifest(config_digest: Digest, config_size: int, layers: list[Blob]) -> tuple[bytes, str]:
    """A new manifest in Docker's layout (json.MarshalIndent with three spaces)."""
    oci = any(b.media_type.startswith("application/vnd.oci.") for b in layers)
    kind = MediaType.OCI_MANIFEST if oci else MediaType.DOCKER_MANIFEST
    table = _TO_OCI if oci else _TO_DOCKER
    document = {
        "schemaVersion": 2,
        "mediaType": str(kind),
        "config": {
            "mediaType": str(MediaType.OCI_CONFIG if oci else MediaType.DOCKER_CONFIG),
            "size": config_size,
            "digest": str(config_digest),
        },
        "layers": [
            {"mediaType": str(table.get(b.media_type, b.media_type)), "size": b.size, "digest": str(b.digest)}  # type: ignore[call-overload]
            for b in layers
        ],
    }
    return json.dumps(document, indent=3).encode(), str(kind)


def _run_threads(count: int, work: queue.Queue[Callable[[], None] | None], errors: list[BaseException]) -> list[threading.Thread]:
    def worker() -> None:
        while (job := work.get()) is not None:
            try:
                job()
            except BaseException as exc:
                errors.append(exc)
        work.put(None)  # let the next worker stop too

    threads = [threading.Thread(target=worker, daemon=True, name="upload") for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


class Pusher:
    def __init__(self, store: ImageStore, connector: Connector, sink: Sink = discard, concurrent: int = DEFAULT_CONCURRENT_UPLOADS) -> None:
        self.store = store
        self.connector = connector
        self.sink = sink
        self.concurrent = concurrent

    def targets(self, ref: Reference, all_tags: bool) -> list[Reference]:
        tags = [parse_docker_ref(r.name) for r in self.store.db.refs() if r.kind == "tag"]
        found = [t for t in tags if t.name == ref.name]
        if not found:
            raise NoSuchLocalTagError(f"An image does not exist locally with the tag: {ref.familiar_name}")
        if not all_tags:
            if self.store.db.ref(str(ref)) is None:
                raise NoSuchLocalTagError(f"tag does not exist: {ref.familiar}")
            return [ref]
        return sorted(found, key=str)

    def push(self, ref: Reference, all_tags: bool = False) -> list[PushResult]:
        # Docker names the repository before it looks for what to push
        self.sink(Event("", f"The push refers to repository [{ref.name}]"))
        targets = self.targets(ref, all_tags)
        try:
            registry = self.connector.connect(ref.domain)
            repo = Repository(registry, ref.path)
            mounts = self._mount_sources(ref)
            return [self._push_one(repo, target, mounts) for target in targets]
        except NoBasicAuthError as exc:
            # Docker's push retry loop unwraps the url.Error: only the cause reaches the stream
            raise PushStreamError(NoBasicAuthError.CAUSE) from exc
        except StreamError:
            raise
        except DockyardError as exc:
            # once the push has begun, the daemon reports failures in its progress stream
            raise PushStreamError(str(exc)) from exc

    def _mount_sources(self, ref: Reference) -> dict[Digest, list[str]]:
        """Blob digest -> other repositories of this registry whose pulled or pushed manifest lists it."""
        sources: dict[Digest, list[str]] = {}
        for row in self.store.db.refs():
            if row.kind != "digest":
                continue
            named = parse_docker_ref(row.name)
            if named.domain != ref.domain or named.path == ref.path or named.digest is None:
                continue
            manifest = self._stored_manifest(named.digest)
            for layer in manifest.layers if manifest else ():
                sources.setdefault(layer.digest, []).append(named.path)
        return sources

    def _stored_manifest(self, digest: Digest) -> Manifest | None:
        if not self.store.content.exists(digest):
            return None
        try:
            return Manifest.parse(self.store.content.read(digest))
        except DockyardError:
            return None  # an index, or not a manifest: nothing to reuse

    def _push_one(self, repo: Repository, target: Reference, mounts: dict[Digest, list[str]]) -> PushResult:
        image = self.store.get(str(target))
        layers = self.store.layers_of(image.row)
        blobs: list[Blob | None] = [None] * len(layers)
        errors: list[BaseException] = []
        work: queue.Queue[Callable[[], None] | None] = queue.Queue()
        for layer in reversed(layers):  # Docker lists the top layer first
            self.sink(Event(layer.diff_id.short, "Preparing"))
        threads = _run_threads(self.concurrent, work, errors)
        placed = [threading.Event() for _ in layers]  # a compressed upload waits for its layer's HEAD/mount
        to_compress: list[int] = []
        found = [known_blobs(self.store.db, layer) for layer in layers]
        for i, layer in enumerate(layers):
            local = local_blob(self.store.content, found[i])
            if local is None:
                to_compress.append(i)
            work.put(partial(self._place, repo, layer.diff_id.short, found[i], local, mounts, blobs, i, placed[i]))
        try:
            for i in to_compress:
                placed[i].wait()
                if errors:
                    break
                if blobs[i] is not None:
                    continue  # the registry has it already: no compression needed
                blob = compress_layer(self.store.layers, self.store.content, self.store.db, layers[i])
                work.put(partial(self._upload_if_missing, repo, layers[i].diff_id.short, blob, blobs, i, placed[i]))
        finally:
            work.put(None)
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        config_raw = self.store.content.read(image.id)
        self._ensure_config(repo, image.id, config_raw)
        raw, media_type = self._manifest(image, [b for b in blobs if b is not None], config_raw)
        tag = target.tag or "latest"
        digest = repo.put_manifest(tag, raw, media_type)
        self.store.content.write(raw)
        self._record(image, target.name_only().with_digest(digest))
        self.sink(Event("", f"{tag}: digest: {digest} size: {len(raw)}"))
        self.store.log_event("push", str(image.id), target.familiar_name, actor=target.familiar)
        return PushResult(target, digest, len(raw))

    def _place(self, repo: Repository, short: str, candidates: list[Blob], local: Blob | None, mounts: dict[Digest, list[str]], blobs: list[Blob | None], i: int, placed: threading.Event) -> None:
        """Thread: settle a layer by HEAD or mount; else upload its local blob (or leave it to compression)."""
        try:
            self._settle(repo, short, candidates, local, mounts, blobs, i)
        finally:
            placed.set()

    def _settle(self, repo: Repository, short: str, candidates: list[Blob], local: Blob | None, mounts: dict[Digest, list[str]], blobs: list[Blob | None], i: int) -> None:
        for blob in candidates:
            if repo.blob_size(blob.digest, repo.push_scopes) is not None:
                blobs[i] = blob
                self.sink(Event(short, "Layer already exists"))
                return
        for blob in candidates:
            for source in mounts.get(blob.digest, []):
                if repo.mount(blob.digest, source) is None:
                    blobs[i] = blob
                    self.sink(Event(short, f"Mounted from {source}"))
                    return
        if local is not None:
            self._upload(repo, short, local)
            blobs[i] = local

    def _upload_if_missing(self, repo: Repository, short: str, blob: Blob, blobs: list[Blob | None], i: int, placed: threading.Event) -> None:
        placed.wait()  # its _place job was queued earlier, so a thread already runs it
        if blobs[i] is not None:
            return  # HEAD or a mount settled it meanwhile
        if repo.blob_size(blob.digest, repo.push_scopes) is not None:
            self.sink(Event(short, "Layer already exists"))
        else:
            self._upload(repo, short, blob)
        blobs[i] = blob

    def _upload(self, repo: Repository, short: str, blob: Blob) -> None:
        path = self.store.content.path(blob.digest)
        self.sink(Event(short, "Pushing", 0, blob.size))
        location = repo.start_upload()

        def report(done: int) -> None:
            self.sink(Event(short, "Pushing", done, blob.size))

        if blob.size <= MONOLITHIC_MAX:
            repo.upload_monolithic(location, blob.digest, blob.size, lambda: _Slice(str(path), 0, blob.size, report))  # type: ignore[arg-type,return-value]
        else:
            def open_at(offset: int, length: int) -> Callable[[], BinaryIO]:
                return lambda: _Slice(str(path), offset, length, report)  # type: ignore[return-value]

            repo.upload_chunked(location, blob.digest, blob.size, open_at, CHUNK_SIZE, report)
        self.sink(Event(short, "Pushed"))

    def _ensure_config(self, repo: Repository, digest: Digest, raw: bytes) -> None:
        if repo.blob_size(digest, repo.push_scopes) is None:
            location = repo.start_upload()
            repo.upload_monolithic(location, digest, len(raw), lambda: _Bytes(raw))  # type: ignore[arg-type,return-value]

    def _manifest(self, image: Image, blobs: list[Blob], config_raw: bytes) -> tuple[bytes, str]:
        if len(blobs) != len(image.config.diff_ids):
            raise InvalidContentError("not every layer of the image could be pushed")
        wanted = [b.digest for b in blobs]
        for ref in image.digests:
            manifest = self._stored_manifest(ref.digest) if ref.digest else None
            if manifest and manifest.config.digest == image.id and [l.digest for l in manifest.layers] == wanted:
                return manifest.raw, manifest.media_type
        return build_manifest(image.id, len(config_raw), blobs)

    def _record(self, image: Image, repo_digest: Reference) -> None:
        top = image.row.top_layer
        staged = self.store.layers.stage(Digest.parse(top) if top else None, [])
        self.store.add(image.config.raw, staged, digests=[repo_digest])


class _Slice:
    """A file range as a request body, reporting progress as it is read (opened afresh per retry)."""

    def __init__(self, path: str, offset: int, length: int, report: Callable[[int], None]) -> None:
        self._f = open(path, "rb")
        self._f.seek(offset)
        self._base = offset
        self._left = length
        self._report = report
        self._done = 0

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        self._done += len(data)
        self._report(self._base + self._done)
        return data

    def close(self) -> None:
        self._f.close()


class _Bytes(_Slice):
    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)  # type: ignore[assignment]
        self._base, self._left, self._done = 0, len(data), 0
        self._report = lambda _n: None
