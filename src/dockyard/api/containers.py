"""Container routes: create, list, inspect, the lifecycle (start, stop, restart, kill, pause, unpause, rename,
update, wait, remove, prune), top, changes and resize. Streams (logs, attach, stats, export, archive) are in
``container_io``.

Each handler looks the container up through ``ContainerService`` (404 "No such container: X"), makes one
call, and answers with the document the engine builds (``container_json``) or Docker's small bodies.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from dockyard.api import container_io, container_ws
from dockyard.api.http import HIJACKED, HTTPError, Request, Response, empty, json_response
from dockyard.api.router import Route
from dockyard.errors import InvalidArgumentError

if TYPE_CHECKING:
    from dockyard.runtime.container_state import Container

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
_CHANGE_KINDS = {"C": 0, "A": 1, "D": 2}  # Docker's archive.ChangeType


def filters_of(request: Request) -> dict[str, list[str]]:
    """``filters=`` as Docker sends it: ``{"key": ["v", ...]}``, or the older ``{"key": {"v": true}}``."""
    raw = request.json_arg("filters")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidArgumentError("invalid filter: the filters must be a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if isinstance(values, dict):
            out[key] = [v for v, on in values.items() if on]
        elif isinstance(values, list) and all(isinstance(v, str) for v in values):
            out[key] = list(values)
        else:
            raise InvalidArgumentError(f"invalid filter: the values of '{key}' must be a list of strings")
    return out


def lookup(request: Request) -> Container:
    return request.engine.container_service.get(request.params["id"])


# create, list, inspect ---------------------------------------------------------------


def create(request: Request) -> Response:
    from dockyard.api.container_create import create_options

    body = request.json()
    opts = create_options(body, request.arg("name"), request.version)
    container = request.engine.container_service.create(opts)
    if opts.tty and isinstance(body, dict):
        container_io.remember_console_size(container.id, (body.get("HostConfig") or {}).get("ConsoleSize"))
    return json_response({"Id": container.id, "Warnings": []}, 201)


def list_containers(request: Request) -> Response:
    from dockyard.engine.container_json import summary_json

    service = request.engine.container_service
    limit = request.int_arg("limit", -1) or -1
    containers = service.select(filters_of(request), show_all=request.flag("all"), last=limit)
    sized = request.flag("size")
    now = time.time()
    names = service.link_names()
    return json_response([summary_json(request.engine, c, now, service.sizes(c) if sized else None, names.get(c.id))
                          for c in containers])


def inspect(request: Request) -> Response:
    service = request.engine.container_service
    document = service.inspect(lookup(request), size=request.flag("size"))
    settings = document.get("NetworkSettings")
    networks = settings.get("Networks") if isinstance(settings, dict) else None
    if request.version >= (1, 45) and isinstance(networks, dict):
        # moby stopped listing the short ID among a network's aliases in API 1.45 (docker-py 7.1+ expects that)
        short = str(document["Id"])[:12]
        for endpoint in networks.values():
            endpoint["Aliases"] = [a for a in endpoint.get("Aliases") or () if a != short] or None
    return json_response(document)


# lifecycle ---------------------------------------------------------------------------


def start(request: Request) -> Response:
    """304 for a running container; an attach client waiting for this start gets the stream from its first byte."""
    from dockyard.engine.container_options import ContainerStartError

    container = lookup(request)
    if container.running:
        return empty(304)
    try:
        if not container_io.start_for_waiters(request.engine, container):
            request.engine.container_service.start(container, reap=True)
    except ContainerStartError as exc:
        # Docker's words; a command that cannot run is the caller's mistake (400), as dockerd classes it
        message = f"failed to create shim task: OCI runtime create failed: {exc}: unknown"
        raise HTTPError(400 if exc.code in (126, 127) else 500, message) from None
    return empty(204)


def stop(request: Request) -> Response:
    container = lookup(request)
    if not container.running:
        return empty(304)
    request.engine.container_service.stop(container, _timeout(request))
    return empty(204)


def restart(request: Request) -> Response:
    request.engine.container_service.restart(lookup(request), _timeout(request), reap=True)
    return empty(204)


def _timeout(request: Request) -> float | None:
    seconds = request.int_arg("t")
    return None if seconds is None else float(seconds)


def kill(request: Request) -> Response:
    """As dockerd: after SIGKILL the answer waits (a few seconds at most) until the container is down."""
    service = request.engine.container_service
    container = lookup(request)
    sig = request.arg("signal") or "KILL"
    service.kill(container, sig)
    if sig.upper().removeprefix("SIG") in ("KILL", "9"):
        deadline = time.monotonic() + 10
        while service.get(container.id).running and time.monotonic() < deadline:
            time.sleep(0.02)
    return empty(204)


def pause(request: Request) -> Response:
    request.engine.container_service.pause(lookup(request))
    return empty(204)


def unpause(request: Request) -> Response:
    request.engine.container_service.unpause(lookup(request))
    return empty(204)


def rename(request: Request) -> Response:
    name = request.arg("name")
    if not name:
        raise InvalidArgumentError("Neither old nor new names may be empty")
    request.engine.container_service.rename(lookup(request), name)
    return empty(204)


_UPDATE_FIELDS = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit")


def update(request: Request) -> Response:
    """The limits ``docker update`` changes, and the restart policy."""
    from dockyard.engine.container_options import RestartPolicy

    body = request.json()
    if not isinstance(body, dict):
        raise InvalidArgumentError("update: a JSON object is required")
    changes = {key: int(body[key]) for key in _UPDATE_FIELDS if body.get(key)}  # 0 or null: unchanged, as dockerd
    policy = body.get("RestartPolicy") or {}
    restart_policy = None
    if policy.get("Name"):
        retries = int(policy.get("MaximumRetryCount") or 0)
        restart_policy = RestartPolicy.parse(f"{policy['Name']}:{retries}" if retries else policy["Name"])
    request.engine.container_service.update(lookup(request), changes, restart_policy)
    return json_response({"Warnings": []})


def wait(request: Request) -> Response:
    """The status line goes out at once (as dockerd flushes it), the body when the condition holds."""
    container = lookup(request)
    condition = request.arg("condition") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgumentError(f"invalid condition: {condition!r}")
    out = request.stream()
    code = request.engine.container_service.wait_condition(container, condition)
    try:
        out.json_line({"StatusCode": code, "Error": None} if request.version >= (1, 30) else {"StatusCode": code})
    except OSError:
        pass  # the client stopped waiting
    return HIJACKED


def remove(request: Request) -> Response:
    """``link=1``: only the link ``PARENT/ALIAS`` goes (the id holds a slash then)."""
    if request.flag("link"):
        request.engine.container_service.remove_link(request.params["id"])
        return empty(204)
    container = lookup(request)
    request.engine.container_service.remove(container, force=request.flag("force"), volumes=request.flag("v"))
    return empty(204)


def prune(request: Request) -> Response:
    """Stopped containers, picked by ``label``/``label!`` (and ``until``, a time or a duration)."""
    from dockyard.engine.image_filters import parse_until
    from dockyard.oci.timefmt import parse_time

    filters = filters_of(request)
    for key in filters:
        if key not in ("label", "label!", "until"):
            raise InvalidArgumentError(f"Invalid filter '{key}'")
    until = min((parse_until(v) for v in filters.get("until", [])), default=None)

    def labelled(labels: dict[str, str], term: str) -> bool:
        key, sep, value = term.partition("=")
        return key in labels and (not sep or labels[key] == value)

    def select(c: Container) -> bool:
        labels = c.stored.config.labels
        created = parse_time(c.created)
        return (all(labelled(labels, t) for t in filters.get("label", []))
                and not any(labelled(labels, t) for t in filters.get("label!", []))
                and (until is None or created is None or created.timestamp() < until))

    report = request.engine.container_service.prune(select)
    return json_response({"ContainersDeleted": list(report.deleted) or None, "SpaceReclaimed": report.reclaimed})


# top, changes, resize ------------------------------------------------------------------


def top(request: Request) -> Response:
    ps_args = (request.arg("ps_args") or "").split()
    report = request.engine.container_service.top(lookup(request), ps_args)
    return json_response({"Titles": report.titles, "Processes": report.rows})


def changes(request: Request) -> Response:
    found = request.engine.container_service.diff(lookup(request))
    return json_response([{"Path": "/" + c.path, "Kind": _CHANGE_KINDS[c.kind]} for c in found] or None)


def resize(request: Request) -> Response:
    rows, cols = request.int_arg("h", 0) or 0, request.int_arg("w", 0) or 0
    if rows < 0 or cols < 0:
        raise InvalidArgumentError("height and width must be positive")
    from dockyard.engine.attach_protocol import NotAttachableError

    try:
        request.engine.container_service.resize(lookup(request), rows, cols)
    except NotAttachableError:  # the monitor went away between the look and the call
        raise HTTPError(409, f"Container {request.params['id']} is not running") from None
    return empty(200)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/containers/create", create),
    Route("GET", "/containers/json", list_containers),
    Route("POST", "/containers/prune", prune),
    Route("GET", "/containers/{id:path}/json", inspect),
    Route("POST", "/containers/{id:path}/start", start),
    Route("POST", "/containers/{id:path}/stop", stop),
    Route("POST", "/containers/{id:path}/restart", restart),
    Route("POST", "/containers/{id:path}/kill", kill),
    Route("POST", "/containers/{id:path}/pause", pause),
    Route("POST", "/containers/{id:path}/unpause", unpause),
    Route("POST", "/containers/{id:path}/rename", rename),
    Route("POST", "/containers/{id:path}/update", update),
    Route("POST", "/containers/{id:path}/wait", wait),
    Route("DELETE", "/containers/{id:path}", remove),
    Route("GET", "/containers/{id:path}/top", top),
    Route("GET", "/containers/{id:path}/changes", changes),
    Route("POST", "/containers/{id:path}/resize", resize),
    *container_io.ROUTES,
    *container_ws.ROUTES,
)
