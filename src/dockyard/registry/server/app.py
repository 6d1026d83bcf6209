"""The registry's HTTP application: routing, errors as the spec's JSON, headers, auth, metrics.

``build_app`` wires a ``ServerState`` (registry, uploads, auth, proxy) into an
aiohttp application. One catch-all route takes the /v2/ space and dispatches
with ``routes.match``, because repository names contain slashes. The handlers
themselves live in ``api_blobs`` and ``api_manifests``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from dockyard.registry.errcode import Code, RegistryError, error_body
from dockyard.registry.server import api_blobs, api_manifests, routes
from dockyard.registry.server.auth import Access
from dockyard.registry.server.routes import Endpoint, Route
from dockyard.registry.server.state import STATE_KEY, ServerState, state_of

log = logging.getLogger("dockyard.registry")

API_VERSION_HEADER = "Docker-Distribution-API-Version"
API_VERSION = "registry/2.0"

Handler = Callable[[web.Request, Route], Awaitable[web.StreamResponse]]


_HANDLERS: dict[tuple[Endpoint, str], Handler] = {
    (Endpoint.BASE, "GET"): api_manifests.base,
    (Endpoint.CATALOG, "GET"): api_manifests.catalog,
    (Endpoint.TAGS, "GET"): api_manifests.tags_list,
    (Endpoint.MANIFEST, "GET"): api_manifests.get_manifest,
    (Endpoint.MANIFEST, "PUT"): api_manifests.put_manifest,
    (Endpoint.MANIFEST, "DELETE"): api_manifests.delete_manifest,
    (Endpoint.REFERRERS, "GET"): api_manifests.referrers,
    (Endpoint.BLOB, "GET"): api_blobs.get_blob,
    (Endpoint.BLOB, "DELETE"): api_blobs.delete_blob,
    (Endpoint.UPLOADS, "POST"): api_blobs.start_upload,
    (Endpoint.UPLOAD, "GET"): api_blobs.upload_status,
    (Endpoint.UPLOAD, "PATCH"): api_blobs.patch_upload,
    (Endpoint.UPLOAD, "PUT"): api_blobs.finish_upload,
    (Endpoint.UPLOAD, "DELETE"): api_blobs.cancel_upload,
}
_WRITES = frozenset({"PUT", "PATCH", "POST", "DELETE"})


def needed_access(route: Route, method: str) -> list[Access]:
    """What a request needs, in the token scopes' terms."""
    if route.endpoint is Endpoint.BASE:
        return []
    if route.endpoint is Endpoint.CATALOG:
        return [Access("registry", "catalog", frozenset({"*"}))]
    if method in ("GET", "HEAD"):
        actions = frozenset({"pull"})
    elif method == "DELETE" and route.endpoint in (Endpoint.MANIFEST, Endpoint.BLOB):
        actions = frozenset({"delete"})
    else:
        actions = frozenset({"pull", "push"})
    return [Access("repository", route.name, actions)]


async def v2(request: web.Request) -> web.StreamResponse:
    route = routes.match(request.match_info.get("tail", ""))
    if route is None:
        raise RegistryError(Code.NAME_UNKNOWN, "no such endpoint", status=404)
    request["endpoint"] = route.endpoint.value
    method = "GET" if request.method == "HEAD" else request.method
    handler = _HANDLERS.get((route.endpoint, method))
    if handler is None:
        raise RegistryError(Code.UNSUPPORTED, f"{request.method} is not supported here")
    state = state_of(request)
    if state.auth is not None:
        request["identity"] = await state.auth.authorize(request, needed_access(route, method))
    if state.read_only and method in _WRITES:
        raise RegistryError(Code.UNSUPPORTED, "this registry is a pull-through cache: it does not accept pushes")
    return await handler(request, route)


def error_response(exc: RegistryError, request: web.Request) -> web.Response:
    headers = dict(getattr(exc, "headers", {}) or {})
    if request.method == "HEAD":
        return web.Response(status=exc.status, headers=headers)
    return web.Response(status=exc.status, body=error_body(exc), content_type="application/json", headers=headers)


@web.middleware
async def errors_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every failure leaves as the spec's JSON; nothing unexpected reaches the client as a traceback."""
    try:
        return await handler(request)
    except RegistryError as exc:
        return error_response(exc, request)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(RegistryError(Code.NAME_UNKNOWN, "no such endpoint", status=404), request)
        if exc.status == 405:
            return error_response(RegistryError(Code.UNSUPPORTED), request)
        if exc.status == 413:
            return error_response(RegistryError(Code.SIZE_INVALID, "request body too large", status=413), request)
        raise
    except ConnectionResetError:
        raise  # the client went away; there is no one to answer
    except Exception as exc:
        # storage failures and bugs: logged with the traceback, answered without it
        log.exception("request failed: %s %s", request.method, request.path)
        return error_response(RegistryError(Code.UNKNOWN, detail=str(exc)), request)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    started = time.monotonic()
    status = 500
    response: web.StreamResponse | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        sent = (response.content_length or 0) if response is not None else 0
        state_of(request).metrics.observe(
            request.get("endpoint", "other"), request.method, status, time.monotonic() - started, sent, request.content_length or 0
        )


class Inflight:
    """Requests being handled, so a shutdown can wait for them (uploads included) to finish.

    aiohttp's own graceful shutdown stops reading from connections at once,
    which would cut off every upload whose body is still arriving; the server
    instead stops listening, answers with ``Connection: close`` and waits here.
    """

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Waits until no request is in flight; False if ``timeout`` ran out first."""
        self.draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


INFLIGHT_KEY = web.AppKey("inflight", Inflight)


@web.middleware
async def inflight_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    inflight = request.app[INFLIGHT_KEY]
    inflight.enter()
    try:
        return await handler(request)
    finally:
        inflight.leave()


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/v2"):
        response.headers[API_VERSION_HEADER] = API_VERSION
    if request.app[INFLIGHT_KEY].draining:
        response.force_close()  # finish this request, then let the connection go


async def metrics_endpoint(request: web.Request) -> web.Response:
    state = state_of(request)
    text = state.metrics.render(Counter(dict(state.driver.ops)))  # a copy: pool threads keep counting
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})


def build_app(state: ServerState, extra_routes: list[web.RouteDef] | None = None) -> web.Application:
    # Bodies are streamed by the handlers; this only bounds the few that are read whole.
    app = web.Application(middlewares=[inflight_middleware, metrics_middleware, errors_middleware], client_max_size=8 * 1024 * 1024)
    app[STATE_KEY] = state
    app[INFLIGHT_KEY] = Inflight()
    app.on_response_prepare.append(_on_prepare)
    app.router.add_route("*", "/v2", v2, name="v2-root")
    app.router.add_route("*", "/v2/{tail:.*}", v2)
    app.router.add_get("/metrics", metrics_endpoint)
    for route in extra_routes or []:
        app.router.add_route(route.method, route.path, route.handler)  # type: ignore[attr-defined]
    return app
