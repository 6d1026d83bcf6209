"""``GET /containers/{id}/attach/ws``: attach over a websocket (RFC 6455), as dockerd serves it.

The same session as the hijacked attach (``container_io.serve_attach``), with the client's end wrapped in
``websocket.WebSocket``: the streams are never multiplexed (each write is one frame), binary frames from API
1.28 (text before), and before API 1.42 every stream is attached whatever the query asks.
"""

from __future__ import annotations

from dockyard.api.container_io import STDERR, STDOUT, serve_attach
from dockyard.api.http import Request, Response
from dockyard.api.router import Route


def attach_ws(request: Request) -> Response:
    from dockyard.api import websocket

    answer = websocket.handshake(request.headers)  # 400 before anything else for a request that is not one
    container = request.engine.container_service.get(request.params["id"])
    open_stdin = bool(container.record["Config"].get("OpenStdin"))
    if request.version >= (1, 42):
        streams = frozenset(n for name, n in (("stdout", STDOUT), ("stderr", STDERR)) if request.flag(name))
        stdin = request.flag("stdin") and open_stdin
    else:
        streams, stdin = frozenset((STDOUT, STDERR)), open_stdin
    binary = request.version >= (1, 28)

    opened: list[websocket.WebSocket] = []

    def open_client() -> websocket.WebSocket:
        opened.append(websocket.WebSocket(request.switch_protocols(answer), binary))
        return opened[0]

    try:
        return serve_attach(request, container, streams, stdin, True, open_client)
    finally:
        for ws in opened:
            ws.close()  # the container ended (or the client left): our close frame


ROUTES: tuple[Route, ...] = (Route("GET", "/containers/{id:path}/attach/ws", attach_ws),)
