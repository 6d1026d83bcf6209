"""Running the server: state from configuration, the listening socket, TLS, worker processes, shutdown.

The socket is bound once, before any worker starts, so ``--addr HOST:0``
picks one free port that every worker shares (the kernel spreads accepted
connections over them). Workers share nothing but the storage, which is
built for that. SIGTERM or SIGINT stops accepting, lets requests in flight
(uploads included) finish for up to ``shutdown_timeout`` seconds, then exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from dockyard.registry.server.app import INFLIGHT_KEY, build_app
from dockyard.registry.server.auth import (
    Acl,
    Authorizer,
    BasicAuth,
    PasswordFile,
    TokenAuth,
)
from dockyard.registry.server.backend import open_storage
from dockyard.registry.server.config import ServerConfig
from dockyard.registry.server.registry import Registry
from dockyard.registry.server.search import search_routes
from dockyard.registry.server.state import ServerState
from dockyard.registry.server.storage_async import AsyncStorage
from dockyard.registry.server.uploads import Uploads

access_log = logging.getLogger("dockyard.registry.access")


class JsonAccessLogger(AbstractAccessLogger):
    """One JSON object per request: easy to ship to any log pipeline."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        identity = request.get("identity")
        entry = {
            "remote": request.remote,
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "seconds": round(time, 6),
            "user": getattr(identity, "user", None),
            "user_agent": request.headers.get("User-Agent", ""),
            "pid": os.getpid(),
        }
        self.logger.info(json.dumps(entry))


def open_state(config: ServerConfig) -> ServerState:
    driver = open_storage(config)
    registry = Registry(driver, automatic_mount=config.automatic_mount)
    auth: Authorizer | None = None
    if config.htpasswd is not None:
        auth = BasicAuth(PasswordFile(path=config.htpasswd))
    elif config.token_acl is not None:
        auth = TokenAuth(Acl.load(config.token_acl), driver, config.token_service, config.token_realm, config.token_ttl)
    # after the auth's signing key is read: from here on the driver refuses calls on the event loop
    storage = AsyncStorage(driver)
    state = ServerState(config, driver, registry, Uploads(storage, registry, config.max_blob_size), auth)
    if config.proxy_remote:
        from dockyard.registry.server.proxy import PullThrough

        state.proxy = PullThrough(config.proxy_remote, registry, state.uploads, config.proxy_username, config.proxy_password, config.proxy_ttl)
    return state


def make_app(config: ServerConfig) -> web.Application:
    state = open_state(config)
    extra = (state.auth.routes() if state.auth is not None else []) + search_routes()
    app = build_app(state, extra)
    app.on_cleanup.append(lambda _app: _close(state.storage))
    if state.proxy is not None:
        app.on_cleanup.append(lambda _app: state.proxy.close())
    return app


async def _close(storage: AsyncStorage) -> None:
    storage.close()


def bind(config: ServerConfig) -> socket.socket:
    host, port = config.host_port()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.tls_cert), str(config.tls_key))
    return context


def url_of(config: ServerConfig, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    scheme = "https" if config.tls_cert else "http"
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def serve(config: ServerConfig, on_ready: Callable[[str], None] = lambda url: None) -> None:
    """Serves until SIGTERM/SIGINT; ``on_ready`` gets the URL once the socket accepts connections."""
    config.check()
    context = ssl_context(config)  # a bad certificate fails here, before anything listens
    sock = bind(config)
    on_ready(url_of(config, sock))
    if config.workers == 1:
        asyncio.run(_run(config, sock, context))
        return
    children: list[int] = []
    _forward_signals(children)  # before forking: a SIGTERM must never orphan a worker
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the worker's event loop installs its own
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                asyncio.run(_run(config, sock, context))
            except BaseException:
                logging.getLogger("dockyard.registry").exception("worker failed")
                code = 1
            finally:
                os._exit(code)  # never run the parent's cleanup in a child
        children.append(pid)
    sock.close()
    _wait_all(children)


def _forward_signals(children: list[int]) -> None:
    """SIGTERM/SIGINT to the parent become SIGTERM to every worker (each drains, then exits)."""

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)


def _wait_all(children: list[int]) -> None:
    for pid in children:
        while True:
            try:
                os.waitpid(pid, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue


async def _run(config: ServerConfig, sock: socket.socket, context: ssl.SSLContext | None) -> None:
    app = make_app(config)
    runner = web.AppRunner(
        app,
        shutdown_timeout=1.0,  # requests were drained above; this only bounds the stragglers
        access_log_class=JsonAccessLogger,
        access_log=access_log if config.access_log else None,
        handle_signals=False,
    )
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=context)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
        await site.stop()  # no new connections
        await app[INFLIGHT_KEY].drain(config.shutdown_timeout)
    finally:
        await runner.cleanup()  # closes idle connections, cancels whatever outlived the timeout
        sys.stderr.flush()
