"""Network routes: list, inspect, create, remove, connect, disconnect, prune, over the network service;
the documents are ``engine.network_json``'s, as ``dockyard network inspect`` prints them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.api.containers import filters_of
from dockyard.api.endpoints import endpoint_settings, string_map
from dockyard.api.http import Request, Response, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    from dockyard.engine.networks import IpamPool, NetworkFilters


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


def _pool(config: object) -> IpamPool:
    from dockyard.engine.networks import IpamPool

    if not isinstance(config, dict):
        raise InvalidArgumentError("IPAM.Config: a list of JSON objects is required")
    aux = string_map(config.get("AuxiliaryAddresses"), "IPAM.Config.AuxiliaryAddresses")
    return IpamPool(config.get("Subnet") or None, config.get("IPRange") or None, config.get("Gateway") or None,
                    tuple(aux.items()))


def create(request: Request) -> Response:
    from dockyard.engine.networks import NetworkSpec

    body = _body(request)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError("network name is required")
    ipam = body.get("IPAM") or {}
    if not isinstance(ipam, dict):
        raise InvalidArgumentError("IPAM: a JSON object is required")
    if (ipam.get("Driver") or "default") != "default":
        raise NotFoundError(f'plugin "{ipam["Driver"]}" not found')
    options = ipam.get("Options")
    spec = NetworkSpec(name, body.get("Driver") or "bridge", tuple(_pool(c) for c in ipam.get("Config") or ()),
                       bool(body.get("Internal")), string_map(body.get("Labels"), "Labels"),
                       string_map(body.get("Options"), "Options"), bool(body.get("EnableIPv6")),
                       None if options is None else string_map(options, "IPAM.Options"))
    net = request.engine.network_service.create(spec)
    return json_response({"Id": net.id, "Warning": ""}, 201)


def remove(request: Request) -> Response:
    request.engine.network_service.remove(request.params["id"])
    return empty(204)


def connect(request: Request) -> Response:
    body = _body(request)
    endpoint = endpoint_settings(body.get("EndpointConfig"))
    request.engine.network_service.connect(request.params["id"], _container(body), endpoint)
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
