"""Network routes: list, inspect, create, remove, connect, disconnect, prune, over the network service;
the documents are ``engine.network_json``'s, as ``dockyard network inspect`` prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.api.containers import filters_of
from dockyard.api.http import Request, Response, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.engine.networks import NetworkFilters


def _filters(request: Request) -> NetworkFilters:
    from dockyard.engine.networks import NetworkFilters

    return NetworkFilters.parse([f"{key}={value}" for key, values in filters_of(request).items() for value in values])


def _body(request: Request) -> dict[str, Any]:
    body = request.json()
    if not isinstance(body, dict):
        raise InvalidArgumentError("a JSON object is required")
    return body


def list_networks(request: Request) -> Response:
    """Docker lists networks without their containers (``inspect`` has them)."""
    from dockyard.engine.network_json import network_json
    from dockyard.engine.network_reports import NetworkReport

    found = request.engine.network_service.list(_filters(request))
    return json_response([network_json(NetworkReport(net, ())) for net in found])


def inspect(request: Request) -> Response:
    from dockyard.engine.network_json import network_json

    return json_response(network_json(request.engine.network_service.inspect(request.params["id"])))


def create(request: Request) -> Response:
    from dockyard.engine.networks import NetworkSpec

    body = _body(request)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("network name is required")
    configs = (body.get("IPAM") or {}).get("Config") or [{}]
    if len(configs) > 1:
        raise InvalidArgumentError("dockyard networks take one IPAM configuration")
    spec = NetworkSpec(name, body.get("Driver") or "bridge", configs[0].get("Subnet") or None,
                       configs[0].get("Gateway") or None, bool(body.get("Internal")), dict(body.get("Labels") or {}))
    net = request.engine.network_service.create(spec)
    return json_response({"Id": net.id, "Warning": ""}, 201)


def remove(request: Request) -> Response:
    request.engine.network_service.remove(request.params["id"])
    return empty(204)


def connect(request: Request) -> Response:
    body = _body(request)
    endpoint = body.get("EndpointConfig") or {}
    aliases = tuple(endpoint.get("Aliases") or ())
    request.engine.network_service.connect(request.params["id"], _container(body), aliases)
    return empty(200)


def disconnect(request: Request) -> Response:
    body = _body(request)
    request.engine.network_service.disconnect(request.params["id"], _container(body), force=bool(body.get("Force")))
    return empty(200)


def _container(body: dict[str, Any]) -> str:
    name = body.get("Container")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("container is required")
    return name


def prune(request: Request) -> Response:
    report = request.engine.network_service.prune(_filters(request))
    return json_response({"NetworksDeleted": list(report.deleted) or None})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/networks", list_networks),
    Route("POST", "/networks/create", create),
    Route("POST", "/networks/prune", prune),
    Route("GET", "/networks/{id}", inspect),
    Route("DELETE", "/networks/{id}", remove),
    Route("POST", "/networks/{id}/connect", connect),
    Route("POST", "/networks/{id}/disconnect", disconnect),
)
