"""Manifest, tag, catalog and referrers endpoints, and the /v2/ ping."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from dockyard.oci.descriptor import MAX_MANIFEST_SIZE
from dockyard.oci.mediatype import INDEX_TYPES, MediaType
from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server.manifests import (
    acceptable,
    accepted_types,
    not_acceptable,
    pick_from_index,
)
from dockyard.registry.server.registry import Registry, StoredManifest, paginate
from dockyard.registry.server.routes import Route, is_digest, parse_digest
from dockyard.registry.server.state import empty_response, json_response, state_of

CATALOG_MAX = 1000  # entries per catalog page, whatever n asks for


async def base(request: web.Request, route: Route) -> web.StreamResponse:
    return json_response({})


def _page_args(request: web.Request) -> tuple[int | None, str | None]:
    n = request.query.get("n")
    if n is not None and (not n.isdigit() or len(n) > 9):
        raise RegistryError(Code.PAGINATION_NUMBER_INVALID, detail={"n": n[:20]})
    return (int(n) if n is not None else None), request.query.get("last") or None


def _link(path: str, n: int, last: str) -> str:
    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


async def catalog(request: web.Request, route: Route) -> web.StreamResponse:
    n, last = _page_args(request)
    n = CATALOG_MAX if n is None else min(n, CATALOG_MAX)
    state = state_of(request)
    names = await state.storage.run(state.registry.repositories)
    page, more = paginate(names, n, last)
    headers = {"Link": _link("/v2/_catalog", n, page[-1])} if more and page else None
    return json_response({"repositories": page}, headers=headers)


async def tags_list(request: web.Request, route: Route) -> web.StreamResponse:
    n, last = _page_args(request)
    state = state_of(request)
    tags = await state.storage.run(state.registry.tags, route.name)
    page, more = paginate(tags, n, last)
    headers = {"Link": _link(f"/v2/{route.name}/tags/list", n, page[-1])} if more and page and n else None
    return json_response({"name": route.name, "tags": page}, headers=headers)


async def get_manifest(request: web.Request, route: Route) -> web.StreamResponse:
    state = state_of(request)
    if state.proxy is not None:
        await state.proxy.ensure_manifest(route.name, route.reference)
    accepted = accepted_types(request.headers.getall("Accept", []))
    stored = await state.storage.run(_find_manifest, state.registry, route, accepted)
    headers = {"Docker-Content-Digest": str(stored.digest), "ETag": f'"{stored.digest}"'}
    return web.Response(body=stored.raw, content_type=stored.media_type, headers=headers)


def _find_manifest(registry: Registry, route: Route, accepted: set[str]) -> StoredManifest:
    stored = registry.get_manifest(route.name, route.reference)
    return stored if acceptable(stored.media_type, accepted) else _fallback(registry, route, stored, accepted)


def _fallback(registry: Registry, route: Route, stored: StoredManifest, accepted: set[str]) -> StoredManifest:
    """An old client asking by tag for an index it cannot read gets the linux/amd64 image instead."""
    if stored.media_type in INDEX_TYPES and not is_digest(route.reference):
        child = pick_from_index(stored.raw, stored.media_type, accepted)
        if child is not None:
            return registry.get_manifest(route.name, str(child.digest))
    raise not_acceptable(stored.media_type)


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError(Code.SIZE_INVALID, f"manifest is larger than {limit} bytes", status=413)
    data = bytearray()
    async for chunk in request.content.iter_any():
        data += chunk
        if len(data) > limit:
            raise RegistryError(Code.SIZE_INVALID, f"manifest is larger than {limit} bytes", status=413)
    return bytes(data)


async def put_manifest(request: web.Request, route: Route) -> web.StreamResponse:
    raw = await _read_limited(request, MAX_MANIFEST_SIZE)
    state = state_of(request)
    digest, pushed = await state.storage.run(state.registry.put_manifest, route.name, route.reference, raw, request.headers.get("Content-Type"))
    headers = {"Location": f"/v2/{route.name}/manifests/{digest}", "Docker-Content-Digest": str(digest)}
    if pushed.subject is not None:
        headers["OCI-Subject"] = str(pushed.subject.digest)
    return empty_response(201, headers)


async def delete_manifest(request: web.Request, route: Route) -> web.StreamResponse:
    state = state_of(request)
    await state.storage.run(state.registry.delete_manifest, route.name, route.reference)
    return empty_response(202)


async def referrers(request: web.Request, route: Route) -> web.StreamResponse:
    subject = parse_digest(route.reference)
    artifact_type = request.query.get("artifactType") or None
    state = state_of(request)
    found = await state.storage.run(state.registry.referrers, route.name, subject, artifact_type)
    headers = {"OCI-Filters-Applied": "artifactType"} if artifact_type else None
    index = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX.value, "manifests": found}
    return json_response(index, headers=headers, content_type=MediaType.OCI_INDEX.value)
