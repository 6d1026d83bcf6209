"""The /v2/ URL space, parsed: which endpoint, which repository, which reference.

Repository names contain slashes, so the endpoint is recognised by its suffix
(``/manifests/<ref>``, ``/blobs/uploads/<id>``, ...) and what precedes it is the
name, which must then follow the repository grammar. Matching is pure so it
can be tested without a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from dockyard.errors import InvalidDigestError, InvalidReferenceError
from dockyard.oci.digest import Digest
from dockyard.oci.reference import NAME_TOTAL_LENGTH_MAX, parse, validate_tag
from dockyard.registry.errcode import Code, RegistryError

UPLOAD_ID_RE = re.compile(r"[0-9a-f]{32}")


class Endpoint(StrEnum):
    BASE = "base"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOADS = "uploads"  # POST: start an upload (or mount, or monolithic)
    UPLOAD = "upload"  # one upload session
    REFERRERS = "referrers"


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: Endpoint
    name: str = ""
    reference: str = ""  # a tag or digest, a blob digest, or an upload id


# Most specific first: "x/blobs/uploads/" must not read as blob "uploads" of repository "x/blobs".
_PATTERNS: tuple[tuple[re.Pattern[str], Endpoint], ...] = (
    (re.compile(r"(?P<name>.+)/tags/list"), Endpoint.TAGS),
    (re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)"), Endpoint.MANIFEST),
    (re.compile(r"(?P<name>.+)/blobs/uploads/?"), Endpoint.UPLOADS),
    (re.compile(r"(?P<name>.+)/blobs/uploads/(?P<ref>[^/]+)"), Endpoint.UPLOAD),
    (re.compile(r"(?P<name>.+)/blobs/(?P<ref>[^/]+)"), Endpoint.BLOB),
    (re.compile(r"(?P<name>.+)/referrers/(?P<ref>[^/]+)"), Endpoint.REFERRERS),
)


def match(tail: str) -> Route | None:
    """The route for the path after ``/v2/``; None when no endpoint has that shape."""
    if tail in ("", "/"):
        return Route(Endpoint.BASE)
    if tail == "_catalog":
        return Route(Endpoint.CATALOG)
    for pattern, endpoint in _PATTERNS:
        found = pattern.fullmatch(tail)
        if found:
            validate_name(found["name"])
            return Route(endpoint, found["name"], found.groupdict().get("ref") or "")
    return None


def is_valid_name(name: str) -> bool:
    """The repository grammar: lowercase path components joined by "/", at most 255 characters."""
    if not name or len(name) > NAME_TOTAL_LENGTH_MAX:
        return False
    for component in name.split("/"):
        # A single component parses as a domain-less name; anything else (a tag,
        # a digest, uppercase, a port) shows it is not a plain path component.
        try:
            ref = parse(component)
        except InvalidReferenceError:
            return False
        if ref.domain or ref.path != component or ref.tag is not None or ref.digest is not None:
            return False
    return True


def validate_name(name: str) -> str:
    if not is_valid_name(name):
        raise RegistryError(Code.NAME_INVALID, detail={"name": name[:300]})
    return name


def parse_digest(value: str, code: Code = Code.DIGEST_INVALID) -> Digest:
    try:
        return Digest.parse(value)
    except InvalidDigestError as exc:
        raise RegistryError(code, detail=str(exc)) from exc


def is_digest(reference: str) -> bool:
    return ":" in reference


def is_valid_tag(tag: str) -> bool:
    try:
        validate_tag(tag)
    except InvalidReferenceError:
        return False
    return True


def is_valid_upload_id(upload_id: str) -> bool:
    return bool(UPLOAD_ID_RE.fullmatch(upload_id))
