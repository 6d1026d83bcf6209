"""What every handler shares: the server state stored on the application, and response helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from dockyard.registry.server.auth import Authorizer
from dockyard.registry.server.config import ServerConfig
from dockyard.registry.server.metrics import Metrics
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.storage import CheckedDriver
from dockyard.registry.server.storage_async import AsyncStorage
from dockyard.registry.server.uploads import Uploads


@dataclass
class ServerState:
    config: ServerConfig
    driver: CheckedDriver
    registry: Registry
    uploads: Uploads
    auth: Authorizer | None = None
    proxy: Any = None  # proxy.PullThrough when --proxy-remote is set
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def storage(self) -> AsyncStorage:
        """The only way a handler reaches the storage: calls run in its thread pool, never on the loop."""
        return self.uploads.storage

    @property
    def read_only(self) -> bool:
        # a pull-through cache mirrors its upstream; pushing to it would diverge from it
        return self.proxy is not None


STATE_KEY = web.AppKey("state", ServerState)


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None, content_type: str = "application/json") -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), content_type=content_type, headers=headers)


def empty_response(status: int, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, headers=headers)
