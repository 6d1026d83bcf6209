"""Image references, parsed and normalised exactly as Docker does.

A port of github.com/distribution/reference (reference.go, regexp.go,
normalize.go, helpers.go). The grammar::

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] remote-name
    domain           := host [':' port-number]
    host             := domain-name | IPv4address | \\[ IPv6address \\]
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]+/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" hex   (then validated by ``Digest``)

Error messages use the wording the docker CLI prints, so scripts matching on
"invalid reference format" keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from dockyard.errors import InvalidDigestError, InvalidReferenceError
from dockyard.oci.digest import Digest

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "NAME_TOTAL_LENGTH_MAX",
    "Reference",
    "from_stored",
    "is_image_id",
    "parse",
    "parse_docker_ref",
    "parse_normalized",
    "split_docker_domain",
    "validate_tag",
]

NAME_TOTAL_LENGTH_MAX = 255
DEFAULT_DOMAIN = "docker.io"
# The Hub's v1 name ("the Docker Index"); still accepted and folded into docker.io.
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
LOCALHOST = "localhost"

_INVALID_FORMAT = "invalid reference format"
_ERR_UPPERCASE = "repository name must be lowercase"
_ERR_EMPTY = "repository name must have at least one component"
_ERR_TOO_LONG = f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"

# --- grammar (regexp.go) ----------------------------------------------------
# Built from the same pieces as the Go source so the two can be compared line
# by line. Python's `re` and Go's RE2 both pick leftmost-first submatches, so
# the captured domain/path split is the same. re.ASCII keeps \w to [0-9A-Za-z_]
# as in RE2; fullmatch() is used everywhere because `$` would accept a
# trailing newline.
_ALPHANUMERIC = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
# Compressed or full IPv6 only; zone ids ("%eth0") and IPv4-mapped are excluded.
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
_DOMAIN_AND_PORT = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:{_SEPARATOR}{_ALPHANUMERIC})*"
_REMOTE_NAME = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_NAME = rf"(?:{_DOMAIN_AND_PORT}/)?{_REMOTE_NAME}"



class _OnFirstUse:
    """A pattern compiled when first matched: the grammar takes milliseconds to compile, and a
    command that parses no reference (``images``, ``ps``) should not pay for it at import."""

    __slots__ = ("_source", "_compiled")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def fullmatch(self, value: str) -> re.Match[str] | None:
        if self._compiled is None:
            self._compiled = re.compile(self._source, re.ASCII)
        return self._compiled.fullmatch(value)


_REFERENCE_RE = _OnFirstUse(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?")
_ANCHORED_NAME_RE = _OnFirstUse(rf"(?:({_DOMAIN_AND_PORT})/)?({_REMOTE_NAME})")
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")


def _invalid(detail: str | None = None) -> InvalidReferenceError:
    # The CLI shows the generic message, with the specific cause appended.
    return InvalidReferenceError(f"{_INVALID_FORMAT}: {detail}" if detail else _INVALID_FORMAT)


def _go_lower(value: str) -> str:
    # Go's strings.ToLower maps U+0130 (capital I with dot) to a plain "i";
    # Python's full case mapping yields "i" + combining dot, which would turn
    # Go's "must be lowercase" into a plain format error.
    return value.replace("\u0130", "i").lower()


@dataclass(frozen=True, slots=True)
class Reference:
    """A repository name with an optional tag and/or digest.

    ``domain`` is empty only for references from :func:`parse` that carry no
    domain; normalised references always have one.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The short name the docker UI shows: Hub domain and ``library/`` dropped."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        remainder = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        # Only a single component after library/ is an official image;
        # "library/foo/bar" keeps its prefix so it cannot be misread.
        if remainder != self.path and "/" not in remainder:
            return remainder
        return self.path

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """Sets the tag, keeping any digest (Go's WithTag)."""
        return replace(self, tag=validate_tag(tag))

    def with_digest(self, digest: Digest) -> Reference:
        """Sets the digest, keeping any tag (Go's WithDigest)."""
        return replace(self, digest=digest)

    def with_default_tag(self) -> Reference:
        """Adds ``latest`` to a bare name (Go's TagNameOnly)."""
        if self.tag is None and self.digest is None:
            return replace(self, tag=DEFAULT_TAG)
        return self

    def name_only(self) -> Reference:
        """Drops tag and digest (Go's TrimNamed)."""
        return replace(self, tag=None, digest=None)


def validate_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise InvalidReferenceError(f"invalid tag format: {tag!r}")
    return tag


def is_image_id(value: str) -> bool:
    """True for a full image ID: 64 lowercase hex, bare or as ``sha256:<hex>``."""
    return bool(_IDENTIFIER_RE.fullmatch(value.removeprefix("sha256:")))


def parse(value: str) -> Reference:
    """Parses without normalising (Go's Parse): "foo" keeps an empty domain."""
    if not value:
        raise _invalid(_ERR_EMPTY)
    match = _REFERENCE_RE.fullmatch(value)
    if match is None:
        lowered = _go_lower(value)
        # Valid once lowercased: the user typed uppercase in the name.
        if lowered != value and _REFERENCE_RE.fullmatch(lowered):
            raise _invalid(_ERR_UPPERCASE)
        raise _invalid()
    name, tag, encoded_digest = match.groups()
    # Docker 20.10's limit covers the whole name, domain included.
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(_ERR_TOO_LONG)
    name_match = _ANCHORED_NAME_RE.fullmatch(name)
    assert name_match is not None  # same sub-grammar as _REFERENCE_RE's name
    domain, path = name_match.groups()
    digest = None
    if encoded_digest is not None:
        try:
            digest = Digest.parse(encoded_digest)
        except InvalidDigestError as exc:
            raise _invalid(str(exc)) from exc
    return Reference(domain or "", path, tag, digest)


def split_docker_domain(name: str) -> tuple[str, str]:
    """Splits ``name`` into (domain, remainder), applying Docker's defaults.

    The remainder keeps any ":tag" / "@digest"; the name is not validated.
    """
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        # A single component is always a Hub official image ("ubuntu:20.04"),
        # never "host:port", even if it looks like a hostname.
        return DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name
    if maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif (
        maybe_domain == LOCALHOST
        or "." in maybe_domain
        or ":" in maybe_domain
        # Namespaces cannot be uppercase, so an uppercase first part must be a host.
        or _go_lower(maybe_domain) != maybe_domain
    ):
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_REPO_PREFIX + remote
    return domain, remote


def parse_normalized(value: str) -> Reference:
    """Parses a name as typed by a user (Go's ParseNormalizedNamed).

    "busybox" becomes docker.io/library/busybox; no default tag is added.
    """
    # A bare image ID would otherwise parse as docker.io/library/<hex>.
    if _IDENTIFIER_RE.fullmatch(value):
        raise InvalidReferenceError(
            f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = split_docker_domain(value)
    remote = remainder.partition(":")[0]
    if _go_lower(remote) != remote:
        raise _invalid(_ERR_UPPERCASE)
    return parse(f"{domain}/{remainder}")


def from_stored(value: str) -> Reference:
    """A name the image store wrote (normalised by ``parse_docker_ref`` and checked then), split without
    the grammar: listing every tag at every ``images`` need not parse each one again. Anything not in
    the stored form (no domain) goes through ``parse_docker_ref``."""
    name, at, digest = value.partition("@")
    tag = None
    if not at:
        colon = name.rfind(":")
        if colon > name.rfind("/"):
            name, tag = name[:colon], name[colon + 1 :]
    domain, slash, path = name.partition("/")
    if not slash or not (at or tag):
        return parse_docker_ref(value)
    return Reference(domain, path, tag, Digest.parse(digest) if at else None)


def parse_docker_ref(value: str) -> Reference:
    """Normalises like ``docker pull`` (Go's ParseDockerRef).

    Adds the ``latest`` tag to a bare name; with both tag and digest only the
    digest is kept, since it alone decides what is pulled.
    """
    ref = parse_normalized(value)
    if ref.tag is not None and ref.digest is not None:
        return replace(ref, tag=None)
    return ref.with_default_tag()
