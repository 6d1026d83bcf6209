"""Real servers for the registry-client tests, all on 127.0.0.1 with random ports.

- ``Distribution``: Debian's ``docker-registry`` (CNCF Distribution 2.8) with a
  generated config: no auth, htpasswd (bcrypt) or token auth.
- ``TokenServer``: a small token issuer signing RS256 JWTs with an ``x5c``
  header that Distribution's ``auth: token:`` verifies against the generated
  certificate in its ``rootcertbundle``.
- ``FaultProxy``: an HTTP proxy in front of a registry that can corrupt,
  drop, slow down, fail or redirect blob responses, and counts what it sent.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, timeout: float = 15.0) -> None:
    import ssl

    deadline = time.monotonic() + timeout
    parts = urllib.parse.urlsplit(url)
    while True:
        try:
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(parts.netloc, timeout=2, context=ssl._create_unverified_context())
            else:
                conn = http.client.HTTPConnection(parts.netloc, timeout=2)
            conn.request("GET", parts.path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            time.sleep(0.05)


class Distribution:
    """A docker-registry process; ``auth`` is None, ``{"htpasswd": {...}}`` or ``{"token": {...}}``."""

    def __init__(self, workdir: Path, auth: dict[str, Any] | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "dockyard-tests"},
        }
        if auth:
            config["auth"] = auth
        if tls:
            config["http"]["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
            self.url = f"https://{self.host}"
        (workdir / "config.yml").write_text(json.dumps(config))  # JSON is YAML
        self.log = open(workdir / "registry.log", "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", str(workdir / "config.yml")], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_http(self.url + "/v2/")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def htpasswd(path: Path, users: dict[str, str]) -> Path:
    import bcrypt

    path.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}\n" for u, p in users.items()))
    return path


def self_signed(workdir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address) and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = workdir / "tls.crt", workdir / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


# token auth -----------------------------------------------------------------------


def _signing_material(workdir: Path) -> tuple[Any, bytes, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard test token issuer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    bundle = workdir / "token-root.pem"
    bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert.public_bytes(serialization.Encoding.DER), bundle


class TokenServer:
    """Issues tokens to ``users`` (and anonymous pulls); grants every action asked for, or only pull for ``readers``."""

    SERVICE = "dockyard-test-registry"
    ISSUER = "dockyard-test-issuer"

    def __init__(self, workdir: Path, users: dict[str, str], readers: set[str] = frozenset(), expires_in: int = 300) -> None:  # type: ignore[assignment]
        self.users = users
        self.readers = readers
        self.expires_in = expires_in
        self.requests: list[dict[str, Any]] = []
        self.key, self.cert_der, self.bundle = _signing_material(workdir)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def auth_config(self) -> dict[str, Any]:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER, "rootcertbundle": str(self.bundle)}}

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(h.path).query)
        scopes = [s for value in query.get("scope", []) for s in value.split(" ")]
        user = None
        header = h.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(name) != password:
                self._reply(h, 401, {"details": "incorrect username or password"})
                return
            user = name
        self.requests.append({"user": user, "scopes": scopes, "service": query.get("service", [""])[0]})
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            if user is None:
                allowed: list[str] = []  # anonymous users get nothing: pulls need a login
            elif user in self.readers:
                allowed = [a for a in wanted if a == "pull"]
            else:
                allowed = wanted
            access.append({"type": kind, "name": name, "actions": allowed})
        token = self._sign(user or "", access)
        # readers get the OAuth2 spelling, so both answers of the spec are exercised
        key = "access_token" if user in self.readers else "token"
        self._reply(h, 200, {key: token, "expires_in": self.expires_in})

    def _sign(self, subject: str, access: list[dict[str, Any]]) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.ISSUER, "sub": subject, "aud": self.SERVICE, "exp": now + self.expires_in, "nbf": now - 10,
                  "iat": now, "jti": base64.b16encode(os.urandom(8)).decode(), "access": access}  # fmt: skip
        headers = {"x5c": [base64.b64encode(self.cert_der).decode()]}
        return jwt.encode(claims, self.key, algorithm="ES256", headers=headers)

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# fault proxy --------------------------------------------------------------------


@dataclass
class Faults:
    corrupt_blobs: bool = False
    drop_blob_after: int | None = None  # close the connection after this many body bytes (once per blob)
    ignore_range: bool = False  # answer 200 with the whole blob to a Range request
    rate: float | None = None  # bytes per second for blob bodies
    stall_blobs_over: int | None = None  # blobs longer than this: headers, then not a byte (until the client leaves)
    fail_first: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (status, headers) answers first
    redirect_blobs_to: str | None = None  # base URL of another server that serves the blob
    override: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)  # path -> answer


class FaultProxy:
    """Forwards to ``upstream`` (a base URL); records requests and the blob bytes it sent."""

    def __init__(self, upstream: str, faults: Faults | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.faults = faults or Faults()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.blob_bytes = 0
        self._dropped: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.handle(self)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"http://{self.host}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((h.command, h.path, dict(h.headers)))
            failing = self.faults.fail_first.pop(0) if self.faults.fail_first and "/v2/" != h.path else None
        if failing is not None:
            return self._send(h, failing[0], {**failing[1], "Content-Length": "0"}, b"")
        if h.path in self.faults.override:
            status, headers, data = self.faults.override[h.path]
            return self._send(h, status, {**headers, "Content-Length": str(len(data))}, data if h.command != "HEAD" else b"")
        is_blob = h.command == "GET" and "/blobs/sha256:" in h.path
        if is_blob and self.faults.redirect_blobs_to:
            return self._send(h, 307, {"Location": self.faults.redirect_blobs_to + h.path, "Content-Length": "0"}, b"")
        headers = {k: v for k, v in h.headers.items() if k.lower() not in ("host", "connection")}
        if is_blob and self.faults.ignore_range:
            headers.pop("Range", None)
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        conn.request(h.command, h.path, body=body or None, headers=headers)
        upstream = conn.getresponse()
        out_headers = {k: v for k, v in upstream.getheaders() if k.lower() not in ("connection", "transfer-encoding")}
        if "Location" in out_headers:
            out_headers["Location"] = out_headers["Location"].replace(self.upstream, self.host)
        data = upstream.read()
        conn.close()
        if not is_blob or upstream.status not in (200, 206):
            return self._send(h, upstream.status, {**out_headers, "Content-Length": str(len(data))}, data if h.command != "HEAD" else b"")
        self._send_blob(h, upstream.status, out_headers, data)

    def _send(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _send_blob(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        if self.faults.corrupt_blobs and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:-1] + bytes([data[-1] ^ 0xFF]) if len(data) > 1 else b"\x00"
        headers["Content-Length"] = str(len(data))
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        if self.faults.stall_blobs_over is not None and len(data) > self.faults.stall_blobs_over:
            return self._stall(h)
        drop = self.faults.drop_blob_after
        if drop is not None and h.path not in self._dropped and len(data) > drop:
            self._dropped.add(h.path)
            self._write(h, data[:drop])
            h.close_connection = True
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(h, data)

    def _stall(self, h: BaseHTTPRequestHandler, most: float = 120.0) -> None:
        """Send nothing more until the client closes the connection (or ``most`` seconds pass)."""
        h.wfile.flush()
        h.close_connection = True
        h.connection.settimeout(most)
        try:
            h.connection.recv(1)  # returns b"" when the client hangs up
        except OSError:
            pass

    def _write(self, h: BaseHTTPRequestHandler, data: bytes) -> None:
        step = 64 * 1024
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            try:
                h.wfile.write(piece)
            except OSError:
                return
            with self._lock:
                self.blob_bytes += len(piece)
            if self.faults.rate:
                time.sleep(len(piece) / self.faults.rate)

    def blob_requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[0] == "GET" and "/blobs/sha256:" in r[1]]


class RecordingBlobServer:
    """Serves blob paths by fetching them from a registry; records the Authorization headers it got."""

    def __init__(self, upstream: str, upstream_auth: str | None = None) -> None:
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.authorizations: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.authorizations.append(self.headers.get("Authorization"))
                conn = http.client.HTTPConnection(server.upstream, timeout=60)
                conn.request("GET", self.path, headers={"Authorization": upstream_auth} if upstream_auth else {})
                response = conn.getresponse()
                data = response.read()
                self.send_response(response.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # another netloc than the registry's: "localhost" names the same address
        self.url = f"http://localhost:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_json(routes: dict[str, Callable[[dict[str, list[str]]], tuple[int, Any]]]) -> tuple[ThreadingHTTPServer, str]:
    """A tiny JSON server (for /v1/search): path -> handler(query) -> (status, body)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            route = routes.get(parts.path)
            status, body = route(urllib.parse.parse_qs(parts.query)) if route else (404, {"errors": [{"code": "NOT_FOUND"}]})
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"127.0.0.1:{httpd.server_address[1]}"
