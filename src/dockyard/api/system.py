"""System routes: ``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/events``, ``/auth``, and Docker's
answers for what dockyard does not run (swarm, plugins)."""

from __future__ import annotations

from dockyard.api.http import Request, Response, json_response
from dockyard.api.router import API_VERSION, MIN_API_VERSION, Route, version_text

_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


def ping(request: Request) -> Response:
    """dockerd's ping: "OK" as text, never cached; HEAD has the headers only. ``Builder-Version: 1``: the
    classic builder's ``/build`` (there is no BuildKit session endpoint)."""
    headers = {**_NO_CACHE, "Builder-Version": "1"}
    if request.method == "HEAD":
        headers["Content-Length"] = "0"
    return Response(200, b"OK", "text/plain; charset=utf-8", headers)


def version(request: Request) -> Response:
    from dockyard.engine.version import engine_version, version_document

    document = version_document(
        engine_version(request.engine), "dockyard Engine", version_text(API_VERSION), version_text(MIN_API_VERSION)
    )
    return json_response(document)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/_ping", ping),
    Route("HEAD", "/_ping", ping),
    Route("GET", "/version", version),
)
