"""``/v1/search``: the Docker Hub search API on a private registry, so ``docker search HOST/term`` works.

Distribution has no search. Results are the repositories whose name contains
the term, each described by its image's ``org.opencontainers.image.description``
label (or annotation), read from the ``latest`` tag (else the last tag). With
auth on, a client sees only repositories it may pull.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard.errors import DockyardError
from dockyard.oci.digest import Digest
from dockyard.oci.mediatype import INDEX_TYPES
from dockyard.registry.errcode import Code, RegistryError
from dockyard.registry.server import paths
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.state import json_response, state_of

DESCRIPTION_KEY = "org.opencontainers.image.description"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
_CACHE_MAX = 10_000
_cache: dict[Digest, str] = {}  # manifest digest -> description; content never changes


async def v1_ping(request: web.Request) -> web.Response:
    # docker's v1 endpoint check: any answer will do; say we are a standalone registry
    return json_response({"standalone": True}, headers={"X-Docker-Registry-Standalone": "true", "X-Docker-Registry-Version": "2.0"})


async def v1_search(request: web.Request) -> web.Response:
    state = state_of(request)
    term = request.query.get("q", "").strip().lower()
    n_text, page_text = request.query.get("n", str(DEFAULT_PAGE_SIZE)), request.query.get("page", "1")
    if not n_text.isdigit() or not page_text.isdigit() or int(page_text) < 1:
        raise RegistryError(Code.PAGINATION_NUMBER_INVALID, detail={"n": n_text[:20], "page": page_text[:20]})
    size = min(int(n_text) or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    page = int(page_text)
    visible: Callable[[str], bool] = lambda name: True
    if state.auth is not None:
        visible = await state.auth.search_filter(request)
    results = await state.storage.run(_search, state.registry, term, visible)
    total = len(results)
    chosen = results[(page - 1) * size : page * size]
    described = await state.storage.run(_describe_all, state.registry, chosen)
    return json_response(
        {
            "num_results": total,
            "num_pages": max((total + size - 1) // size, 1),
            "page": page,
            "page_size": size,
            "query": term,
            "results": described,
        }
    )


def _search(registry: Registry, term: str, visible: Callable[[str], bool]) -> list[dict[str, Any]]:
    return [
        {"name": name, "description": "", "star_count": 0, "is_official": False, "is_automated": False, "is_trusted": False}
        for name in registry.repositories()
        if term in name and visible(name) and registry.driver.exists(paths.tags_dir(name))
    ]


def _describe_all(registry: Registry, chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "description": _description(registry, r["name"])} for r in chosen]


def _description(registry: Registry, name: str) -> str:
    tags = registry.tags(name)
    if not tags:
        return ""
    try:
        stored = registry.get_manifest(name, "latest" if "latest" in tags else tags[-1])
    except RegistryError:
        return ""
    if stored.digest not in _cache:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()  # crude, but bounded: descriptions are cheap to read again
        _cache[stored.digest] = _describe(registry, name, stored.raw, stored.media_type)
    return _cache[stored.digest]


def _describe(registry: Registry, name: str, raw: bytes, media_type: str) -> str:
    """The description label of an image (the first image of an index)."""
    try:
        document = json.loads(raw)
        if media_type in INDEX_TYPES:
            annotated = (document.get("annotations") or {}).get(DESCRIPTION_KEY)
            if annotated:
                return str(annotated)
            child = registry.get_manifest(name, document["manifests"][0]["digest"])
            document = json.loads(child.raw)
        annotated = (document.get("annotations") or {}).get(DESCRIPTION_KEY)
        if annotated:
            return str(annotated)
        config = json.loads(registry.driver.get_content(paths.blob_data(Digest.parse(document["config"]["digest"]))))
        labels = (config.get("config") or {}).get("Labels") or {}
        return str(labels.get(DESCRIPTION_KEY, ""))
    except (DockyardError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        # a description is decoration: an image without a readable config simply has none
        return ""


def search_routes() -> list[web.RouteDef]:
    return [web.get("/v1/_ping", v1_ping), web.get("/v1/search", v1_search)]
