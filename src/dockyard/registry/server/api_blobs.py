"""Blob endpoints: GET/HEAD (sendfile, Range), DELETE, and the upload protocol.

Uploads (distribution-spec "pushing blobs"): POST starts a session, mounts a
blob from another repository (``mount=``, ``from=``) or takes the whole blob
at once (``digest=``); PATCH appends a chunk; PUT appends the last one and
commits against the digest; GET reports progress; DELETE cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from dockyard.oci.digest import Digest
from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server.auth import Access
from dockyard.registry.server.routes import Route, is_valid_name, parse_digest
from dockyard.registry.server.state import ServerState, empty_response, state_of
from dockyard.registry.server.storage_async import AsyncReader, AsyncStorage
from dockyard.registry.server.uploads import ContentRange, Session

_STREAM_CHUNK = 2 << 20  # per read from a remote store; two in flight per download


async def get_blob(request: web.Request, route: Route) -> web.StreamResponse:
    state = state_of(request)
    digest = parse_digest(route.reference)
    if state.proxy is not None:
        cached = await state.proxy.ensure_blob(request, route.name, digest)
        if cached is not None:  # streamed straight from the upstream while being stored
            return cached
    storage = state.storage
    info = await storage.run(state.registry.stat_blob, route.name, digest)
    headers = {
        "Docker-Content-Digest": str(digest),
        "Content-Type": "application/octet-stream",
        # a blob never changes: caches may keep it for good
        "Cache-Control": "max-age=31536000",
        "Accept-Ranges": "bytes",
    }
    local = storage.local_path(info.path)
    if local is not None:
        return web.FileResponse(local, headers=headers)  # sendfile, Range, HEAD
    if request.method == "GET" and (url := storage.redirect_url(info.path)) is not None:
        # the client fetches straight from the object store
        return empty_response(307, {"Location": url, "Docker-Content-Digest": str(digest)})
    return await _stream(request, storage, info.path, info.size, headers)


def _byte_range(request: web.Request, size: int) -> tuple[int, int] | None:
    """The one (start, end-exclusive) range asked for, None for the whole blob; 416 if unsatisfiable."""
    try:
        ranges = request.http_range
    except ValueError:
        return None  # malformed: ignored, as RFC 9110 allows
    if ranges.start is None and ranges.stop is None:
        return None
    start, stop = ranges.start, ranges.stop
    if start is not None and start < 0:  # suffix form: the last -start bytes
        start, stop = max(size + start, 0), size
    start, stop = start or 0, min(stop if stop is not None else size, size)
    if start >= size or start >= stop:
        raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, stop


async def _stream(request: web.Request, storage: AsyncStorage, path: str, size: int, headers: dict[str, str]) -> web.StreamResponse:
    """A blob from a non-local backend, whole or one range, read as it is sent."""
    byte_range = _byte_range(request, size)
    start, stop = byte_range or (0, size)
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    if byte_range:
        response.headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response.content_length = stop - start
    await response.prepare(request)
    if request.method != "HEAD":
        async with await storage.open_read(path, start) as f:
            await _relay(f, stop - start, response, path)
    await response.write_eof()
    return response


async def _relay(f: AsyncReader, size: int, response: web.StreamResponse, path: str) -> None:
    """Sends ``size`` bytes of ``f``, reading the next chunk from the store while this one goes out."""
    left = size
    reading = asyncio.ensure_future(f.read(min(_STREAM_CHUNK, left)))
    try:
        while True:
            try:
                chunk = await reading
            except Exception as exc:  # the store went away mid-blob: the client must see a cut, not an end
                raise ConnectionResetError(f"storage failed {left} bytes before the end of {path}: {exc}") from exc
            if not chunk:
                raise ConnectionResetError(f"storage ended {left} bytes early: {path}")
            left -= len(chunk)
            if left > 0:
                reading = asyncio.ensure_future(f.read(min(_STREAM_CHUNK, left)))
            await response.write(chunk)
            if left <= 0:
                return
    finally:
        if not reading.done():  # the client went away: let the read finish before the stream closes
            await asyncio.gather(reading, return_exceptions=True)


async def delete_blob(request: web.Request, route: Route) -> web.StreamResponse:
    digest = parse_digest(route.reference)
    state = state_of(request)
    await state.storage.run(state.registry.delete_blob, route.name, digest)
    return empty_response(202, {"Docker-Content-Digest": str(digest)})


def _body(request: web.Request) -> AsyncIterator[bytes]:
    return request.content.iter_any()


def _content_range(request: web.Request) -> ContentRange | None:
    value = request.headers.get("Content-Range")
    return ContentRange.parse(value) if value else None


def _session_headers(session: Session) -> dict[str, str]:
    return {"Location": session.location, "Range": session.range_header, "Docker-Upload-UUID": session.upload_id}


def _created(name: str, digest: Digest) -> web.Response:
    return empty_response(201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": str(digest)})


async def start_upload(request: web.Request, route: Route) -> web.StreamResponse:
    state = state_of(request)
    query = request.query
    if "mount" in query:
        digest = parse_digest(query["mount"])
        source = query.get("from")
        if await _may_mount(request, state, source) and await state.storage.run(state.registry.mount_blob, route.name, digest, source):
            return _created(route.name, digest)
        # not mountable: fall through to an ordinary session, as the spec says
    if "digest" in query:
        digest = parse_digest(query["digest"])
        session = await state.uploads.start(route.name)
        try:
            await state.uploads.finish(route.name, session.upload_id, digest, _body(request), None, request.content_length)
        except BaseException:
            await state.uploads.discard(route.name, session.upload_id)  # a monolithic upload has no session to keep
            raise
        return _created(route.name, digest)
    session = await state.uploads.start(route.name)
    return empty_response(202, _session_headers(session))


async def _may_mount(request: web.Request, state: ServerState, source: str | None) -> bool:
    """Whether the client may take blobs from ``source`` (it must be allowed to pull there)."""
    if source is None:
        # automatic mounts would reveal blobs of repositories the client may not read
        return state.auth is None
    if not is_valid_name(source):
        return False
    if state.auth is None:
        return True
    return state.auth.permits(request.get("identity"), Access("repository", source, frozenset({"pull"})))


async def upload_status(request: web.Request, route: Route) -> web.StreamResponse:
    session = await state_of(request).uploads.status(route.name, route.reference)
    return empty_response(204, _session_headers(session))


async def patch_upload(request: web.Request, route: Route) -> web.StreamResponse:
    uploads = state_of(request).uploads
    session = await uploads.append(route.name, route.reference, _body(request), _content_range(request), request.content_length)
    return empty_response(202, _session_headers(session))


async def finish_upload(request: web.Request, route: Route) -> web.StreamResponse:
    uploads = state_of(request).uploads
    if "digest" not in request.query:
        await uploads.status(route.name, route.reference)
        raise RegistryError(Code.DIGEST_INVALID, "digest parameter missing")
    digest = parse_digest(request.query["digest"])
    body = _body(request) if request.body_exists else None
    await uploads.finish(route.name, route.reference, digest, body, _content_range(request), request.content_length if body else None)
    return _created(route.name, digest)


async def cancel_upload(request: web.Request, route: Route) -> web.StreamResponse:
    await state_of(request).uploads.cancel(route.name, route.reference)
    return empty_response(204)
