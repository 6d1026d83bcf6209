"""The error classes every module raises.

The hierarchy is shallow and says how a caller should handle an error; the CLI
maps each class to Docker's exit code and prints ``str(error)`` as one line.
Messages keep Docker's wording where clients match on it ("No such image").
"""

from __future__ import annotations


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""


class InvalidArgumentError(DockyardError):
    """The user's input is malformed (a reference, a flag value, a filter)."""


class InvalidReferenceError(InvalidArgumentError):
    """An image reference does not follow Docker's grammar."""


class InvalidDigestError(InvalidArgumentError):
    """A digest string is malformed or uses an unsupported algorithm."""


class NotFoundError(DockyardError):
    """Something named by the user does not exist."""


class StreamError(DockyardError):
    """An error Docker's daemon reports inside a progress stream (push): the docker CLI prints it as
    it is, without "Error response from daemon:"."""


class ImageNotFoundError(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"No such image: {name}")
        self.name = name

    def __reduce__(self) -> tuple[type, tuple[str]]:  # survives a worker process boundary
        return (type(self), (self.name,))


class BlobNotFoundError(NotFoundError):
    """A blob is not in the content store."""


class LayerNotFoundError(NotFoundError):
    """A layer is not in the layer store."""


class ConflictError(DockyardError):
    """The operation conflicts with the current state (an image in use)."""


class InvalidContentError(DockyardError):
    """Bytes from outside are not what they claim to be."""


class DigestMismatchError(InvalidContentError):
    def __init__(self, expected: object, actual: object) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[type, tuple[object, object]]:
        return (type(self), (self.expected, self.actual))


class SizeMismatchError(InvalidContentError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"size mismatch: expected {expected} bytes, got {actual}")
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[type, tuple[int, int]]:
        return (type(self), (self.expected, self.actual))


class UnsupportedMediaTypeError(InvalidContentError):
    """A manifest, config or layer has a media type dockyard cannot use."""


class MaxDepthExceededError(InvalidContentError):
    """An image has more layers than an overlay mount can stack (Docker's limit, 125)."""

    def __init__(self) -> None:
        super().__init__("max depth exceeded")


class InvalidArchiveError(InvalidContentError):
    """An archive (image tarball, layer tar) is truncated or malformed."""


class UnsafePathError(InvalidArchiveError):
    """A tar member would be written outside the layer's root."""


class StorageError(DockyardError):
    """The store could not complete a write (disk full, driver failure)."""


class UnmappedOwnerError(StorageError):
    """A rootless store cannot give a file its owner: the user's namespace maps no such id."""


class NotSwarmManagerError(DockyardError):
    """Swarm objects (services, nodes, tasks, secrets, configs): dockyard is never a swarm manager."""

    MESSAGE = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
               "node to swarm and try again.")  # fmt: skip

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)
