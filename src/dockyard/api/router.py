"""The route table: paths to handlers, the API version prefix, and errors mapped to Docker's status codes.

Every route module exposes ``ROUTES``; ``Router`` matches ``/v1.NN/...`` and unversioned paths alike,
refuses versions outside ``MIN_API_VERSION``..``API_VERSION`` as dockerd does, and turns what a handler
raises into Docker's ``{"message": ...}`` with its status, in this one place.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import import_module
from typing import Callable
from urllib.parse import unquote

from dockyard.api.http import HIJACKED, HTTPError, Request, Response, json_response
from dockyard.errors import ConflictError, DockyardError, InvalidArgumentError, NotFoundError

API_VERSION = (1, 45)  # the newest Engine API whose shapes dockyard answers (moby's swagger v1.45)
MIN_API_VERSION = (1, 24)
ROUTE_MODULES = ("system", "images", "build", "containers", "exec", "networks", "volumes")
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_PARAM = re.compile(r"\{(\w+)(?::path)?\}")


def version_text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


@dataclass(frozen=True, slots=True)
class Route:
    method: str  # "GET", "POST", "HEAD", "PUT", "DELETE"
    pattern: str  # "/containers/{id}/json"; {name} matches one segment, {name:path} the rest
    handler: Callable[[Request], Response]


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = ["^"], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(0).endswith(":path}") else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]) + "$")
    return re.compile("".join(out))


def status_of(exc: Exception) -> int:
    """Docker's status for an error (moby's api/server/httpstatus, over dockyard's error classes)."""
    if isinstance(exc, HTTPError):
        return exc.status
    if isinstance(exc, InvalidArgumentError):
        return 400
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    return 500


def error_response(status: int, message: str) -> Response:
    return json_response({"message": message}, status)


class Router:
    """Routes in match order: patterns with fewer parameters first, so ``/images/json`` wins over
    ``/images/{name:path}/json``."""

    def __init__(self, routes: tuple[Route, ...] | None = None) -> None:
        if routes is None:
            routes = collect_routes()
        ordered = sorted(routes, key=lambda r: r.pattern.count("{"))
        self.routes = [(route, _compile(route.pattern)) for route in ordered]

    def __call__(self, request: Request) -> Response:
        try:
            self._resolve_version(request)
            route, params = self._match(request)
            request.params = params
            return route.handler(request)
        except Exception as exc:  # noqa: BLE001 - the edge: every failure becomes Docker's error body
            return self._failed(request, exc)

    def _resolve_version(self, request: Request) -> None:
        path = unquote(request.raw_path)
        m = _VERSIONED.match(path)
        if m:
            version = (int(m.group(1)), int(m.group(2)))
            path = m.group(3)
            if version < MIN_API_VERSION:
                raise InvalidArgumentError(
                    f"client version {version_text(version)} is too old. Minimum supported API version is "
                    f"{version_text(MIN_API_VERSION)}, please upgrade your client to a newer version"
                )
            if version > API_VERSION:
                raise InvalidArgumentError(
                    f"client version {version_text(version)} is too new. Maximum supported API version is "
                    f"{version_text(API_VERSION)}"
                )
            request.version = version
        request.path = path

    def _match(self, request: Request) -> tuple[Route, dict[str, str]]:
        method = "GET" if request.method == "HEAD" else request.method
        fallback: tuple[Route, dict[str, str]] | None = None
        for route, regex in self.routes:
            m = regex.match(request.path)
            if m is None:
                continue
            if route.method == request.method:
                return route, m.groupdict()
            if route.method == method and fallback is None:
                fallback = (route, m.groupdict())  # HEAD served by the GET handler, without its body
        if fallback is not None:
            return fallback
        raise HTTPError(404, "page not found")

    def _failed(self, request: Request, exc: Exception) -> Response:
        if not isinstance(exc, DockyardError):
            print(f"dockyard api: {request.method} {request.raw_path}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            message = f"internal error: {type(exc).__name__}: {exc}"
        else:
            message = str(exc)
        if request.answered:
            # the status line is gone: a stream ends with Docker's error line, a hijack just closes
            request.fail_stream(message)
            return HIJACKED
        return error_response(status_of(exc), message)


def collect_routes() -> tuple[Route, ...]:
    """``ROUTES`` of every route module that is present."""
    routes: list[Route] = []
    for name in ROUTE_MODULES:
        try:
            module = import_module(f"dockyard.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"dockyard.api.{name}":
                raise
            continue
        routes.extend(module.ROUTES)
    return tuple(routes)
