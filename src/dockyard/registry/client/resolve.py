"""From a reference to the one image manifest to pull, with the documents it came through.

A tag or digest may name an index (a manifest list): the entry for the wanted
platform is fetched next. Schema1 manifests are refused with Docker's notice.
Registry errors are reworded as Docker words them for a pull ("manifest for
… not found", "pull access denied for …").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.errors import (
    DockyardError,
    InvalidContentError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from dockyard.oci.descriptor import (
    Descriptor,
    Index,
    Manifest,
    Platform,
    detect_media_type,
    load_json_document,
)
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import INDEX_TYPES, MANIFEST_TYPES, SCHEMA1_TYPES
from dockyard.oci.reference import Reference
from dockyard.registry.client import platform as platforms
from dockyard.registry.client.errors import NoBasicAuthError, describe
from dockyard.registry.client.repository import Repository
from dockyard.registry.errcode import Code, RegistryError

MAX_INDEX_DEPTH = 4


class PullAccessDeniedError(NotFoundError):
    """The repository does not exist, or needs a login (Docker cannot tell these apart)."""


@dataclass(frozen=True, slots=True)
class Resolved:
    manifest: Manifest
    digest: Digest  # what the reference named: the index's digest for a multi-platform image
    index: Index | None
    by_index: bool


def schema1_notice(ref: Reference) -> str:
    return (
        f"[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support "
        f"is disabled. Suggest the author of {ref.familiar} to upgrade the image to the OCI Format or "
        f"Docker Image manifest v2, schema 2. More information at https://docs.docker.com/go/deprecated-image-specs/"
    )


def translate(error: RegistryError, ref: Reference) -> DockyardError:
    if error.code == Code.MANIFEST_UNKNOWN or (error.status == 404 and error.code == Code.UNKNOWN):
        return NotFoundError(f"manifest for {ref.familiar} not found: {describe(error)}")
    if error.code in (Code.NAME_UNKNOWN, Code.UNAUTHORIZED, Code.DENIED):
        return PullAccessDeniedError(
            f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
            f"'docker login': {describe(error)}"
        )
    return error


def _kind(raw: bytes, header_type: str) -> str:
    if header_type in MANIFEST_TYPES or header_type in INDEX_TYPES or header_type in SCHEMA1_TYPES:
        return header_type
    return detect_media_type(load_json_document(raw, "manifest"))


def resolve(repo: Repository, ref: Reference, wanted: Platform | None) -> Resolved:
    """Fetch the manifest ``ref`` names, descending through indexes for ``wanted`` (default: the host)."""
    reference = str(ref.digest) if ref.digest else (ref.tag or "latest")
    try:
        raw, header_type, digest = repo.manifest(reference)
    except RegistryError as exc:
        raise translate(exc, ref) from exc
    except NoBasicAuthError as exc:
        if ref.digest is None:  # Docker asks for a tag's digest with a HEAD first, and fails there
            raise NoBasicAuthError("HEAD", exc.url) from exc
        raise
    top = digest
    index: Index | None = None
    for _ in range(MAX_INDEX_DEPTH):
        kind = _kind(raw, header_type)
        if kind in SCHEMA1_TYPES:
            raise UnsupportedMediaTypeError(schema1_notice(ref))
        if kind not in INDEX_TYPES:
            manifest = Manifest.parse(raw, kind)
            return Resolved(manifest, top, index, index is not None)
        index = Index.parse(raw, kind)
        chosen: Descriptor = platforms.select(index.manifests, wanted or platforms.host())
        try:
            raw, header_type, _ = repo.manifest(str(chosen.digest))
        except RegistryError as exc:
            raise translate(exc, ref) from exc
        header_type = header_type if header_type not in ("", "application/json") else chosen.media_type
    raise InvalidContentError("manifest indexes are nested too deep")


def check_config_platform(config_raw: bytes, wanted: Platform, ref: Reference) -> None:
    """A single-platform image pulled with --platform must be that platform (Docker 20.10's check)."""
    try:
        data = json.loads(config_raw)
    except ValueError as exc:
        raise InvalidContentError("the image config is not valid JSON") from exc
    actual = Platform(architecture=str(data.get("architecture", "")), os=str(data.get("os", "")), variant=str(data.get("variant", "")))
    offered = platforms.normalize(actual)
    if not any(platforms.matches(offered, c) for c in platforms.candidates(wanted)) and not (
        not wanted.variant and (offered.os, offered.architecture) == (wanted.os, wanted.architecture)
    ):
        raise NotFoundError(
            f"image with reference {ref.familiar} was found but does not match the specified platform: "
            f"wanted {platforms.format_platform(wanted)}, actual: {platforms.format_platform(offered)}"
        )
