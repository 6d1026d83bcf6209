"""The OCI Distribution error codes: one table, shared by the client and the server.

Each code has its message, HTTP status and description as the
distribution-spec and Docker's registry define them. The server answers with
``ErrorBody``; the client reads such bodies (size-capped) back into
``RegistryError`` and knows which errors are worth a retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dockyard.errors import DockyardError

MAX_ERROR_BODY = 64 * 1024  # a peer's error body is read at most this far


class Code(StrEnum):
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    MANIFEST_UNVERIFIED = "MANIFEST_UNVERIFIED"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    TAG_INVALID = "TAG_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    RANGE_INVALID = "RANGE_INVALID"
    PAGINATION_NUMBER_INVALID = "PAGINATION_NUMBER_INVALID"
    UNKNOWN = "UNKNOWN"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class Descriptor:
    message: str
    status: int
    description: str


TABLE: dict[Code, Descriptor] = {
    Code.BLOB_UNKNOWN: Descriptor("blob unknown to registry", 404, "the blob is not in the repository"),
    Code.BLOB_UPLOAD_INVALID: Descriptor("blob upload invalid", 400, "the upload failed; the client may retry it"),
    Code.BLOB_UPLOAD_UNKNOWN: Descriptor("blob upload unknown to registry", 404, "the upload was cancelled or never started"),
    Code.DIGEST_INVALID: Descriptor("provided digest did not match uploaded content", 400, "the content does not have the digest given"),
    Code.MANIFEST_BLOB_UNKNOWN: Descriptor("manifest references a manifest or blob unknown to registry", 404, "a blob the manifest names is not in the repository"),
    Code.MANIFEST_INVALID: Descriptor("manifest invalid", 400, "the manifest failed validation"),
    Code.MANIFEST_UNKNOWN: Descriptor("manifest unknown", 404, "the manifest is not in the repository"),
    Code.MANIFEST_UNVERIFIED: Descriptor("manifest failed signature verification", 400, "a schema1 signature did not verify"),
    Code.NAME_INVALID: Descriptor("invalid repository name", 400, "the repository name is not valid"),
    Code.NAME_UNKNOWN: Descriptor("repository name not known to registry", 404, "the repository does not exist"),
    Code.SIZE_INVALID: Descriptor("provided length did not match content length", 400, "the content is not the size declared"),
    Code.TAG_INVALID: Descriptor("manifest tag did not match URI", 400, "the tag in the manifest is not the one in the URL"),
    Code.UNAUTHORIZED: Descriptor("authentication required", 401, "the client must authenticate"),
    Code.DENIED: Descriptor("requested access to the resource is denied", 403, "the credentials do not grant this action"),
    Code.UNSUPPORTED: Descriptor("The operation is unsupported.", 405, "the registry does not support this operation"),
    Code.TOOMANYREQUESTS: Descriptor("too many requests", 429, "the client made too many requests"),
    Code.RANGE_INVALID: Descriptor("invalid content range", 416, "the chunk does not start where the upload ends"),
    Code.PAGINATION_NUMBER_INVALID: Descriptor("invalid number of results requested", 400, "n is not a valid number of results"),
    Code.UNKNOWN: Descriptor("unknown error", 500, "the registry failed in an unexpected way"),
    Code.UNAVAILABLE: Descriptor("service unavailable", 503, "the registry cannot serve now; retry later"),
}

# statuses and codes a client retries (with backoff, honouring Retry-After)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_CODES = frozenset({Code.TOOMANYREQUESTS, Code.UNAVAILABLE, Code.UNKNOWN})


class RegistryError(DockyardError):
    """An error a registry answered with (or one the server is about to send)."""

    def __init__(self, code: Code | str, message: str = "", detail: Any = None, status: int | None = None) -> None:
        known = Code(code) if code in Code.__members__ else Code.UNKNOWN
        entry = TABLE[known]
        self.code = str(code)
        self.message = message or entry.message
        self.detail = detail
        self.status = status or entry.status
        super().__init__(self.message)

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (type(self), (self.code, self.message, self.detail, self.status))

    @property
    def temporary(self) -> bool:
        return self.status in RETRYABLE_STATUS or self.code in RETRYABLE_CODES

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}


def error_body(*errors: RegistryError) -> bytes:
    """The spec's JSON error body for one or more errors."""
    return json.dumps({"errors": [e.body()["errors"][0] for e in errors]}).encode()


def parse_error_body(status: int, body: bytes) -> RegistryError:
    """The first error of a registry's answer; unknown shapes become UNKNOWN with the status kept."""
    try:
        data = json.loads(body[:MAX_ERROR_BODY])
        first = data["errors"][0]
        return RegistryError(str(first.get("code", "UNKNOWN")), str(first.get("message", "")), first.get("detail"), status)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        text = body[:200].decode("utf-8", "replace").strip()
        return RegistryError(Code.UNKNOWN, f"unexpected status {status}" + (f": {text}" if text else ""), status=status)
