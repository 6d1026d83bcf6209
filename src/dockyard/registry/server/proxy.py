"""Pull-through cache: the registry as a mirror of one upstream registry.

On a miss, a manifest is fetched from the upstream and stored; a blob is
streamed to the client while it is written to an upload session, and
published once its digest checks out, so the next pull is served locally.
Tags are re-validated upstream (a HEAD) after ``ttl`` seconds; if the
upstream cannot be reached, the cached copy is served. Manifests are stored
without the usual "every blob present" check, since blobs arrive on demand.

Upstream auth: Basic, or Docker's token flow (follow the Bearer challenge to
its realm, with the configured credentials if any); tokens are cached per
scope until they expire.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from dockyard.oci.descriptor import MAX_MANIFEST_SIZE
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import MediaType
from dockyard.registry.errcode import Code, RegistryError, parse_error_body
from dockyard.registry.server import paths
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.routes import is_digest, parse_digest
from dockyard.registry.server.storage import PathNotFoundError
from dockyard.registry.server.uploads import Uploads

ACCEPT = ", ".join(
    [MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST, MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST]
)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_CHUNK = 1 << 20


class UpstreamError(RegistryError):
    """The upstream registry failed or could not be reached."""


class PullThrough:
    def __init__(
        self,
        remote: str,
        registry: Registry,
        uploads: Uploads,
        username: str | None = None,
        password: str | None = None,
        ttl: float = 300.0,
    ) -> None:
        self.remote = remote.rstrip("/")
        self.registry = registry
        self.uploads = uploads
        self.storage = uploads.storage  # every storage call goes through it, off the event loop
        self.credentials = (username, password or "") if username else None
        self.ttl = ttl
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[str, float]] = {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # manifests ----------------------------------------------------------------

    async def ensure_manifest(self, name: str, reference: str) -> None:
        """Makes the local registry hold a current copy of ``reference`` (or leaves what it has)."""
        if is_digest(reference):
            digest = parse_digest(reference)
            if not await self.storage.exists(paths.revision_link(name, digest)):
                await self._fetch_manifest(name, reference)
            return
        local, fresh = await self.storage.run(self._local_tag, name, reference)
        if local is not None and fresh:
            return
        try:
            upstream = await self._head_manifest(name, reference)
            if local is None or upstream != local:
                await self._fetch_manifest(name, reference)
            await self.storage.put_content(paths.tag_checked(name, reference), f"{time.time():.3f}".encode())
        except RegistryError:
            if local is None:
                raise
            # the upstream is down or forgot the tag: the cached copy is better than nothing

    def _local_tag(self, name: str, tag: str) -> tuple[Digest | None, bool]:
        """The digest the cache holds for the tag, if any, and whether it was checked upstream lately."""
        try:
            return self.registry.resolve(name, tag), self._fresh(name, tag)
        except RegistryError:
            return None, False

    def _fresh(self, name: str, tag: str) -> bool:
        try:
            checked = float(self.registry.driver.get_content(paths.tag_checked(name, tag)))
        except (PathNotFoundError, ValueError):  # never checked, or unreadable: stale
            return False
        return time.time() - checked < self.ttl

    async def _head_manifest(self, name: str, reference: str) -> Digest | None:
        async with await self._request("HEAD", name, f"manifests/{reference}", {"Accept": ACCEPT}) as response:
            await _raise_for_status(response)
            value = response.headers.get("Docker-Content-Digest")
            return Digest.parse(value) if value else None

    async def _fetch_manifest(self, name: str, reference: str) -> None:
        async with await self._request("GET", name, f"manifests/{reference}", {"Accept": ACCEPT}) as response:
            await _raise_for_status(response)
            raw = await response.content.read(MAX_MANIFEST_SIZE + 1)
            if len(raw) > MAX_MANIFEST_SIZE:
                raise UpstreamError(Code.MANIFEST_INVALID, "upstream manifest is too large")
            content_type = response.headers.get("Content-Type")
        await self.storage.run(self.registry.put_manifest, name, reference, raw, content_type, check_references=False)

    # blobs --------------------------------------------------------------------

    async def ensure_blob(self, request: web.Request, name: str, digest: Digest) -> web.StreamResponse | None:
        """None when the blob is (now) local; else the response that streams it from upstream."""
        if await self.storage.run(self._cached, name, digest):
            return None
        upstream = await self._request(request.method, name, f"blobs/{digest}", {})
        try:
            await _raise_for_status(upstream)
            headers = {"Docker-Content-Digest": str(digest), "Content-Type": "application/octet-stream"}
            if upstream.content_length is not None:
                headers["Content-Length"] = str(upstream.content_length)
            response = web.StreamResponse(headers=headers)
            if request.method == "HEAD":
                await response.prepare(request)
                return response
            await response.prepare(request)
            session = await self.uploads.start(name)
            try:
                await self.uploads.finish(name, session.upload_id, digest, _tee(upstream.content, response))
            except BaseException:
                await self.uploads.discard(name, session.upload_id)
                raise
            await response.write_eof()
            return response
        finally:
            upstream.release()

    def _cached(self, name: str, digest: Digest) -> bool:
        """Whether the blob is local for ``name``; one cached for another repository is linked here."""
        if self.registry.driver.exists(paths.layer_link(name, digest)) and self.registry.has_blob(digest):
            return True
        if self.registry.has_blob(digest):  # cached for another repository of the same upstream
            self.registry.link_blob(name, digest)
            return True
        return False

    # upstream HTTP ------------------------------------------------------------

    async def _request(self, method: str, name: str, tail: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60))
        url = f"{self.remote}/v2/{name}/{tail}"
        scope = f"repository:{name}:pull"
        try:
            response = await self._session.request(method, url, headers={**headers, **self._auth_header(scope)})
            if response.status == 401 and "WWW-Authenticate" in response.headers:
                challenge = response.headers["WWW-Authenticate"]
                response.release()
                await self._authenticate(challenge, scope)
                response = await self._session.request(method, url, headers={**headers, **self._auth_header(scope)})
            return response
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(Code.UNAVAILABLE, f"upstream {self.remote} unreachable: {exc}") from exc

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        if self.credentials is not None and "basic" in self._tokens:
            return {"Authorization": self._basic()}
        return {}

    def _basic(self) -> str:
        assert self.credentials is not None
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    async def _authenticate(self, challenge: str, scope: str) -> None:
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "basic":
            if self.credentials is None:
                raise UpstreamError(Code.UNAUTHORIZED, "upstream wants credentials; set --proxy-username/--proxy-password")
            self._tokens["basic"] = ("", float("inf"))
            return
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        query = {"service": params.get("service", ""), "scope": scope}
        headers = {"Authorization": self._basic()} if self.credentials else {}
        assert self._session is not None
        async with self._session.get(params["realm"], params=query, headers=headers) as response:
            if response.status != 200:
                raise UpstreamError(Code.UNAUTHORIZED, f"upstream token service refused: {response.status}")
            body = await response.json(content_type=None)
        token = body.get("token") or body.get("access_token")
        lifetime = float(body.get("expires_in") or 60)
        self._tokens[scope] = (token, time.monotonic() + max(lifetime - 10, 1))


async def _tee(source: aiohttp.StreamReader, response: web.StreamResponse) -> AsyncIterator[bytes]:
    """The upstream's bytes, written to the client as they are yielded to the storage."""
    async for chunk in source.iter_chunked(_CHUNK):
        await response.write(chunk)
        yield chunk


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 300:
        return
    body = await response.content.read(64 * 1024) if response.method != "HEAD" else b""
    error = parse_error_body(response.status, body)
    if response.status == 404:
        code = Code.BLOB_UNKNOWN if "/blobs/" in response.url.path else Code.MANIFEST_UNKNOWN
        raise UpstreamError(code, error.message if body else "", status=404)
    if response.status in (401, 403):
        raise UpstreamError(Code.UNAUTHORIZED if response.status == 401 else Code.DENIED, f"upstream: {error.message}", status=response.status)
    raise UpstreamError(Code.UNAVAILABLE, f"upstream answered {response.status}: {error.message}", status=502)
