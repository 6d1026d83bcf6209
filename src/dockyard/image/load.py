"""``load``: docker-archive (legacy and Docker 25+ layouts) and OCI image layouts.

The archive must be seekable so layers can be extracted in parallel straight
from it: a plain tar file is read in place; stdin or a compressed archive is
first spooled, decompressed, into the store's ``tmp/`` (as dockerd does).
Every member path, config and layer is checked: configs by their digest,
layers by the diff IDs the config lists (and blob digests for OCI layouts).
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import Any, Callable

from dockyard.errors import InvalidArchiveError, InvalidArgumentError, InvalidContentError, UnsupportedMediaTypeError
from dockyard.image.layerstore import FileSlice, LayerJob
from dockyard.image.store import ImageStore
from dockyard.oci.config import ImageConfig
from dockyard.oci.descriptor import Descriptor, Index, Manifest
from dockyard.oci.digest import Digest, check_layer_depth
from dockyard.oci.mediatype import INDEX_TYPES, LAYER_TYPES, MANIFEST_TYPES
from dockyard.oci.reference import Reference, parse_docker_ref, parse_normalized

MAX_JSON = 8 * 1024 * 1024  # manifests and configs: bounded before they are read


@dataclass(slots=True)
class LoadResult:
    loaded: list[str] = field(default_factory=list)  # Docker's "Loaded image: …" / "Loaded image ID: …" lines
    renamed: list[str] = field(default_factory=list)  # "The image … already exists, renaming the old one …"


class _Archive:
    """Members of a seekable tar by name, with symlinks (legacy duplicate layers) resolved."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            with tarfile.open(path, "r:") as tar:
                self.members = {posixpath.normpath(m.name.lstrip("/")): m for m in tar.getmembers()}
        except (tarfile.TarError, EOFError) as exc:
            raise InvalidArchiveError(f"invalid archive: {exc}") from exc

    def member(self, name: str) -> tarfile.TarInfo:
        current = posixpath.normpath(name.lstrip("/"))
        for _ in range(16):
            info = self.members.get(current)
            if info is None:
                raise InvalidArchiveError(f"invalid archive: {name} is missing")
            if info.issym() or info.islnk():
                base = posixpath.dirname(current) if info.issym() else ""
                current = posixpath.normpath(posixpath.join(base, info.linkname))
                if current.startswith(".."):
                    raise InvalidArchiveError(f"invalid archive: {name} points outside of the archive")
                continue
            if not info.isfile():
                raise InvalidArchiveError(f"invalid archive: {name} is not a file")
            return info
        raise InvalidArchiveError(f"invalid archive: too many links at {name}")

    def has(self, name: str) -> bool:
        return posixpath.normpath(name) in self.members

    def read(self, name: str) -> bytes:
        info = self.member(name)
        if info.size > MAX_JSON:
            raise InvalidArchiveError(f"invalid archive: {name} is larger than {MAX_JSON} bytes")
        with open(self.path, "rb") as f:
            f.seek(info.offset_data)
            data = f.read(info.size)
        if len(data) != info.size:
            raise InvalidArchiveError("unexpected EOF: the archive is truncated")
        return data

    def slice(self, name: str) -> FileSlice:
        info = self.member(name)
        return FileSlice(self.path, info.offset_data, info.size)

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise InvalidArchiveError(f"invalid archive: {name} is not valid JSON") from exc


def load_archive(store: ImageStore, path: str, progress: Callable[[str, int], None] | None = None) -> LoadResult:
    archive = _Archive(path)
    if archive.has("manifest.json"):
        return _load_docker_archive(store, archive, progress)
    if archive.has("index.json") and archive.has("oci-layout"):
        return _load_oci_layout(store, archive, progress)
    raise InvalidArchiveError("invalid archive: no manifest.json or index.json+oci-layout found (is it an image archive?)")


def _store_image(
    store: ImageStore,
    config_raw: bytes,
    jobs: list[LayerJob],
    tags: list[Reference],
    result: LoadResult,
    progress: Callable[[str, int], None] | None,
) -> None:
    config = ImageConfig.parse(config_raw)
    if len(jobs) != len(config.diff_ids):
        raise InvalidContentError(
            f"invalid manifest: {len(jobs)} layers for an image config with {len(config.diff_ids)} diff IDs"
        )
    for job, diff_id in zip(jobs, config.diff_ids):
        job.expected_diff_id = diff_id
    staged = store.layers.stage(None, jobs, progress)
    image_id, moved = store.add(config_raw, staged, tags=tags)
    store.log_event("load", str(image_id), str(image_id))
    for ref, old in moved:
        result.renamed.append(
            f"The image {ref.familiar} already exists, renaming the old one with ID {old} to empty string"
        )
    if tags:
        result.loaded += [f"Loaded image: {ref.familiar}" for ref in tags]
    else:
        result.loaded.append(f"Loaded image ID: {image_id}")


def _load_docker_archive(store: ImageStore, archive: _Archive, progress: Callable[[str, int], None] | None) -> LoadResult:
    items = archive.json("manifest.json")
    if not isinstance(items, list):
        raise InvalidArchiveError("invalid archive: manifest.json is not a list")
    # parse everything before storing anything: a bad entry must not leave half a load
    plans = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str) or not isinstance(item.get("Layers"), list):
            raise InvalidArchiveError("invalid archive: malformed manifest.json entry")
        check_layer_depth(len(item["Layers"]))
        config_raw = archive.read(item["Config"])
        tags = [parse_docker_ref(t) for t in item.get("RepoTags") or []]
        jobs = [LayerJob(archive.slice(str(name))) for name in item["Layers"]]
        plans.append((config_raw, jobs, tags))
    result = LoadResult()
    for config_raw, jobs, tags in plans:
        _store_image(store, config_raw, jobs, tags, result, progress)
    return result


def _blob_path(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _load_oci_layout(store: ImageStore, archive: _Archive, progress: Callable[[str, int], None] | None) -> LoadResult:
    index = Index.parse(archive.read("index.json"))
    plans = []
    for descriptor in index.manifests:
        manifest = _resolve_manifest(archive, descriptor)
        check_layer_depth(len(manifest.layers))
        config_raw = _verified_blob(archive, manifest.config)
        jobs = []
        for layer in manifest.layers:
            if layer.media_type and layer.media_type not in LAYER_TYPES:
                raise UnsupportedMediaTypeError(f"unsupported layer media type: {layer.media_type}")
            jobs.append(LayerJob(archive.slice(_blob_path(layer.digest)), blob_digest=layer.digest))
        plans.append((config_raw, jobs, _names(descriptor)))
    result = LoadResult()
    for config_raw, jobs, tags in plans:
        _store_image(store, config_raw, jobs, tags, result, progress)
    return result


def _verified_blob(archive: _Archive, descriptor: Descriptor) -> bytes:
    data = archive.read(_blob_path(descriptor.digest))
    if Digest.of(data, descriptor.digest.algorithm) != descriptor.digest:
        raise InvalidContentError(f"digest mismatch for blob {descriptor.digest}")
    return data


def _resolve_manifest(archive: _Archive, descriptor: Descriptor, depth: int = 0) -> Manifest:
    """Follow nested indexes to the manifest for this host's platform."""
    from dockyard.oci.platform import host_architecture

    if depth > 4:
        raise InvalidContentError("invalid archive: indexes nested too deep")
    raw = _verified_blob(archive, descriptor)
    if descriptor.media_type in INDEX_TYPES or (not descriptor.media_type and b'"manifests"' in raw):
        nested = Index.parse(raw)
        arch = host_architecture()
        for candidate in nested.manifests:
            platform = candidate.platform
            if platform is None or (platform.os == "linux" and platform.architecture == arch):
                return _resolve_manifest(archive, candidate, depth + 1)
        raise InvalidContentError(f"no image for linux/{arch} in the archive")
    if descriptor.media_type and descriptor.media_type not in MANIFEST_TYPES:
        raise UnsupportedMediaTypeError(f"unsupported manifest media type: {descriptor.media_type}")
    return Manifest.parse(raw, descriptor.media_type or None)


def _names(descriptor: Descriptor) -> list[Reference]:
    """The image name an index entry carries, as containerd and Docker 25 write it."""
    full = descriptor.annotations.get("io.containerd.image.name")
    if full:
        return [parse_docker_ref(full)]
    ref_name = descriptor.annotations.get("org.opencontainers.image.ref.name", "")
    if ref_name and ("/" in ref_name or ":" in ref_name):
        try:
            return [parse_normalized(ref_name).with_default_tag()]
        except InvalidArgumentError:
            return []
    return []
