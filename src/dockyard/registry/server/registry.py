"""The registry over its storage: repositories, their blobs, manifests, tags and referrers.

Everything here is synchronous and stateless beyond the storage, so several
server processes on one storage directory see one registry. Writes are
ordered so that a crash leaves nothing dangling that a reader could trust: a
manifest's blob is stored before its revision link, the revision before the
referrer entry and the tag. Errors are ``RegistryError``s with the spec's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.errors import InvalidDigestError
from dockyard.oci.digest import Digest
from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server import paths
from dockyard.registry.server.manifests import PushedManifest, parse_pushed
from dockyard.registry.server.routes import is_digest, is_valid_tag, parse_digest
from dockyard.registry.server.storage import CheckedDriver, PathNotFoundError


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int
    path: str  # storage path of the bytes


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: Digest
    media_type: str
    raw: bytes


def paginate(items: list[str], n: int | None, last: str | None) -> tuple[list[str], bool]:
    """One page of a sorted list after ``last``, and whether more follow."""
    if last:
        items = [item for item in items if item > last]
    if n is None:
        return items, False
    return items[:n], len(items) > n


class Registry:
    def __init__(self, driver: CheckedDriver, *, automatic_mount: bool = True) -> None:
        self.driver = driver
        # Mount a blob the registry already holds even without ?from= (OCI_AUTOMATIC_CROSSMOUNT).
        self.automatic_mount = automatic_mount

    # blobs -----------------------------------------------------------------

    def has_blob(self, digest: Digest) -> bool:
        return self.driver.exists(paths.blob_data(digest))

    def stat_blob(self, name: str, digest: Digest) -> BlobInfo:
        if not self.driver.exists(paths.layer_link(name, digest)):
            raise RegistryError(Code.BLOB_UNKNOWN, detail={"digest": str(digest)})
        try:
            info = self.driver.stat(paths.blob_data(digest))
        except PathNotFoundError as exc:  # collected, or never committed
            raise RegistryError(Code.BLOB_UNKNOWN, detail={"digest": str(digest)}) from exc
        return BlobInfo(digest, info.size, paths.blob_data(digest))

    def link_blob(self, name: str, digest: Digest) -> None:
        self.driver.put_content(paths.layer_link(name, digest), str(digest).encode())

    def touch_blob(self, digest: Digest) -> None:
        """Marks the blob as just used, so an online GC's grace period protects it."""
        try:
            self.driver.touch(paths.blob_data(digest))
        except PathNotFoundError:
            pass

    def delete_blob(self, name: str, digest: Digest) -> None:
        """Unlinks the blob from the repository; GC reclaims the bytes once nothing links them."""
        link_dir = paths.layer_link(name, digest).rsplit("/", 1)[0]
        if not self.driver.delete_if_exists(link_dir):
            raise RegistryError(Code.BLOB_UNKNOWN, detail={"digest": str(digest)})

    def mount_blob(self, name: str, digest: Digest, source: str | None) -> bool:
        """Links a blob held elsewhere into ``name``; False when it cannot (then the client uploads)."""
        if source is not None and not self.driver.exists(paths.layer_link(source, digest)):
            return False
        if source is None and not self.automatic_mount:
            return False
        if not self.has_blob(digest):
            return False
        self.touch_blob(digest)
        self.link_blob(name, digest)
        return True

    def commit_blob(self, name: str, source: str, digest: Digest) -> None:
        """Publishes verified bytes at ``source`` as the blob and links it into ``name``."""
        if self.has_blob(digest):
            self.driver.delete_if_exists(source)  # identical bytes are already there
            self.touch_blob(digest)
        else:
            self.driver.move(source, paths.blob_data(digest))
        self.link_blob(name, digest)

    # manifests -------------------------------------------------------------

    def resolve(self, name: str, reference: str) -> Digest:
        """The digest a tag points at, or the digest itself if the repository has that manifest."""
        if is_digest(reference):
            digest = parse_digest(reference)
            if not self.driver.exists(paths.revision_link(name, digest)):
                raise RegistryError(Code.MANIFEST_UNKNOWN, detail={"digest": reference})
            return digest
        if not is_valid_tag(reference):
            raise RegistryError(Code.MANIFEST_UNKNOWN, detail={"tag": reference[:200]})
        try:
            return parse_digest(self.driver.get_content(paths.tag_link(name, reference)).decode().strip())
        except PathNotFoundError as exc:
            raise RegistryError(Code.MANIFEST_UNKNOWN, detail={"tag": reference}) from exc

    def get_manifest(self, name: str, reference: str) -> StoredManifest:
        digest = self.resolve(name, reference)
        try:
            meta = json.loads(self.driver.get_content(paths.revision_link(name, digest)))
            raw = self.driver.get_content(paths.blob_data(digest))
        except (PathNotFoundError, ValueError) as exc:
            raise RegistryError(Code.MANIFEST_UNKNOWN, detail={"digest": str(digest)}) from exc
        return StoredManifest(digest, str(meta.get("mediaType", "")), raw)

    def put_manifest(
        self, name: str, reference: str, raw: bytes, content_type: str | None, *, check_references: bool = True
    ) -> tuple[Digest, PushedManifest]:
        """Stores a manifest (and tags it when ``reference`` is a tag).

        ``check_references=False`` is for the pull-through cache only: it
        stores upstream manifests whose blobs it fetches on demand.
        """
        pushed = parse_pushed(raw, content_type)
        if is_digest(reference):
            expected = parse_digest(reference)
            digest = pushed.digest(expected.algorithm)
            if digest != expected:
                raise RegistryError(Code.DIGEST_INVALID, detail={"expected": reference, "actual": str(digest)})
            tag = None
        else:
            if not is_valid_tag(reference):
                raise RegistryError(Code.TAG_INVALID, detail={"tag": reference[:200]})
            digest, tag = pushed.digest(), reference
        if check_references:
            self._check_references(name, pushed)
        if self.has_blob(digest):
            self.touch_blob(digest)  # in use again: an online GC must spare it
        else:
            self.driver.put_content(paths.blob_data(digest), raw)
        self.driver.put_content(paths.revision_link(name, digest), json.dumps({"mediaType": pushed.media_type}).encode())
        if pushed.subject is not None:
            entry = paths.referrer_entry(name, pushed.subject.digest, digest)
            self.driver.put_content(entry, json.dumps(pushed.referrer_descriptor(digest)).encode())
        if tag is not None:
            self.driver.put_content(paths.tag_link(name, tag), str(digest).encode())
        return digest, pushed

    def _check_references(self, name: str, pushed: PushedManifest) -> None:
        missing = [str(d.digest) for d in pushed.blobs if not self._blob_present(name, d.digest)]
        missing += [str(d.digest) for d in pushed.manifests if not self.driver.exists(paths.revision_link(name, d.digest))]
        if missing:
            raise RegistryError(Code.MANIFEST_BLOB_UNKNOWN, detail={"digests": missing})
        for descriptor in pushed.blobs:
            self.touch_blob(descriptor.digest)

    def _blob_present(self, name: str, digest: Digest) -> bool:
        return self.driver.exists(paths.layer_link(name, digest)) and self.has_blob(digest)

    def delete_manifest(self, name: str, reference: str) -> None:
        """By tag: removes the tag only. By digest: removes the manifest, its tags and its referrer entry."""
        if not is_digest(reference):
            self.resolve(name, reference)  # MANIFEST_UNKNOWN for an unknown tag
            self.driver.delete_if_exists(paths.tag_dir(name, reference))
            return
        digest = self.resolve(name, reference)
        for tag in self.tags_of(name, digest):
            self.driver.delete_if_exists(paths.tag_dir(name, tag))
        subject = self._subject_of(digest)
        self.driver.delete_if_exists(paths.revision_dir(name, digest))
        if subject is not None:
            self.driver.delete_if_exists(paths.referrer_entry(name, subject, digest))

    def _subject_of(self, digest: Digest) -> Digest | None:
        try:
            data = json.loads(self.driver.get_content(paths.blob_data(digest)))
            return Digest.parse(data["subject"]["digest"]) if isinstance(data.get("subject"), dict) else None
        except (PathNotFoundError, ValueError, KeyError, TypeError, InvalidDigestError):
            return None  # gone, or not a document with a subject

    # listings --------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        return self.driver.exists(paths.repository(name))

    def tags(self, name: str) -> list[str]:
        if not self.repository_exists(name):
            raise RegistryError(Code.NAME_UNKNOWN, detail={"name": name})
        tags = self.driver.list_or_empty(paths.tags_dir(name))
        return sorted(t for t in tags if self.driver.exists(paths.tag_link(name, t)))

    def tags_of(self, name: str, digest: Digest) -> list[str]:
        found = []
        for tag in self.driver.list_or_empty(paths.tags_dir(name)):
            try:
                if self.driver.get_content(paths.tag_link(name, tag)).decode().strip() == str(digest):
                    found.append(tag)
            except PathNotFoundError:
                continue
        return found

    def repositories(self, include_uploads: bool = False) -> list[str]:
        """Every repository with manifests or blobs (or, if asked, only uploads), sorted."""
        markers = {"_manifests", "_layers"} | ({"_uploads"} if include_uploads else set())
        found: list[str] = []
        stack = [""]
        while stack:
            prefix = stack.pop()
            base = paths.REPOSITORIES + (f"/{prefix}" if prefix else "")
            children = self.driver.list_or_empty(base)
            if prefix and markers.intersection(children):
                found.append(prefix)
            stack += [f"{prefix}/{c}" if prefix else c for c in children if not c.startswith(paths.RESERVED_PREFIX)]
        return sorted(found)

    def manifest_digests(self, name: str) -> list[Digest]:
        out = []
        for algorithm in self.driver.list_or_empty(paths.revisions_dir(name)):
            for hex_ in self.driver.list_or_empty(f"{paths.revisions_dir(name)}/{algorithm}"):
                out.append(Digest(algorithm, hex_))
        return out

    def referrers(self, name: str, subject: Digest, artifact_type: str | None = None) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is ``subject``, optionally of one artifact type."""
        base = paths.referrers_dir(name, subject)
        out = []
        for entry in self.driver.list_or_empty(base):
            try:
                descriptor = json.loads(self.driver.get_content(f"{base}/{entry}"))
                digest = Digest.parse(descriptor["digest"])
            except (PathNotFoundError, ValueError, KeyError, TypeError, InvalidDigestError):
                continue
            # an entry whose manifest was deleted (or half-written) is not a referrer
            if not self.driver.exists(paths.revision_link(name, digest)):
                continue
            if artifact_type is None or descriptor.get("artifactType") == artifact_type:
                out.append(descriptor)
        return sorted(out, key=lambda d: d["digest"])
