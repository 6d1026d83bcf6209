"""Manifests as the server sees them: what a pushed document references, and Accept negotiation.

Parsing itself is ``dockyard.oci.descriptor``'s; this module adds what a
registry needs on top: which blobs and child manifests must already be in the
repository, the referrers-API view (subject, artifact type, annotations), and
which stored type a client's ``Accept`` header allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidContentError, InvalidDigestError
from dockyard.oci.descriptor import (
    Descriptor,
    Index,
    Manifest,
    Platform,
    load_json_document,
)
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import INDEX_TYPES, MANIFEST_TYPES, SCHEMA1_TYPES, MediaType
from dockyard.registry.errcode import Code, RegistryError

ACCEPTED_TYPES = MANIFEST_TYPES | INDEX_TYPES
# Content types that say nothing about the document; the body's mediaType decides.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream", "text/plain"})
# Layers a client never uploads: their bytes live at the descriptor's urls.
_FOREIGN_TYPES = frozenset(
    {
        MediaType.DOCKER_LAYER_FOREIGN,
        MediaType.OCI_LAYER_NONDIST,
        MediaType.OCI_LAYER_NONDIST_GZIP,
        MediaType.OCI_LAYER_NONDIST_ZSTD,
    }
)


@dataclass(frozen=True, slots=True)
class PushedManifest:
    """A validated manifest or index and everything it points at."""

    raw: bytes
    media_type: str
    blobs: tuple[Descriptor, ...]  # config and layers: must be linked in the repository
    manifests: tuple[Descriptor, ...]  # children of an index: must be manifests of the repository
    subject: Descriptor | None = None
    artifact_type: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    platforms: tuple[Platform | None, ...] = ()

    def digest(self, algorithm: str = "sha256") -> Digest:
        return Digest.of(self.raw, algorithm)

    def referrer_descriptor(self, digest: Digest) -> dict[str, Any]:
        """How this manifest appears in its subject's referrers list."""
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(digest), "size": len(self.raw)}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = self.annotations
        return out


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_pushed(raw: bytes, content_type: str | None) -> PushedManifest:
    """Validates a pushed document; raises MANIFEST_INVALID with the reason."""
    try:
        data = load_json_document(raw, "manifest")
        declared = media_type_of(content_type)
        body_type = data.get("mediaType")
        if body_type is not None and not isinstance(body_type, str):
            raise InvalidContentError("mediaType is not a string")
        if declared in _GENERIC_TYPES:
            declared = body_type or (MediaType.OCI_INDEX if "manifests" in data else MediaType.OCI_MANIFEST)
        elif body_type and body_type != declared:
            raise InvalidContentError(f"mediaType {body_type!r} does not match Content-Type {declared!r}")
        if declared in SCHEMA1_TYPES:
            raise InvalidContentError("schema 1 manifests are not supported; push with a current client")
        if declared not in ACCEPTED_TYPES:
            raise InvalidContentError(f"unsupported manifest media type {declared!r}")
        if data.get("schemaVersion") != 2:
            raise InvalidContentError("schemaVersion must be 2")
        if declared in MANIFEST_TYPES:
            return _from_manifest(Manifest.parse(raw, declared))
        return _from_index(Index.parse(raw, declared), data)
    except (InvalidContentError, InvalidDigestError) as exc:
        raise RegistryError(Code.MANIFEST_INVALID, detail=str(exc)) from exc


def _from_manifest(manifest: Manifest) -> PushedManifest:
    blobs = [manifest.config]
    blobs += [d for d in manifest.layers if not (d.urls and d.media_type in _FOREIGN_TYPES)]
    return PushedManifest(
        raw=manifest.raw,
        media_type=manifest.media_type,
        blobs=tuple(blobs),
        manifests=(),
        subject=manifest.subject,
        # the referrers API reports the config's type when no artifactType is set
        artifact_type=manifest.artifact_type or manifest.config.media_type,
        annotations=manifest.annotations,
    )


def _from_index(index: Index, data: dict[str, Any]) -> PushedManifest:
    subject = data.get("subject")
    return PushedManifest(
        raw=index.raw,
        media_type=index.media_type,
        blobs=(),
        manifests=index.manifests,
        subject=Descriptor.from_json(subject) if subject else None,
        artifact_type=str(data.get("artifactType") or ""),
        annotations=index.annotations,
        platforms=tuple(d.platform for d in index.manifests),
    )


def accepted_types(accept_headers: list[str]) -> set[str]:
    """Media types named by the Accept headers (parameters and q-values dropped)."""
    found: set[str] = set()
    for header in accept_headers:
        for part in header.split(","):
            media_type = media_type_of(part)
            if media_type:
                found.add(media_type)
    return found


def acceptable(stored_type: str, accepted: set[str]) -> bool:
    # No Accept header, or a wildcard, takes what is stored.
    return not accepted or stored_type in accepted or "*/*" in accepted or "application/*" in accepted


def pick_from_index(index_raw: bytes, media_type: str, accepted: set[str]) -> Descriptor | None:
    """For a client that cannot read an index: its linux/amd64 image, as Distribution serves old clients."""
    index = Index.parse(index_raw, media_type)
    candidates = [d for d in index.manifests if d.media_type in accepted]
    for wanted in (("linux", "amd64"), None):
        for descriptor in candidates:
            platform = descriptor.platform
            if wanted is None or (platform and (platform.os, platform.architecture) == wanted):
                return descriptor
    return None


def not_acceptable(stored_type: str) -> RegistryError:
    kind = "OCI index" if stored_type == MediaType.OCI_INDEX else (
        "manifest list" if stored_type == MediaType.DOCKER_MANIFEST_LIST else (
            "OCI manifest" if stored_type == MediaType.OCI_MANIFEST else "Docker schema 2 manifest"
        )
    )
    return RegistryError(Code.MANIFEST_UNKNOWN, f"{kind} found, but the Accept header does not allow it", detail={"mediaType": stored_type})
