"""System routes: ``/_ping``, ``/version``, ``/info``, ``/system/df``, ``/events``, ``/auth``, and Docker's
answers for what dockyard does not run (swarm, services, nodes, secrets, configs, plugins)."""

from __future__ import annotations

from typing import Callable

from dockyard.api.http import HTTPError, Request, Response, json_response
from dockyard.api.router import API_VERSION, MIN_API_VERSION, Route, version_text
from dockyard.errors import InvalidArgumentError, NotSwarmManagerError

_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}
NOT_IN_SWARM = "This node is not part of a swarm"


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


def info(request: Request) -> Response:
    from dockyard.engine.system_json import info_document

    return json_response(info_document(request.engine.system.info()))


def disk_usage(request: Request) -> Response:
    from dockyard.api.images import for_version
    from dockyard.engine.system_json import disk_usage_document

    document = disk_usage_document(request.engine.system.disk_usage())
    document["Images"] = [for_version(image, request.version) for image in document["Images"]]
    return json_response(document)


def timestamp(value: str | None, name: str) -> float | None:
    """Docker's ``since``/``until``: Unix seconds, with an optional fraction (``1700000000.000000001``)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidArgumentError(f"failed to parse value as time or duration: {value!r} ({name})") from None


def events(request: Request) -> Response:
    """The store's event log as Docker's JSON stream: past events from ``since``, then live ones until
    ``until`` (or until the client goes)."""
    from dockyard.api.http import HIJACKED
    from dockyard.engine.events import EventFilter, event_message

    since = timestamp(request.arg("since"), "since")
    until = timestamp(request.arg("until"), "until")
    keep = EventFilter.parse(request.filters())
    log = request.engine.events
    stream = request.stream()
    for event in log.follow(since, until, keep, stop=request.client_gone):
        stream.json_line(event_message(event))
    stream.close()
    return HIJACKED


def auth(request: Request) -> Response:
    """Checks a login with its registry, storing nothing (the CLI's ``login`` stores it client-side)."""
    from dockyard.engine.registry import LoginRefusedError, LoginRequest

    body = request.json()
    if not isinstance(body, dict):
        raise InvalidArgumentError("invalid JSON body: an AuthConfig object is expected")
    login = LoginRequest(str(body.get("serveraddress") or ""), str(body.get("username") or ""),
                         str(body.get("password") or ""))  # fmt: skip
    try:
        request.engine.registry.check_login(login)
    except LoginRefusedError as exc:
        raise HTTPError(401, str(exc)) from exc
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


def _error(status: int, message: str) -> Callable[[Request], Response]:
    def answer(request: Request) -> Response:
        raise HTTPError(status, message)

    return answer


def _plugin_missing(request: Request) -> Response:
    raise HTTPError(404, f'plugin "{request.params["name"]}" not found')


def _empty_list(request: Request) -> Response:
    return json_response([])


_SWARM_READS = ("/swarm", "/swarm/unlockkey", "/nodes", "/nodes/{id}", "/services", "/services/{id}",
                "/services/{id}/logs", "/tasks", "/tasks/{id}", "/tasks/{id}/logs", "/secrets", "/secrets/{id}",
                "/configs", "/configs/{id}")  # fmt: skip
_SWARM_WRITES = (("POST", "/swarm/update"), ("POST", "/swarm/unlock"), ("POST", "/nodes/{id}/update"),
                 ("DELETE", "/nodes/{id}"), ("POST", "/services/create"), ("POST", "/services/{id}/update"),
                 ("DELETE", "/services/{id}"), ("POST", "/secrets/create"), ("POST", "/secrets/{id}/update"),
                 ("DELETE", "/secrets/{id}"), ("POST", "/configs/create"), ("POST", "/configs/{id}/update"),
                 ("DELETE", "/configs/{id}"))  # fmt: skip
_NO_SWARM = "dockyard does not run swarm: it manages this host's images and containers only"
_NO_PLUGINS = "dockyard does not support plugins"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/_ping", ping),
    Route("HEAD", "/_ping", ping),
    Route("GET", "/version", version),
    Route("GET", "/info", info),
    Route("GET", "/system/df", disk_usage),
    Route("GET", "/events", events),
    Route("POST", "/auth", auth),
    *(Route("GET", path, _error(503, NotSwarmManagerError.MESSAGE)) for path in _SWARM_READS),
    *(Route(method, path, _error(503, NotSwarmManagerError.MESSAGE)) for method, path in _SWARM_WRITES),
    Route("POST", "/swarm/init", _error(501, _NO_SWARM)),
    Route("POST", "/swarm/join", _error(501, _NO_SWARM)),
    Route("POST", "/swarm/leave", _error(503, NOT_IN_SWARM)),
    Route("GET", "/plugins", _empty_list),
    Route("GET", "/plugins/{name:path}/json", _plugin_missing),
    Route("DELETE", "/plugins/{name:path}", _plugin_missing),
    *(Route("POST", path, _error(501, _NO_PLUGINS)) for path in (
        "/plugins/pull", "/plugins/create", "/plugins/{name}/enable", "/plugins/{name}/disable",
        "/plugins/{name}/upgrade", "/plugins/{name}/push", "/plugins/{name}/set")),
    Route("GET", "/plugins/privileges", _error(501, _NO_PLUGINS)),
)
