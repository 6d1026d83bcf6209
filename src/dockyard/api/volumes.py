"""Volume routes: list, create, inspect, remove, prune, over the volume service; the documents are
``engine.volume_json``'s, as ``dockyard volume inspect`` prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.api.containers import filters_of
from dockyard.api.http import Request, Response, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.volumes import VolumeFilters


def _filters(request: Request, prune: bool = False) -> VolumeFilters:
    from dockyard.engine.volumes import LS_FILTERS, PRUNE_FILTERS, VolumeFilters

    given = filters_of(request)
    if prune:
        given.pop("all", None)  # API 1.42's "named ones too": Docker 20.10's prune took them always
    terms = [f"{key}={value}" for key, values in given.items() for value in values]
    return VolumeFilters.parse(terms, PRUNE_FILTERS if prune else LS_FILTERS)


def list_volumes(request: Request) -> Response:
    from dockyard.engine.volume_json import volume_json

    found = request.engine.volume_service.list(_filters(request))
    return json_response({"Volumes": [volume_json(v) for v in found], "Warnings": None})


def create(request: Request) -> Response:
    from dockyard.engine.volume_json import volume_json
    from dockyard.engine.volumes import VolumeCreateOptions

    body = request.json()
    if not isinstance(body, dict):
        raise InvalidArgumentError("a JSON object is required")
    opts = VolumeCreateOptions(body.get("Name") or None, body.get("Driver") or "local", dict(body.get("Labels") or {}),
                               dict(body.get("DriverOpts") or {}))
    return json_response(volume_json(request.engine.volume_service.create(opts)), 201)


def inspect(request: Request) -> Response:
    from dockyard.engine.volume_json import volume_json

    return json_response(volume_json(request.engine.volume_service.inspect(request.params["name"])))


def remove(request: Request) -> Response:
    request.engine.volume_service.remove(request.params["name"], force=request.flag("force"))
    return empty(204)


def prune(request: Request) -> Response:
    report = request.engine.volume_service.prune(_filters(request, prune=True))
    return json_response({"VolumesDeleted": list(report.deleted) or None, "SpaceReclaimed": report.reclaimed})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/volumes", list_volumes),
    Route("POST", "/volumes/create", create),
    Route("POST", "/volumes/prune", prune),
    Route("GET", "/volumes/{name}", inspect),
    Route("DELETE", "/volumes/{name}", remove),
)
