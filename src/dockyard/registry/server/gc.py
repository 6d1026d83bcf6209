"""Garbage collection: a pure mark over the manifest graph, then a sweep of the storage.

Runs online, while servers keep serving the same storage:

1. The sweep's candidates (every blob, with its mtime) are listed *before* the
   manifests are read, so a blob committed later is never a candidate.
2. Pushing a manifest or mounting a blob touches the blobs it uses before it
   links them, and a candidate younger than the grace period is spared; the
   mtime is checked again just before deletion. A blob in use again during the
   run therefore survives, as do blobs of uploads that finished moments ago.
   Likewise an untagged manifest linked within the grace period stays (with
   ``delete_untagged``): a push writes the revision first and the tag after.
3. Uploads in flight live under ``_uploads`` and are not blobs yet; only
   sessions idle for longer than ``upload_ttl`` are removed.

Reachability: roots are the tagged manifests (with ``delete_untagged``) or every
manifest of every repository; a manifest reaches its own bytes, its config
and layers, the manifests an index lists, and its referrers (a signature or
SBOM lives as long as what it is attached to).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidDigestError
from dockyard.oci.digest import Digest
from dockyard.registry.errcode import RegistryError
from dockyard.registry.server import paths
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.storage import PathNotFoundError

UPLOAD_TTL = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True, order=True)
class ManifestNode:
    repository: str
    digest: Digest


@dataclass(frozen=True, slots=True, order=True)
class BlobNode:
    digest: Digest


Node = ManifestNode | BlobNode


def mark(roots: Iterable[Node], edges: Mapping[Node, Iterable[Node]]) -> set[Node]:
    """Everything reachable from ``roots`` along ``edges``. Pure: no storage, no clock."""
    seen: set[Node] = set()
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        if node in seen:
            continue
        seen.add(node)
        queue.extend(n for n in edges.get(node, ()) if n not in seen)
    return seen


@dataclass
class Report:
    marked_blobs: int = 0
    deleted_blobs: list[tuple[Digest, int]] = field(default_factory=list)
    deleted_manifests: list[ManifestNode] = field(default_factory=list)
    spared_young: int = 0
    deleted_uploads: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _, size in self.deleted_blobs)


@dataclass(frozen=True, slots=True)
class _Graph:
    manifests: list[ManifestNode]
    tagged: set[ManifestNode]
    edges: dict[Node, list[Node]]


def _references(raw: bytes) -> tuple[list[Digest], list[Digest], Digest | None]:
    """(blobs, child manifests, subject) named by a stored manifest's JSON."""
    data = json.loads(raw)
    blobs: list[Digest] = []
    if isinstance(data.get("config"), dict):
        blobs.append(Digest.parse(data["config"]["digest"]))
    blobs += [Digest.parse(layer["digest"]) for layer in data.get("layers") or []]
    children = [Digest.parse(child["digest"]) for child in data.get("manifests") or []]
    subject = Digest.parse(data["subject"]["digest"]) if isinstance(data.get("subject"), dict) else None
    return blobs, children, subject


def read_graph(registry: Registry) -> _Graph:
    manifests: list[ManifestNode] = []
    tagged: set[ManifestNode] = set()
    edges: dict[Node, list[Node]] = {}
    for repository in registry.repositories():
        for tag in registry.tags(repository):
            try:
                tagged.add(ManifestNode(repository, registry.resolve(repository, tag)))
            except RegistryError:  # a tag deleted meanwhile is simply not a root
                continue
        for digest in registry.manifest_digests(repository):
            node = ManifestNode(repository, digest)
            manifests.append(node)
            out = edges.setdefault(node, [])
            out.append(BlobNode(digest))
            try:
                blobs, children, subject = _references(registry.driver.get_content(paths.blob_data(digest)))
            except (PathNotFoundError, ValueError, KeyError, TypeError, InvalidDigestError):
                continue  # unreadable: keeps its own bytes, references nothing
            out += [BlobNode(b) for b in blobs]
            out += [ManifestNode(repository, c) for c in children]
            if subject is not None:
                edges.setdefault(ManifestNode(repository, subject), []).append(node)
    return _Graph(manifests, tagged, edges)


def _blob_candidates(registry: Registry) -> dict[Digest, float]:
    """Every stored blob and its mtime (last use)."""
    found: dict[Digest, float] = {}
    for info in registry.driver.walk(paths.BLOBS):
        parts = info.path.split("/")  # "", "blobs", <alg>, <hex[:2]>, <hex>, "data"
        if len(parts) == 6 and parts[5] == "data":
            found[Digest(parts[2], parts[4])] = info.mtime
    return found


def collect(
    registry: Registry,
    *,
    dry_run: bool = False,
    delete_untagged: bool = False,
    grace: float = 3600.0,
    upload_ttl: float = UPLOAD_TTL,
    now: float | None = None,
) -> Report:
    """Marks and sweeps; with ``dry_run`` only reports what it would delete."""
    now = time.time() if now is None else now
    candidates = _blob_candidates(registry)  # before reading manifests: see the module docstring
    graph = read_graph(registry)
    roots = graph.tagged if delete_untagged else set(graph.manifests)
    live = mark(roots, graph.edges)
    report = Report(marked_blobs=sum(1 for n in live if isinstance(n, BlobNode)))
    for node in graph.manifests:
        if node not in live:
            if registry.tags_of(node.repository, node.digest):
                continue  # tagged since the graph was read: a push in flight writes the revision, then the tag
            if _linked_since(registry, node, now - grace):
                continue  # pushed moments ago: its tag may not be written yet
            report.deleted_manifests.append(node)
            if not dry_run:
                _delete_manifest(registry, node)
    driver = registry.driver
    for digest, mtime in sorted(candidates.items()):
        if BlobNode(digest) in live:
            continue
        if now - mtime < grace:
            report.spared_young += 1
            continue
        try:
            info = driver.stat(paths.blob_data(digest))
        except PathNotFoundError:
            continue
        if now - info.mtime < grace:  # used again while we were marking
            report.spared_young += 1
            continue
        report.deleted_blobs.append((digest, info.size))
        if not dry_run:
            driver.delete_if_exists(paths.blob_dir(digest))
    if not dry_run:
        _unlink_deleted(registry, {d for d, _ in report.deleted_blobs})
    report.deleted_uploads = _expired_uploads(registry, now - upload_ttl, dry_run)
    if not dry_run:  # multipart uploads of servers killed before their session recorded them
        report.deleted_uploads += [f"{key} (parts)" for key in driver.sweep(now - upload_ttl)]
    return report


def _linked_since(registry: Registry, node: ManifestNode, cutoff: float) -> bool:
    """Whether the manifest's revision link was written after ``cutoff`` (a missing link: no)."""
    try:
        return registry.driver.stat(paths.revision_link(node.repository, node.digest)).mtime > cutoff
    except PathNotFoundError:
        return False


def _delete_manifest(registry: Registry, node: ManifestNode) -> None:
    # by digest, as a client would: its tags (none: it is untagged) and referrer entry go too
    try:
        registry.delete_manifest(node.repository, str(node.digest))
    except RegistryError:  # deleted meanwhile by a client: the goal is reached
        pass


def _unlink_deleted(registry: Registry, deleted: set[Digest]) -> None:
    if not deleted:
        return
    driver = registry.driver
    for repository in registry.repositories():
        for digest in deleted:
            link = paths.layer_link(repository, digest)
            driver.delete_if_exists(link.rsplit("/", 1)[0])


def _expired_uploads(registry: Registry, cutoff: float, dry_run: bool) -> list[str]:
    driver = registry.driver
    expired = []
    for repository in registry.repositories(include_uploads=True):
        for upload_id in driver.list_or_empty(paths.uploads_dir(repository)):
            try:
                info = driver.stat(paths.upload_data(repository, upload_id))
            except PathNotFoundError:
                try:  # a session that never got its data file: judge it by its directory
                    info = driver.stat(paths.upload_dir(repository, upload_id))
                except PathNotFoundError:
                    continue
            if info.mtime < cutoff:
                expired.append(f"{repository}/{upload_id}")
                if not dry_run:
                    driver.delete_if_exists(paths.upload_dir(repository, upload_id))
    return expired
