"""HTTP for registries: pooled keep-alive connections, retries, safe redirects.

One ``Transport`` per registry endpoint (its TLS settings are the host's).
Retries cover what a registry or a CDN says is passing: connection resets and
timeouts, 408/429/5xx; ``Retry-After`` is honoured, otherwise the delay grows
exponentially with jitter. A request body is replayed on a retry only when it
can be (bytes, or a factory that opens the body afresh). Redirects are followed
by hand so the ``Authorization`` header never travels to another host: blob
downloads are commonly redirected to a CDN with a signed URL of its own.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Mapping
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import (
    HTTPError,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from dockyard.registry.client.errors import ConnectionFailedError, UnusableURLError
from dockyard.registry.errcode import MAX_ERROR_BODY, RETRYABLE_STATUS

Body = bytes | Callable[[], BinaryIO] | None

MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 120.0  # a peer cannot park us for longer than this per attempt
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class TLSOptions:
    """How to talk TLS to one host (Docker's certs.d and insecure-registries)."""

    verify: bool = True
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class Response:
    """A response whose body is read by the caller (streamed) and then closed."""

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str) -> None:
        self._raw = raw
        self.url = url
        self.status: int = raw.status
        self.headers: Mapping[str, str] = raw.headers

    def header(self, name: str) -> str:
        return str(self.headers.get(name, ""))

    def header_list(self, name: str) -> list[str]:
        return list(self._raw.headers.getlist(name))  # type: ignore[attr-defined]

    def read(self, n: int = CHUNK) -> bytes:
        try:
            return self._raw.read(n)
        except (ProtocolError, Urllib3Timeout, OSError) as exc:
            raise ConnectionFailedError(f"read {self.url}: {_reason(exc)}") from exc

    def read_all(self, limit: int) -> bytes:
        """The whole body, refusing one longer than ``limit`` (an endless or oversized answer)."""
        parts: list[bytes] = []
        total = 0
        while chunk := self.read(min(CHUNK, limit + 1 - total)):
            parts.append(chunk)
            total += len(chunk)
            if total > limit:
                self.close()
                raise ConnectionFailedError(f"{self.url}: the response is larger than {limit} bytes")
        self.close()
        return b"".join(parts)

    def error_body(self) -> bytes:
        try:
            return self.read_all(MAX_ERROR_BODY)
        except ConnectionFailedError:
            return b""

    def close(self) -> None:
        self._raw.release_conn() if self._raw.isclosed() else self._raw.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "reason", None) or (exc.args[-1] if exc.args else exc))
    # urllib3 says "HTTPConnection(host=…): Failed to establish a new connection: [Errno 111] Connection refused"
    text = text.split("Failed to establish a new connection: ")[-1]
    if text.startswith("[Errno ") and "] " in text:
        text = text.split("] ", 1)[1].lower()
    return text


def _dial_reason(exc: BaseException, url: str) -> str:
    """Go's words for a refused connection: "dial tcp 127.0.0.1:5519: connect: connection refused"."""
    reason = _reason(exc)
    parts = urlsplit(url)
    if isinstance(exc, NameResolutionError):
        # Go: "dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host"
        server = _nameserver()
        if "Name or service not known" not in str(exc) or server is None:
            return reason
        return f"dial tcp: lookup {parts.hostname} on {server}: no such host"
    if "[Errno " not in str(exc):
        return reason
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"dial tcp {host}:{port}: connect: {reason}"


def _nameserver() -> str | None:
    """The first resolver of /etc/resolv.conf, as Go's resolver names it in errors (``host:53``)."""
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    return f"[{words[1]}]:53" if ":" in words[1] else f"{words[1]}:53"
    except OSError:
        return None
    return None


def retry_after(value: str, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when - (now or time.time()), MAX_RETRY_AFTER))


DEFAULT_READ_TIMEOUT = 60.0  # seconds without a byte from the peer (daemon.json "registry-read-timeout")
CONNECT_TIMEOUT = 30.0


class Transport:
    """A connection pool with Docker-like retry and redirect behaviour.

    ``request`` returns the first response that is not a redirect and not worth a
    retry, of any status: turning statuses into errors is the caller's business.
    It raises ConnectionFailedError when the peer could not be reached at all
    (``ssl.SSLError`` is kept as the cause so a caller can fall back to HTTP).
    """

    def __init__(
        self,
        tls: TLSOptions = TLSOptions(),
        *,
        attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        timeout: float = DEFAULT_READ_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        user_agent: str = "dockyard",
    ) -> None:
        context = ssl.create_default_context(cafile=tls.ca_file) if tls.verify else ssl.create_default_context()
        if not tls.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.client_cert:
            context.load_cert_chain(tls.client_cert, tls.client_key)
        # ssl_context is one of the keywords PoolManager keeps away from plain-HTTP pools
        kwargs: dict[str, object] = {"maxsize": 8, "block": False, "retries": False, "ssl_context": context}
        self._pool = urllib3.PoolManager(num_pools=16, timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=timeout), **kwargs)  # type: ignore[arg-type]
        self.read_timeout = timeout  # also bounds how long a blob's reader waits for its downloader (download.py)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.user_agent = user_agent

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        redirect: bool = True,
    ) -> Response:
        current_headers = {"User-Agent": self.user_agent, **(headers or {})}
        for _ in range(MAX_REDIRECTS + 1):
            response = self._with_retries(method, url, current_headers, body)
            location = response.header("Location")
            if not redirect or response.status not in (301, 302, 303, 307, 308) or not location:
                return response
            response.close()
            target = urljoin(url, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise UnusableURLError(f'{method.title()} "{url}": redirected to an unsupported URL: {location}')
            if urlsplit(target).netloc != urlsplit(url).netloc or urlsplit(target).scheme != urlsplit(url).scheme:
                # the credentials are the registry's, not the CDN's
                current_headers = {k: v for k, v in current_headers.items() if k.lower() != "authorization"}
            if response.status == 303 or (response.status in (301, 302) and method not in ("GET", "HEAD")):
                method, body = "GET", None
                current_headers = {k: v for k, v in current_headers.items() if k.lower() not in ("content-type", "content-length")}
            url = target
        raise ConnectionFailedError(f"{method} {url}: stopped after {MAX_REDIRECTS} redirects")

    def _with_retries(self, method: str, url: str, headers: dict[str, str], body: Body) -> Response:
        replayable = body is None or isinstance(body, bytes) or callable(body)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.attempts or not replayable
            stream = body() if callable(body) else body
            try:
                raw = self._pool.request(
                    method, url, headers=headers, body=stream, redirect=False, preload_content=False, decode_content=False
                )
            except SSLError as exc:
                raise ConnectionFailedError(f'{method.title()} "{url}": {_reason(exc)}') from _ssl_cause(exc)
            except LocationValueError as exc:  # a malformed URL is no passing fault either
                raise UnusableURLError(f'{method.title()} "{url}": {_reason(exc)}') from exc
            except (NewConnectionError, NameResolutionError) as exc:
                # nobody listens there, or no such host: not a passing fault worth waiting for
                raise ConnectionFailedError(f'{method.title()} "{url}": {_dial_reason(exc, url)}') from exc
            except (HTTPError, OSError) as exc:
                if last:
                    raise ConnectionFailedError(f'{method.title()} "{url}": {_reason(exc)}') from exc
                self.sleep(self._delay(attempt, None))
                continue
            finally:
                if callable(body) and stream is not None and hasattr(stream, "close"):
                    stream.close()  # type: ignore[union-attr]
            response = Response(raw, url)
            if response.status in RETRYABLE_STATUS and not last:
                wait = retry_after(response.header("Retry-After"))
                response.error_body()
                self.sleep(self._delay(attempt, wait))
                continue
            return response

    def _delay(self, attempt: int, retry_after_seconds: float | None) -> float:
        if retry_after_seconds is not None:
            return retry_after_seconds
        base = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        return base / 2 + random.uniform(0, base / 2)

    def stream(self, response: Response) -> Iterator[bytes]:
        while chunk := response.read(CHUNK):
            yield chunk

    def close(self) -> None:
        self._pool.clear()


def _ssl_cause(exc: SSLError) -> BaseException:
    inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc
    return inner if isinstance(inner, ssl.SSLError) else ssl.SSLError(str(inner))
