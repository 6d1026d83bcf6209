"""Errors of the registry client, placed in the shared hierarchy by how to handle them.

Errors a registry answered with stay ``errcode.RegistryError`` (one table for
codes); these are the client's own: the network failed, a login was refused,
a credential helper broke, no image fits the platform.
"""

from __future__ import annotations

from dockyard.errors import DockyardError, InvalidArgumentError, NotFoundError
from dockyard.registry.errcode import RegistryError


class ConnectionFailedError(DockyardError):
    """The registry could not be reached, or the connection broke, after every retry."""


class UnusableURLError(DockyardError):
    """A request or a redirect names a URL no retry can reach (not http or https, malformed): fails at once."""


class NoBasicAuthError(DockyardError):
    """A Basic challenge and no credentials to answer it (Go's url.Error around ErrNoBasicAuthCredentials)."""

    CAUSE = "no basic auth credentials"

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f'{method.title()} "{url}": {self.CAUSE}')
        self.url = url


class LoginError(DockyardError):
    """The registry refused the credentials (nothing was saved)."""


class CredentialHelperError(DockyardError):
    """A ``docker-credential-*`` helper is missing or failed."""


class PlatformNotFoundError(NotFoundError):
    """No manifest of an index fits the requested platform."""


class InvalidPlatformError(InvalidArgumentError):
    """A ``--platform`` value is not os[/arch[/variant]]."""


class DownloadFailedError(DockyardError):
    """A blob download stopped (the process that owned it died, or the peer went away)."""


def describe(error: RegistryError) -> str:
    """Go's errcode.Error.Error(): "manifest unknown: manifest unknown"."""
    return f"{error.code.lower().replace('_', ' ')}: {error.message}"
