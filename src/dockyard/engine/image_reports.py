"""What ImageService answers with: ``images``' listing, ``image inspect``'s details, ``history``.

A module of its own so that ``tag`` and ``rmi`` (which need none of them) do not build these classes, and each
of the others builds them only when it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from dockyard.image.store import Image, ImageSummary
    from dockyard.storage.graph import GraphDriver


@dataclass(frozen=True, slots=True)
class ImageList:
    """``images``: the selected images, and the IDs of images another image names as its parent."""

    images: list[ImageSummary]
    parents: set[str]


@dataclass(frozen=True, slots=True)
class ImageDetails:
    """``image inspect``: the image and where its layers live in the storage driver."""

    image: Image
    graph: GraphDriver


@dataclass(frozen=True, slots=True)
class ImageHistory:
    """``history``: the image and the sizes of its layers."""

    image: Image
    layer_sizes: list[int]  # bottom first, one per non-empty history entry
