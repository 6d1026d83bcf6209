"""A remote manifest or index as the registry serves it, for ``manifest inspect``.

Docker's client fetches the named document and, for an index, each image
manifest it lists (so the entries it shows carry what the registry really
serves); a single manifest's platform comes from its image config. A name
the registry does not know is a ``NoSuchManifestError`` ("no such manifest:
NAME", as docker words it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.errors import NotFoundError
from dockyard.oci.descriptor import Index, detect_media_type, load_json_document
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import INDEX_TYPES, MANIFEST_TYPES, SCHEMA1_TYPES
from dockyard.oci.reference import Reference
from dockyard.registry.client.repository import Repository
from dockyard.registry.client.session import Connector
from dockyard.registry.errcode import Code, RegistryError

PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant", "features")  # Go's field order


class NoSuchManifestError(NotFoundError):
    def __init__(self, ref: Reference) -> None:
        super().__init__(f"no such manifest: {ref}")


@dataclass(frozen=True, slots=True)
class RemoteManifest:
    reference: Reference  # an index's entries: the name with the entry's digest
    raw: bytes
    media_type: str
    digest: Digest
    platform: tuple[tuple[str, object], ...] = ()  # (key, value) in Go's field order; () when unknown
    entries: tuple[RemoteManifest, ...] = ()  # an index's image manifests, each fetched

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _platform(data: object) -> tuple[tuple[str, object], ...]:
    if not isinstance(data, dict):
        return ()
    return tuple((key, data[key]) for key in PLATFORM_KEYS if data.get(key) not in (None, "", []))


def _get(repo: Repository, ref: Reference, reference: str) -> tuple[bytes, str, Digest]:
    try:
        raw, header_type, digest = repo.manifest(reference)
    except RegistryError as exc:
        if exc.code in (Code.MANIFEST_UNKNOWN, Code.NAME_UNKNOWN) or exc.status == 404:
            raise NoSuchManifestError(ref) from exc
        raise
    if header_type not in MANIFEST_TYPES and header_type not in INDEX_TYPES and header_type not in SCHEMA1_TYPES:
        header_type = detect_media_type(load_json_document(raw, "manifest"))
    return raw, header_type, digest


def _config_platform(repo: Repository, raw: bytes) -> tuple[tuple[str, object], ...]:
    """An image manifest's platform, read from its config (docker shows it with --verbose)."""
    config = load_json_document(raw, "manifest").get("config")
    if not isinstance(config, dict) or "digest" not in config:
        return ()
    try:
        return _platform(json.loads(repo.read_blob(Digest.parse(str(config["digest"])))))
    except (RegistryError, ValueError):
        return ()


def fetch_manifest(connector: Connector, ref: Reference, verbose: bool = False) -> RemoteManifest:
    """What ``ref`` (tagged or by digest) names in its registry; an index with its manifests fetched."""
    registry = connector.connect(ref.domain)
    repo = Repository(registry, ref.path)
    raw, media_type, digest = _get(repo, ref, str(ref.digest) if ref.digest else (ref.tag or "latest"))
    if media_type not in INDEX_TYPES:
        platform = _config_platform(repo, raw) if verbose else ()
        return RemoteManifest(ref, raw, media_type, digest, platform)
    entries = []
    listed = load_json_document(raw, "index").get("manifests") or []
    for entry, data in zip(Index.parse(raw, media_type).manifests, listed):
        child = ref.with_digest(entry.digest) if ref.digest is None else ref.name_only().with_digest(entry.digest)
        child_raw, child_type, child_digest = _get(repo, child, str(entry.digest))
        entries.append(RemoteManifest(child, child_raw, child_type, child_digest, _platform(data.get("platform"))))
    return RemoteManifest(ref, raw, media_type, digest, (), tuple(entries))
