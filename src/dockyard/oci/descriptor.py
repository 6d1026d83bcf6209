"""Descriptors, manifests, indexes: parsed from the exact bytes that were hashed.

Each document keeps ``raw``, the bytes its digest was computed over; nothing
is ever re-serialised to compute or compare a digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidContentError, UnsupportedMediaTypeError
from dockyard.oci.digest import Digest
from dockyard.oci.document import MAX_MANIFEST_SIZE, load_json_document  # noqa: F401 - readers import the bound from here
from dockyard.oci.mediatype import INDEX_TYPES, MANIFEST_TYPES, SCHEMA1_TYPES, MediaType


@dataclass(frozen=True, slots=True)
class Platform:
    architecture: str
    os: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Platform:
        return cls(
            architecture=str(data.get("architecture", "")),
            os=str(data.get("os", "")),
            variant=str(data.get("variant", "")),
            os_version=str(data.get("os.version", "")),
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Descriptor:
        if not isinstance(data, dict):
            raise InvalidContentError("descriptor is not an object")
        try:
            size = data["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidContentError(f"invalid descriptor size: {size!r}")
            platform = data.get("platform")
            return cls(
                media_type=str(data.get("mediaType", "")),
                digest=Digest.parse(str(data["digest"])),
                size=size,
                annotations=dict(data.get("annotations") or {}),
                platform=Platform.from_json(platform) if isinstance(platform, dict) else None,
                urls=tuple(data.get("urls") or ()),
                artifact_type=str(data.get("artifactType", "")),
            )
        except KeyError as exc:
            raise InvalidContentError(f"descriptor lacks {exc.args[0]!r}") from exc

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = self.annotations
        if self.platform is not None:
            out["platform"] = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                out["platform"]["variant"] = self.platform.variant
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out


def detect_media_type(data: dict[str, Any]) -> str:
    """The media type a document declares, or the one its shape implies."""
    media_type = data.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type
    if data.get("schemaVersion") == 1:
        return MediaType.DOCKER_MANIFEST_V1
    if "manifests" in data:
        return MediaType.OCI_INDEX
    if "config" in data and "layers" in data:
        return MediaType.OCI_MANIFEST
    raise UnsupportedMediaTypeError("document has no media type")


@dataclass(frozen=True, slots=True)
class Manifest:
    raw: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str]
    subject: Descriptor | None = None
    artifact_type: str = ""

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Manifest:
        data = load_json_document(raw, "manifest")
        kind = media_type or detect_media_type(data)
        if kind in SCHEMA1_TYPES:
            raise UnsupportedMediaTypeError(
                "support for Docker Image Format v1 (schema 1) manifests has been removed; "
                "push the image again with a current client"
            )
        if kind not in MANIFEST_TYPES:
            raise UnsupportedMediaTypeError(f"unsupported manifest media type: {kind}")
        if not isinstance(data.get("layers"), list):
            raise InvalidContentError("manifest has no layers list")
        subject = data.get("subject")
        return cls(
            raw=raw,
            media_type=kind,
            config=Descriptor.from_json(data.get("config")),
            layers=tuple(Descriptor.from_json(d) for d in data["layers"]),
            annotations=dict(data.get("annotations") or {}),
            subject=Descriptor.from_json(subject) if subject else None,
            artifact_type=str(data.get("artifactType", "")),
        )


@dataclass(frozen=True, slots=True)
class Index:
    raw: bytes
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str]

    @property
    def digest(self) -> Digest:
        return Digest.of(self.raw)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> Index:
        data = load_json_document(raw, "index")
        kind = media_type or detect_media_type(data)
        if kind not in INDEX_TYPES:
            raise UnsupportedMediaTypeError(f"unsupported index media type: {kind}")
        if not isinstance(data.get("manifests"), list):
            raise InvalidContentError("index has no manifests list")
        return cls(
            raw=raw,
            media_type=kind,
            manifests=tuple(Descriptor.from_json(d) for d in data["manifests"]),
            annotations=dict(data.get("annotations") or {}),
        )


def canonical_json(data: Any) -> bytes:
    """Compact JSON as Docker writes the documents it creates (Go's encoding/json)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Go escapes these for HTML safety; matching it keeps digests equal to Docker's
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()
