"""Options and reports of the image service's operations that write layers (``import``, ``image prune``).

Apart from ``engine.images`` so that the reading commands do not create these types at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.image.store import Removal


@dataclass(frozen=True, slots=True)
class ImportOptions:
    source: str  # a file, a URL, or "-" for ``stdin``
    repository: str | None = None  # the tag to give the new image
    changes: list[str] = field(default_factory=list)  # Dockerfile instructions (``--change``)
    message: str = ""


@dataclass(frozen=True, slots=True)
class PruneReport:
    removals: list[Removal]
    reclaimed: int  # bytes of the layers removed
