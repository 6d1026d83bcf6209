"""The service: listening sockets (unix, TCP with TLS, systemd's), one thread per connection, idle exit.

``serve(options)`` runs until SIGTERM/SIGINT, or until ``idle_time`` seconds pass with no request in
flight (0: forever, as Podman's ``--time 0``). The service is one more client of the store, like a CLI
command: containers outlive it, and CLI commands and API calls share the store's locks.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import selectors
import signal
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from dockyard.api.http import Connection
from dockyard.api.router import API_VERSION, Router, version_text
from dockyard.errors import InvalidArgumentError, StorageError

if TYPE_CHECKING:
    import ssl

    from dockyard.engine import Engine

DEFAULT_URI = "unix:///run/dockyard/dockyard.sock"
SOCKET_MODE = 0o660
SD_LISTEN_FDS_START = 3
SHUTDOWN_GRACE = 5.0  # seconds requests in flight get to finish after SIGTERM


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """Docker's ``--tlsverify --tlscacert --tlscert --tlskey``: clients must show a certificate the CA signed."""

    cacert: Path
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    root: Path
    storage_driver: str | None = None
    uri: str | None = None  # None: systemd's sockets when activated, else DEFAULT_URI
    idle_time: float = 5.0  # seconds without a request before exiting; 0 serves until stopped
    tls: TLSOptions | None = None
    insecure: bool = False  # plain TCP, on a loopback address only


@dataclass(frozen=True, slots=True)
class Listener:
    sock: socket.socket
    address: str  # what the log line says: unix:///run/..., tcp://127.0.0.1:2375
    unlink: Path | None = None  # the socket file this service created, removed at exit
    tls: ssl.SSLContext | None = None


def default_headers() -> dict[str, str]:
    from dockyard import __version__

    return {
        "Api-Version": version_text(API_VERSION), "Docker-Experimental": "false", "OSType": "linux",
        "Server": f"Docker/{__version__} (linux)",
    }  # fmt: skip


# listening ---------------------------------------------------------------------------


def systemd_sockets(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[socket.socket]:
    """The sockets systemd passed (``LISTEN_PID`` is this process, ``LISTEN_FDS`` how many, from fd 3)."""
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return []
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)  # not inherited by what this process starts (runc, monitors)
    socks = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count):
        os.set_inheritable(fd, False)
        socks.append(socket.socket(fileno=fd))
    return socks


def listen(options: ServiceOptions) -> list[Listener]:
    """The sockets to serve: systemd's when activated without a URI, else the URI's."""
    if options.uri is None:
        activated = systemd_sockets()
        if activated:
            return [Listener(s, f"systemd fd {s.fileno()}") for s in activated]
    uri = options.uri or DEFAULT_URI
    parts = urlsplit(uri)
    if parts.scheme == "unix":
        return [listen_unix(Path(parts.netloc + parts.path))]
    if parts.scheme == "tcp":
        return [listen_tcp(parts.hostname or "", parts.port, options)]
    if parts.scheme == "fd":
        raise InvalidArgumentError("fd:// sockets come from systemd socket activation: start the service without a URI")
    raise InvalidArgumentError(f"unsupported URI {uri!r}: use unix://PATH or tcp://HOST:PORT")


def listen_unix(path: Path) -> Listener:
    if not path.is_absolute():
        raise InvalidArgumentError(f"unix socket path must be absolute: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)  # never world-accessible, not even between bind and chmod
    try:
        sock.bind(str(path))
    except OSError as exc:
        sock.close()
        raise StorageError(f"cannot listen on unix://{path}: {exc.strerror}") from exc
    finally:
        os.umask(old)
    os.chmod(path, SOCKET_MODE)
    try:
        os.chown(path, 0, grp.getgrnam("docker").gr_gid)
    except KeyError:
        pass  # no docker group: root only
    except OSError:
        pass  # an unprivileged user's own socket (EPERM; EINVAL in its namespace, which maps no docker group)
    sock.listen(128)
    return Listener(sock, f"unix://{path}", unlink=path)


def _remove_stale(path: Path) -> None:
    """A socket file left by a service that died is replaced; a live one, or another file, is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise InvalidArgumentError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise InvalidArgumentError(f"unix://{path} is in use by another service")


def listen_tcp(host: str, port: int | None, options: ServiceOptions) -> Listener:
    if not host or port is None:
        raise InvalidArgumentError("tcp URI needs a host and a port: tcp://HOST:PORT")
    context = None
    if options.tls is not None:
        context = tls_context(options.tls)
    elif not options.insecure:
        raise InvalidArgumentError(
            f"refusing to serve tcp://{host}:{port} without TLS: give --tlsverify --tlscacert --tlscert --tlskey,"
            " or --insecure on a loopback address"
        )
    elif not _loopback(host):
        raise InvalidArgumentError(f"--insecure serves only a loopback address, not {host}: use TLS")
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
    except OSError as exc:
        sock.close()
        raise StorageError(f"cannot listen on tcp://{host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    return Listener(sock, f"tcp://{host}:{sock.getsockname()[1]}", tls=context)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(tls: TLSOptions) -> ssl.SSLContext:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls.cert), str(tls.key))
        context.load_verify_locations(cafile=str(tls.cacert))
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError(f"cannot load TLS certificates: {exc}") from exc
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no connection
    return context


# serving -----------------------------------------------------------------------------


class Service:
    """Accepts connections on its listeners and serves each in a thread; counts requests in flight for
    the idle exit."""

    def __init__(self, listeners: list[Listener], engine_factory: Callable[[], Engine], idle_time: float) -> None:
        self.listeners = listeners
        self.engine_factory = engine_factory
        self.idle_time = idle_time
        self.router = Router()
        self.headers = default_headers()
        self._lock = threading.Lock()
        self._busy = 0
        self._last_active = time.monotonic()
        self._wake_r, self._wake_w = socket.socketpair()
        self.stopping = threading.Event()

    def on_busy(self, busy: bool) -> None:
        with self._lock:
            self._busy += 1 if busy else -1
            self._last_active = time.monotonic()

    def stop(self) -> None:
        """Safe from a signal handler: wakes the accept loop, which then exits."""
        self.stopping.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        for listener in self.listeners:
            selector.register(listener.sock, selectors.EVENT_READ, listener)
        selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self.stopping.is_set():
                for key, _ in selector.select(timeout=self._poll_timeout()):
                    if key.data is not None:
                        self._accept(key.data)
                if self._idle_expired():
                    break
        finally:
            selector.close()
            self._close_listeners()
            self._wait_for_requests()

    def _poll_timeout(self) -> float | None:
        return None if self.idle_time <= 0 else min(1.0, self.idle_time)

    def _idle_expired(self) -> bool:
        if self.idle_time <= 0:
            return False
        with self._lock:
            return self._busy == 0 and time.monotonic() - self._last_active >= self.idle_time

    def _accept(self, listener: Listener) -> None:
        try:
            conn, _ = listener.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            print(f"dockyard api: accept on {listener.address}: {exc}", file=sys.stderr, flush=True)
            return
        with self._lock:
            self._last_active = time.monotonic()
        thread = threading.Thread(target=self._serve_connection, args=(conn, listener), daemon=True)
        thread.start()

    def _serve_connection(self, conn: socket.socket, listener: Listener) -> None:
        conn.setblocking(True)
        if listener.tls is not None:
            conn = self._handshake(conn, listener.tls)
            if conn is None:
                return
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Connection(conn, self.router, self.engine_factory, self.headers, self.on_busy, self.stopping).serve()

    def _handshake(self, conn: socket.socket, context: ssl.SSLContext) -> socket.socket | None:
        import ssl

        conn.settimeout(30)
        try:
            tls = context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()  # no certificate, a wrong one, or not TLS at all
            return None
        tls.settimeout(None)
        return tls

    def _close_listeners(self) -> None:
        for listener in self.listeners:
            listener.sock.close()
            if listener.unlink is not None:
                listener.unlink.unlink(missing_ok=True)

    def _wait_for_requests(self) -> None:
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while time.monotonic() < deadline:
            with self._lock:
                if self._busy == 0:
                    return
            time.sleep(0.05)


def serve(options: ServiceOptions, ready: Callable[[list[Listener]], None] | None = None) -> None:
    """Listens, serves until a signal or the idle time, and cleans up its socket files.

    One engine stays open for the service's life: it sweeps what crashed processes left once, at start,
    and keeps the per-request engines (``engine_factory``) from sweeping under each other.
    """
    from dockyard.api.context import engine_factory

    factory = engine_factory(options.root, options.storage_driver)
    holder = factory()
    listeners = listen(options)
    service = Service(listeners, factory, options.idle_time)
    previous = {sig: signal.signal(sig, lambda *_: service.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready is not None:
            ready(listeners)
        service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        holder.close()
