"""The image service: what ``images``, ``image inspect``, ``history``, ``tag``, ``rmi``, ``save``, ``load``,
``import`` and ``image prune`` do, with typed options and reports; the faces only parse and print.

The listing, inspect, history, tag and rmi paths read metadata and config blobs only; the archive,
import and load code is imported inside the operations that use it.
"""

from __future__ import annotations

import collections.abc
import os

from dockyard.engine.image_filters import image_filter, matching_refs, prune_filter
from dockyard.errors import ImageNotFoundError, InvalidArgumentError, NotFoundError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import BinaryIO, Callable

    from dockyard.engine import Engine
    from dockyard.engine.image_reports import ImageDetails, ImageHistory, ImageList
    from dockyard.engine.image_writes import ImportOptions, PruneReport
    from dockyard.image.load import LoadResult
    from dockyard.image.store import Image, ImageSummary, Removal
    from dockyard.oci.digest import Digest

LoadProgress = collections.abc.Callable[[str, int], None]  # (layer, bytes) as each layer is stored


class ImageService:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # reads -------------------------------------------------------------------------

    def list(self, filters: dict[str, list[str]]) -> ImageList:
        """Images that pass Docker's ``images`` filters (dangling, label, before, since, reference)."""
        from dockyard.engine.image_reports import ImageList

        store = self.engine.images
        summaries = store.summaries()
        keep = image_filter(filters, lambda image: store.labels(image.row.id), self._created)
        parents = {s.row.parent for s in summaries if s.row.parent}
        kept = [s for s in summaries if keep(s)]
        if filters.get("reference"):
            # Docker's daemon lists only the names the pattern matches, not the image's other tags
            from dataclasses import replace

            kept = [replace(s, refs=matching_refs(s.refs, filters["reference"])) for s in kept]
        return ImageList(kept, parents)

    def _created(self, name: str) -> float:
        try:
            moment = self.engine.images.get(name).created
        except ImageNotFoundError as exc:
            raise NotFoundError(f"No such image: {_familiar_tagged(exc.name)}") from exc
        return moment.timestamp() if moment else 0.0

    def get(self, name: str) -> Image:
        return self.engine.images.get(name)

    def inspect(self, name: str) -> ImageDetails:
        """ImageNotFoundError for a missing name, in the daemon's words ("No such image: nope:latest")."""
        try:
            return self.details(self.engine.images.get(name))
        except ImageNotFoundError as exc:
            raise ImageNotFoundError(_familiar_tagged(exc.name)) from exc

    def details(self, image: Image) -> ImageDetails:
        from dockyard.engine.image_reports import ImageDetails

        return ImageDetails(image, self.engine.graph_driver(image.row))

    def history(self, name: str) -> ImageHistory:
        from dockyard.engine.image_reports import ImageHistory

        store = self.engine.images
        try:
            image = store.get(name)
        except ImageNotFoundError as exc:
            raise NotFoundError(f"No such image: {_familiar_tagged(exc.name)}") from exc
        return ImageHistory(image, store.layer_sizes(image.row))

    # names -------------------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        """Name ``source`` ``target``; a missing source is reported with its name normalised, as Docker's daemon does."""
        try:
            self.engine.images.tag(source, target)
        except ImageNotFoundError as exc:
            raise NotFoundError(f"No such image: {_familiar_or_raw(exc.name)}") from exc

    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> Removal:
        """Docker's ``rmi``; a missing name is reported as the daemon normalises it (``nosuch:latest``)."""
        try:
            return self.engine.images.remove(name, force=force, prune=prune)
        except ImageNotFoundError as exc:
            raise NotFoundError(f"No such image: {_familiar_tagged(exc.name)}") from exc

    def prune(self, filters: dict[str, list[str]], *, all: bool = False) -> PruneReport:
        """Remove dangling images (every unused one with ``all``) that the filters select."""
        store = self.engine.images
        select = prune_filter(filters, lambda image: image.config.labels, dangling_only=not all)  # type: ignore[attr-defined]
        from dockyard.engine.image_writes import PruneReport

        removals, reclaimed = store.delete_unused(select)
        self.engine.events.pruned("image", reclaimed)
        return PruneReport(removals, reclaimed)

    # archives ------------------------------------------------------------------------

    def save(self, names: list[str], out: BinaryIO) -> None:
        """A docker-archive of the images (and their tags) written to ``out``."""
        from dockyard.image.save import save_images

        save_images(self.engine.images, names, out)

    def save_to_file(self, names: list[str], path: str) -> None:
        """``save -o``: written beside the target and renamed into place, so a failed save leaves no file."""
        target = os.path.abspath(path)
        partial = f"{target}.partial-{os.getpid()}"
        try:
            with open(partial, "wb", buffering=1 << 20) as f:
                self.save(names, f)  # type: ignore[arg-type]
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def load(self, path: str | None, stdin: BinaryIO, progress: LoadProgress | None = None) -> LoadResult:
        """``load``: a docker-archive or OCI layout from ``path`` (``stdin`` when None), any compression."""
        from dockyard.image.load import load_archive
        from dockyard.image.spool import seekable_archive

        engine = self.engine
        with seekable_archive(path, stdin, engine.spool_file) as seekable:
            return load_archive(engine.images, seekable, progress)

    def import_image(self, options: ImportOptions, stdin: BinaryIO) -> Digest:
        """``import``: a tarball (file, URL or stdin) as a one-layer image; returns its ID."""
        from dockyard.image.importer import import_image
        from dockyard.image.spool import open_source
        from dockyard.oci.reference import parse_docker_ref

        tag = None
        if options.repository is not None:
            tag = parse_docker_ref(options.repository)
            if tag.digest is not None:
                raise InvalidArgumentError("refusing to create a tag with a digest reference")
        opener, name = open_source(options.source, stdin)
        return import_image(self.engine.images, opener, name, tag, options.changes, options.message)


def check_tag(target: str) -> None:
    """Raise InvalidArgumentError unless ``target`` is a valid repository[:tag]."""
    from dockyard.oci.reference import parse_docker_ref

    try:
        parse_docker_ref(target)
    except InvalidArgumentError as exc:
        raise client_reference_error(target, exc) from None


def client_reference_error(text: str, exc: InvalidArgumentError) -> InvalidArgumentError:
    """A name the docker CLI 28 refuses, in its words: its reference library names the repository
    ("repository name (library/Bad) must be lowercase"); the daemon's does not."""
    from dockyard.oci.reference import split_docker_domain

    message = str(exc)
    if not message.endswith("repository name must be lowercase"):
        return exc
    remote = split_docker_domain(text)[1].partition(":")[0]
    return InvalidArgumentError(message.replace("repository name must", f"repository name ({remote}) must"))


def _familiar_or_raw(name: str) -> str:
    from dockyard.oci.reference import parse_docker_ref

    try:
        return parse_docker_ref(name).familiar
    except InvalidArgumentError:
        return name


def _familiar_tagged(name: str) -> str:
    from dockyard.oci.reference import parse_docker_ref

    try:
        return parse_docker_ref(name).with_default_tag().familiar
    except InvalidArgumentError:
        return name


def missing_image_error(exc: ImageNotFoundError) -> NotFoundError:
    """Docker's daemon answers ``save`` of a missing tag differently from a missing name."""
    tagged = ":" in exc.name.rsplit("/", 1)[-1] and not exc.name.startswith("sha256:")
    return NotFoundError("reference does not exist" if tagged else f"No such image: {exc.name}")
