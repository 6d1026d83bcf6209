"""A small S3 client: AWS Signature Version 4 over urllib3, only the calls the registry needs.

Why our own: the registry needs a dozen calls (objects, listings, multipart
uploads, copies, presigned GETs) and streaming in both directions; urllib3 is
already the HTTP stack, and SigV4 is a page. Payloads are sent unsigned
(``UNSIGNED-PAYLOAD``), so a part is never hashed for the signature on top of
the registry's own digest; integrity comes from the registry's digest check.

Thread-safe: one connection pool shared by every thread. Retries are brief
(a gateway restarting) and only where a repeat cannot do harm: any call whose
connection could not be opened (nothing was sent), and idempotent calls (GET,
HEAD, DELETE, an unconditional PUT, a multi-delete) after a lost answer or a
5xx. A POST that creates or completes a multipart upload, or a conditional
PUT, may have taken effect before its answer was lost; repeating it would
leave an orphan upload or fail on its own first attempt's write, so its error
goes to the caller. Longer outages surface as ``S3Error`` and the registry
answers 5xx, which clients retry.

Credentials may be temporary: a session token is sent (and signed) as
``X-Amz-Security-Token``; ``s3creds.py`` finds them (configuration,
environment, shared credentials file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import urllib3
import urllib3.connection

from dockyard.errors import InvalidArgumentError

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNSIGNED = "UNSIGNED-PAYLOAD"
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_RETRY_DELAYS = (0.1, 0.3, 0.8)  # short: the caller is serving a request
_RETRY_STATUS = frozenset({500, 502, 503, 504})


def _quick_ack(sock: socket.socket | None) -> None:
    # An answer's body can wait ~40 ms on a reused connection: a gateway that sends headers and body
    # in two writes (radosgw does) holds the body (Nagle) until we ACK the headers, and Linux delays
    # that ACK. Asking for an immediate ACK before each response costs nothing.
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


class _QuickAckConnection(urllib3.connection.HTTPConnection):
    def getresponse(self) -> Any:  # type: ignore[override]
        _quick_ack(self.sock)
        return super().getresponse()


class _QuickAckHTTPSConnection(urllib3.connection.HTTPSConnection):
    def getresponse(self) -> Any:  # type: ignore[override]
        _quick_ack(self.sock)
        return super().getresponse()


class _QuickAckPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _QuickAckConnection


class _QuickAckHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _QuickAckHTTPSConnection


class S3Error(OSError):
    """An S3 call failed: HTTP status (0 when no answer came) and S3's error code."""

    def __init__(self, status: int, code: str, message: str, key: str = "") -> None:
        super().__init__(f"s3: {code or status}: {message}{' (' + key + ')' if key else ''}")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class S3Config:
    endpoint: str  # http(s)://host[:port]
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    session_token: str = ""  # temporary credentials (STS): sent as X-Amz-Security-Token
    path_style: bool = True  # False: virtual-host addressing, <bucket>.<endpoint host>
    prefix: str = ""  # every key starts with it (several registries in one bucket)
    redirect: bool = False  # blob GETs answer 307 to a presigned URL
    part_size: int = 8 << 20  # multipart part size; S3 wants >= 5 MiB but for the last part
    secure_verify: bool = True

    def check(self) -> S3Config:
        scheme = urllib.parse.urlsplit(self.endpoint).scheme
        if scheme not in ("http", "https"):
            raise InvalidArgumentError(f"invalid S3 endpoint {self.endpoint!r}: want http(s)://HOST[:PORT]")
        if not self.bucket:
            raise InvalidArgumentError("the S3 backend needs a bucket")
        if not self.access_key or not self.secret_key:
            raise InvalidArgumentError(
                "the S3 backend needs an access key and a secret key (accesskey/secretkey, "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials)"
            )
        if self.part_size < 5 << 20:
            raise InvalidArgumentError("S3 part size must be at least 5 MiB")
        return self


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float
    etag: str
    metadata: Mapping[str, str]


def _quote(value: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(value, safe=safe)


def _http_date(value: str) -> float:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value).timestamp()


def _iso_date(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()  # "...Z" parses since 3.11


def _text(element: ElementTree.Element, name: str) -> str:
    found = element.find(_NS + name)
    if found is None:
        found = element.find(name)
    return (found.text or "") if found is not None else ""


def _all(element: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return element.findall(_NS + name) or element.findall(name)


def canonical_request(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], payload: str) -> str:
    """SigV4's canonical request: what the signature covers (``headers`` are the signed ones, lowercase)."""
    canonical_query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
    names = sorted(headers)
    canonical_headers = "".join(f"{n}:{headers[n].strip()}\n" for n in names)
    return "\n".join((method, path, canonical_query, canonical_headers, ";".join(names), payload))


def is_idempotent(method: str, headers: Mapping[str, str]) -> bool:
    """Whether sending the call twice has the effect of sending it once."""
    if method in ("GET", "HEAD", "DELETE"):
        return True
    if method == "PUT":
        # a conditional PUT that landed fails its own repeat (If-None-Match: *, or If-Match on the old ETag)
        return not any(h.lower() in ("if-match", "if-none-match") for h in headers)
    return False  # POST: creates or completes something each time


class S3Client:
    def __init__(self, config: S3Config, pool_size: int = 32) -> None:
        self.config = config.check()
        parts = urllib.parse.urlsplit(config.endpoint)
        self._scheme = parts.scheme
        self._host = parts.netloc if config.path_style else f"{config.bucket}.{parts.netloc}"
        self._http = urllib3.PoolManager(
            maxsize=pool_size,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=120),
            cert_reqs="CERT_REQUIRED" if config.secure_verify else "CERT_NONE",
        )
        self._http.pool_classes_by_scheme = {"http": _QuickAckPool, "https": _QuickAckHTTPSPool}
        self._keys: dict[str, bytes] = {}

    # signing ---------------------------------------------------------------

    def _path(self, key: str) -> str:
        full = self.config.prefix.strip("/") + "/" + key if self.config.prefix.strip("/") else key
        return (f"/{self.config.bucket}/" if self.config.path_style else "/") + _quote(full, safe="-_.~/")

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = ("AWS4" + self.config.secret_key).encode()
            for part in (day, self.config.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {day: key}
        return key

    def _signature(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], payload: str, stamp: str) -> tuple[str, str, str]:
        """(signature, signed header list, credential scope) of a request."""
        signed = ";".join(sorted(headers))
        request = canonical_request(method, path, query, headers, payload)
        scope = f"{stamp[:8]}/{self.config.region}/s3/aws4_request"
        to_sign = "\n".join(("AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()))
        signature = hmac.new(self._signing_key(stamp[:8]), to_sign.encode(), hashlib.sha256).hexdigest()
        return signature, signed, scope

    def _url(self, path: str, query: Mapping[str, str]) -> str:
        q = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(query.items()))
        return f"{self._scheme}://{self._host}{path}" + (f"?{q}" if q else "")

    def presign_get(self, key: str, expires: int = 1200, now: float | None = None) -> str:
        """A URL anyone may GET the object with for ``expires`` seconds (query-string SigV4)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        path = self._path(key)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.config.access_key}/{stamp[:8]}/{self.config.region}/s3/aws4_request",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        }
        if self.config.session_token:
            query["X-Amz-Security-Token"] = self.config.session_token
        signature, _, _ = self._signature("GET", path, query, {"host": self._host}, _UNSIGNED, stamp)
        return self._url(path, {**query, "X-Amz-Signature": signature})

    # transport -------------------------------------------------------------

    def request(
        self,
        method: str,
        key: str | None,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200, 204, 206),
        retry: bool = True,
        idempotent: bool | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """One signed call; raises ``S3Error`` unless the status is in ``ok``. ``stream`` leaves the body unread.

        ``retry=False`` never repeats the call; ``idempotent`` overrides what the method says
        (see the module docstring: only idempotent calls are repeated once they may have been sent).
        """
        query = dict(query or {})
        path = self._path(key) if key is not None else (f"/{self.config.bucket}" if self.config.path_style else "/")
        delays = _RETRY_DELAYS if retry else ()
        repeatable = is_idempotent(method, headers or {}) if idempotent is None else idempotent
        attempt = 0
        while True:
            sent = self.sign(method, path, query, headers or {}, body is not None and len(body) > 0)
            try:
                response = self._http.request(
                    method, self._url(path, query), body=body, headers=sent, preload_content=not stream, redirect=False
                )
            except urllib3.exceptions.HTTPError as exc:
                # a connection that could not be opened carried nothing: safe to repeat whatever the call
                unsent = isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
                if (unsent or repeatable) and attempt < len(delays):
                    time.sleep(delays[attempt])
                    attempt += 1
                    continue
                raise S3Error(0, "ConnectionError", str(exc), key or "") from exc
            if response.status in ok:
                return response
            data = response.read() if stream else response.data
            response.release_conn()
            if response.status in _RETRY_STATUS and repeatable and attempt < len(delays):
                time.sleep(delays[attempt])
                attempt += 1
                continue
            raise _error(response.status, data, key or "")

    def sign(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], has_body: bool,
             now: float | None = None) -> dict[str, str]:
        """The headers to send: ``headers`` plus the date, payload hash, session token and SigV4 ``Authorization``."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        signed = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-amz-")}
        signed.update({"host": self._host, "x-amz-date": stamp, "x-amz-content-sha256": _UNSIGNED if has_body else _EMPTY_SHA256})
        if self.config.session_token:  # S3 wants the token among the signed headers
            signed["x-amz-security-token"] = self.config.session_token
        signature, names, scope = self._signature(method, path, query, signed, signed["x-amz-content-sha256"], stamp)
        sent = {**headers, **signed}
        sent["Authorization"] = f"AWS4-HMAC-SHA256 Credential={self.config.access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
        return sent

    # objects ---------------------------------------------------------------

    def get(self, key: str) -> bytes:
        return bytes(self.request("GET", key).data)

    def open(self, key: str, offset: int = 0) -> urllib3.BaseHTTPResponse:
        """The object's body as a stream from ``offset`` (the caller reads and closes it)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self.request("GET", key, headers=headers, stream=True)

    def head(self, key: str) -> ObjectInfo:
        r = self.request("HEAD", key)
        meta = {k.lower()[len("x-amz-meta-"):]: v for k, v in r.headers.items() if k.lower().startswith("x-amz-meta-")}
        mtime = _http_date(r.headers["Last-Modified"]) if "Last-Modified" in r.headers else 0.0
        return ObjectInfo(key, int(r.headers.get("Content-Length", 0)), mtime, r.headers.get("ETag", "").strip('"'), meta)

    def put(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None) -> str:
        sent = {f"x-amz-meta-{k}": v for k, v in (metadata or {}).items()}
        sent.update(headers or {})
        sent["Content-Type"] = "application/octet-stream"
        # an empty body is still a body: a PUT must say so, or some gateways wait for one
        return self.request("PUT", key, headers=sent, body=data or b"").headers.get("ETag", "").strip('"')

    def delete(self, key: str) -> None:
        self.request("DELETE", key)

    def delete_many(self, keys: list[str]) -> None:
        full = [self._full_key(k) for k in keys]
        for start in range(0, len(full), 1000):
            batch = full[start : start + 1000]
            xml = "<Delete><Quiet>true</Quiet>" + "".join(f"<Object><Key>{_xml_escape(k)}</Key></Object>" for k in batch) + "</Delete>"
            body = xml.encode()
            md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
            # a POST, but idempotent: deleting keys again removes nothing more (quiet mode reports no error)
            self.request("POST", None, query={"delete": ""}, headers={"Content-MD5": md5, "Content-Type": "application/xml"},
                         body=body, idempotent=True)

    def copy(self, source: str, dest: str, metadata: Mapping[str, str] | None = None) -> None:
        """Server-side copy; with ``metadata`` the copy gets it (and a new mtime) instead of the source's."""
        headers = {"x-amz-copy-source": self._copy_source(source)}
        if metadata is not None:
            headers["x-amz-metadata-directive"] = "REPLACE"
            headers.update({f"x-amz-meta-{k}": v for k, v in metadata.items()})
        r = self.request("PUT", dest, headers=headers)
        _check_embedded_error(r.data, dest)

    def list(self, prefix: str, delimiter: str = "/", limit: int | None = None) -> tuple[list[ObjectInfo], list[str]]:
        """Objects and common prefixes under ``prefix`` (keys relative to the configured prefix).

        All pages, or with ``limit`` only the first page of at most that many entries.
        """
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        token = ""
        while True:
            query = {"list-type": "2", "prefix": self._full_key(prefix), "max-keys": str(limit or 1000)}
            if delimiter:
                query["delimiter"] = delimiter
            if token:
                query["continuation-token"] = token
            root = ElementTree.fromstring(self.request("GET", None, query=query).data)
            for item in _all(root, "Contents"):
                objects.append(ObjectInfo(self._relative(_text(item, "Key")), int(_text(item, "Size") or 0),
                                          _iso_date(_text(item, "LastModified")), _text(item, "ETag").strip('"'), {}))
            prefixes += [self._relative(_text(p, "Prefix")) for p in _all(root, "CommonPrefixes")]
            token = _text(root, "NextContinuationToken")
            if limit is not None or _text(root, "IsTruncated") != "true" or not token:
                return objects, prefixes

    # multipart -------------------------------------------------------------

    def create_multipart(self, key: str) -> str:
        r = self.request("POST", key, query={"uploads": ""}, headers={"Content-Type": "application/octet-stream"})
        return _text(ElementTree.fromstring(r.data), "UploadId")

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        r = self.request("PUT", key, query={"partNumber": str(number), "uploadId": upload_id}, body=data)
        return r.headers.get("ETag", "").strip('"')

    def copy_part(self, key: str, upload_id: str, number: int, source: str, first: int, last: int) -> str:
        headers = {"x-amz-copy-source": self._copy_source(source), "x-amz-copy-source-range": f"bytes={first}-{last}"}
        r = self.request("PUT", key, query={"partNumber": str(number), "uploadId": upload_id}, headers=headers)
        _check_embedded_error(r.data, key)
        return _text(ElementTree.fromstring(r.data), "ETag").strip('"')

    def list_parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        """Part number -> (ETag, size) of every part uploaded so far."""
        parts: dict[int, tuple[str, int]] = {}
        marker = ""
        while True:
            query = {"uploadId": upload_id, "max-parts": "1000"}
            if marker:
                query["part-number-marker"] = marker
            root = ElementTree.fromstring(self.request("GET", key, query=query).data)
            for part in _all(root, "Part"):
                parts[int(_text(part, "PartNumber"))] = (_text(part, "ETag").strip('"'), int(_text(part, "Size") or 0))
            marker = _text(root, "NextPartNumberMarker")
            if _text(root, "IsTruncated") != "true" or not marker:
                return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        # the response's ETag is not relied on: some gateways leave it empty
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag></Part>" for n, etag in parts
        ) + "</CompleteMultipartUpload>"
        r = self.request("POST", key, query={"uploadId": upload_id}, body=xml.encode(), headers={"Content-Type": "application/xml"})
        _check_embedded_error(r.data, key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.request("DELETE", key, query={"uploadId": upload_id})
        except S3Error as exc:
            if exc.status != 404:  # already completed or aborted
                raise

    def list_multipart(self, prefix: str) -> list[tuple[str, str, float]]:
        """(key, upload id, initiated) of the multipart uploads in progress under ``prefix``."""
        out: list[tuple[str, str, float]] = []
        key_marker = id_marker = ""
        while True:
            query = {"uploads": "", "prefix": self._full_key(prefix)}
            if key_marker:
                query["key-marker"] = key_marker
                query["upload-id-marker"] = id_marker
            root = ElementTree.fromstring(self.request("GET", None, query=query).data)
            for upload in _all(root, "Upload"):
                out.append((self._relative(_text(upload, "Key")), _text(upload, "UploadId"), _iso_date(_text(upload, "Initiated"))))
            key_marker, id_marker = _text(root, "NextKeyMarker"), _text(root, "NextUploadIdMarker")
            if _text(root, "IsTruncated") != "true" or not key_marker:
                return out

    def ensure_bucket(self) -> None:
        try:
            self.request("HEAD", None, retry=False)
        except S3Error as exc:
            if exc.status != 404:
                raise
            try:
                self.request("PUT", None)
            except S3Error as again:
                if again.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise

    # keys ------------------------------------------------------------------

    def _full_key(self, key: str) -> str:
        prefix = self.config.prefix.strip("/")
        return f"{prefix}/{key}" if prefix else key

    def _relative(self, key: str) -> str:
        prefix = self.config.prefix.strip("/")
        return key[len(prefix) + 1 :] if prefix else key

    def _copy_source(self, key: str) -> str:
        return _quote(f"{self.config.bucket}/{self._full_key(key)}", safe="-_.~/")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _error(status: int, data: bytes, key: str) -> S3Error:
    code, message = "", ""
    if data:
        try:
            root = ElementTree.fromstring(data)
            code, message = _text(root, "Code"), _text(root, "Message")
        except ElementTree.ParseError:
            message = data[:200].decode(errors="replace")
    return S3Error(status, code or {403: "AccessDenied", 404: "NoSuchKey", 412: "PreconditionFailed"}.get(status, ""), message or f"HTTP {status}", key)


def _check_embedded_error(data: Any, key: str) -> None:
    """Copies and completions may answer 200 and put the error in the body."""
    if data and b"<Error>" in bytes(data[:512]):
        raise _error(500, bytes(data), key)
