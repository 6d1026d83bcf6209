"""The calls on one repository: manifests, blobs, uploads, tags.

Every document read is bounded (a registry cannot make us read an endless
manifest) and checked against the digest that named it; blob bodies are
returned as streams for the caller to hash while it consumes them.
"""

from __future__ import annotations

import json
from typing import BinaryIO, Callable
from urllib.parse import quote, urljoin

from dockyard.errors import InvalidContentError
from dockyard.oci.descriptor import MAX_MANIFEST_SIZE
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import MediaType
from dockyard.registry.client.auth import repository_scope
from dockyard.registry.client.session import Registry, error_from
from dockyard.registry.client.transport import Response
from dockyard.registry.errcode import Code, RegistryError

ACCEPT_MANIFESTS = ", ".join(
    [
        MediaType.OCI_INDEX,
        MediaType.DOCKER_MANIFEST_LIST,
        MediaType.OCI_MANIFEST,
        MediaType.DOCKER_MANIFEST,
        # listed so that a schema1-only image arrives as such and is refused clearly
        MediaType.DOCKER_MANIFEST_V1_SIGNED,
        MediaType.DOCKER_MANIFEST_V1,
    ]
)
MAX_CONFIG_SIZE = 8 * 1024 * 1024
MAX_TAG_PAGES = 1000


class Repository:
    def __init__(self, registry: Registry, path: str) -> None:
        self.registry = registry
        self.path = path
        self.pull_scopes = frozenset({repository_scope(path, "pull")})
        self.push_scopes = frozenset({repository_scope(path, "pull", "push")})

    def _path(self, suffix: str) -> str:
        return f"/v2/{self.path}/{suffix}"

    # manifests ---------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[bytes, str, Digest]:
        """The manifest's exact bytes, its media type and digest (checked when asked by digest)."""
        response = self.registry.request(
            "GET", self._path(f"manifests/{reference}"), scopes=self.pull_scopes, headers={"Accept": ACCEPT_MANIFESTS}
        )
        declared = response.header("Content-Length")
        if declared.isdigit() and int(declared) > MAX_MANIFEST_SIZE:
            response.close()
            raise InvalidContentError(f"manifest {reference} is larger than {MAX_MANIFEST_SIZE} bytes")
        try:
            raw = response.read_all(MAX_MANIFEST_SIZE)
        except Exception as exc:
            raise InvalidContentError(f"manifest {reference}: {exc}") from exc
        media_type = response.header("Content-Type").split(";")[0].strip()
        digest = Digest.of(raw)
        if reference.startswith("sha256:") and Digest.parse(reference) != digest:
            raise InvalidContentError(f"manifest verification failed for digest {reference}")
        return raw, media_type, digest

    def manifest_digest(self, reference: str) -> Digest | None:
        """HEAD a manifest: its digest, or None when the registry does not have it."""
        response = self.registry.request(
            "HEAD", self._path(f"manifests/{reference}"), scopes=self.pull_scopes,
            headers={"Accept": ACCEPT_MANIFESTS}, expect=(200, 404),
        )  # fmt: skip
        response.close()
        value = response.header("Docker-Content-Digest")
        return Digest.parse(value) if response.status == 200 and value else None

    def put_manifest(self, reference: str, raw: bytes, media_type: str) -> Digest:
        response = self.registry.request(
            "PUT", self._path(f"manifests/{reference}"), scopes=self.push_scopes,
            headers={"Content-Type": media_type}, body=raw, expect=(200, 201, 202),
        )  # fmt: skip
        response.close()
        return Digest.of(raw)

    def tags(self) -> list[str]:
        """Every tag, following the Link header's pagination."""
        out: list[str] = []
        path: str | None = self._path("tags/list")
        for _ in range(MAX_TAG_PAGES):
            if path is None:
                break
            body, response = self.registry.get_json(path, scopes=self.pull_scopes, limit=MAX_MANIFEST_SIZE)
            try:
                out += [str(t) for t in json.loads(body).get("tags") or []]
            except (ValueError, AttributeError) as exc:
                raise InvalidContentError("the registry's tag list is not valid JSON") from exc
            path = next_link(response)
        return out

    # blobs -------------------------------------------------------------------

    def blob_size(self, digest: Digest, scopes: frozenset[str] | None = None) -> int | None:
        """HEAD a blob: its size, or None when the repository does not have it."""
        response = self.registry.request(
            "HEAD", self._path(f"blobs/{digest}"), scopes=scopes or self.pull_scopes, expect=(200, 404)
        )
        response.close()
        length = response.header("Content-Length")
        return int(length) if response.status == 200 and length.isdigit() else (0 if response.status == 200 else None)

    def open_blob(self, digest: Digest, offset: int = 0) -> Response:
        """A streaming GET; 206 when ``offset`` was honoured, 200 when the body starts at 0."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        expect = (200, 206) if offset else (200,)
        return self.registry.request("GET", self._path(f"blobs/{digest}"), scopes=self.pull_scopes, headers=headers, expect=expect)

    def read_blob(self, digest: Digest, limit: int = MAX_CONFIG_SIZE) -> bytes:
        data = self.open_blob(digest).read_all(limit)
        if Digest.of(data, digest.algorithm) != digest:
            raise InvalidContentError(f"blob {digest}: digest mismatch (the registry sent other bytes)")
        return data

    # uploads -----------------------------------------------------------------

    def mount(self, digest: Digest, source: str) -> str | None:
        """Cross-repository mount: None when mounted, else the upload location the registry opened instead."""
        scopes = self.push_scopes | {repository_scope(source, "pull")}
        response = self.registry.request(
            "POST", self._path(f"blobs/uploads/?mount={digest}&from={quote(source, safe='/')}"),
            scopes=scopes, headers={"Content-Length": "0"}, expect=(201, 202),
        )  # fmt: skip
        response.close()
        return None if response.status == 201 else self._location(response)

    def start_upload(self) -> str:
        response = self.registry.request(
            "POST", self._path("blobs/uploads/"), scopes=self.push_scopes, headers={"Content-Length": "0"}, expect=(202,)
        )
        response.close()
        return self._location(response)

    def upload_monolithic(self, location: str, digest: Digest, size: int, opener: Callable[[], BinaryIO]) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self.registry.request(
            "PUT", _with_digest(location, digest), scopes=self.push_scopes, headers=headers, body=opener, expect=(201, 204)
        )
        response.close()

    def upload_chunked(self, location: str, digest: Digest, size: int, open_at: Callable[[int, int], Callable[[], BinaryIO]], chunk: int, progress: Callable[[int], None]) -> None:
        """PATCH ``chunk``-sized pieces, each replayable on a retry, then PUT the digest."""
        offset = 0
        while offset < size:
            length = min(chunk, size - offset)
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            }
            response = self.registry.request(
                "PATCH", location, scopes=self.push_scopes, headers=headers, body=open_at(offset, length), expect=(202, 204)
            )
            response.close()
            location = self._location(response) if response.header("Location") else location
            offset += length
            progress(offset)
        response = self.registry.request(
            "PUT", _with_digest(location, digest), scopes=self.push_scopes,
            headers={"Content-Length": "0"}, expect=(201, 204),
        )  # fmt: skip
        response.close()

    def _location(self, response: Response) -> str:
        location = response.header("Location")
        if not location:
            raise RegistryError(Code.BLOB_UPLOAD_INVALID, "the registry gave no upload location", status=response.status)
        return urljoin(response.url, location)


def _with_digest(location: str, digest: Digest) -> str:
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def next_link(response: Response) -> str | None:
    """The URL of ``Link: </v2/…?last=x&n=y>; rel="next"``, if any."""
    link = response.header("Link")
    if 'rel="next"' not in link or "<" not in link:
        return None
    return urljoin(response.url, link[link.index("<") + 1 : link.index(">")])


def catalog(registry: Registry, page: int = 1000) -> list[str]:
    """Every repository name of ``/v2/_catalog`` (needs the registry:catalog:* scope)."""
    scopes = frozenset({"registry:catalog:*"})
    out: list[str] = []
    path: str | None = f"/v2/_catalog?n={page}"
    for _ in range(MAX_TAG_PAGES):
        if path is None:
            break
        body, response = registry.get_json(path, scopes=scopes, limit=MAX_MANIFEST_SIZE)
        try:
            out += [str(r) for r in json.loads(body).get("repositories") or []]
        except (ValueError, AttributeError) as exc:
            raise InvalidContentError("the registry's catalog is not valid JSON") from exc
        path = next_link(response)
    return out


__all__ = ["ACCEPT_MANIFESTS", "Repository", "catalog", "error_from", "next_link"]
