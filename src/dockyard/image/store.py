"""Images and their names over the content store, metadata and layer store.

An image is its config blob (the image ID is its digest) plus the stack of
layers its ``rootfs.diff_ids`` name. Names are refs: tags
(``docker.io/library/busybox:latest``) and digests (``...@sha256:…``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

from dockyard.errors import (
    ConflictError, DockyardError, ImageNotFoundError, InvalidArgumentError, InvalidContentError, InvalidReferenceError
)
from dockyard.metadata.db import Database, ImageRow
from dockyard.oci.timefmt import parse_time
from dockyard.oci.digest import Digest, chain_id
from dockyard.oci.reference import Reference, from_stored, is_image_id, parse_docker_ref

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Callable

    from dockyard.content.store import ContentStore
    from dockyard.image.layerstore import Layer, LayerStore, StagedLayers
    from dockyard.oci.config import ImageConfig

_SHORT_ID = re.compile(r"(sha256:)?[a-f0-9]{1,64}")
# Labels by (content store, image ID): a config never changes under its digest, and the API service lists
# every image's labels at each ``GET /images/json`` (parsing 50 configs costs ~3.5 ms)
_LABELS: dict[tuple[str, str], dict[str, str]] = {}
_LABELS_KEPT = 4096


class _Named:
    """The names of an image, split as Docker shows them (for the records below, which have ``refs``)."""

    __slots__ = ()
    refs: list[Reference]

    @property
    def tags(self) -> list[Reference]:
        return [r for r in self.refs if r.tag is not None and r.digest is None]

    @property
    def digests(self) -> list[Reference]:
        return [r for r in self.refs if r.digest is not None]


@dataclass(frozen=True, slots=True)
class Image(_Named):
    """An image: its metadata row, its parsed config blob and its names."""

    row: ImageRow
    config: ImageConfig
    refs: list[Reference]

    @property
    def id(self) -> Digest:
        return Digest.parse(self.row.id)

    @property
    def created(self) -> datetime | None:
        return self.config.created


@dataclass(frozen=True, slots=True)
class ImageSummary(_Named):
    """An image as ``images`` lists it: its metadata row and names, without reading its config blob."""

    row: ImageRow
    refs: list[Reference]

    @property
    def created(self) -> datetime | None:
        return parse_time(self.row.created)


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``rmi`` did, in Docker's order: Untagged lines, then Deleted lines."""

    untagged: list[str]
    deleted: list[str]


class ImageStore:
    def __init__(
        self,
        db: Database,
        content: ContentStore,
        layers: LayerStore | Callable[[], LayerStore],
        release: Callable[[list[str]], None] | None = None,
    ) -> None:
        """``layers`` may be a function that builds the layer store, called when an operation first needs it;
        ``release`` deletes the directories of removed layers (default: the layer store's ``cleanup``),
        so that ``rmi`` need not build the layer store."""
        self.db = db
        self.content = content
        self._layers: LayerStore | None = None if callable(layers) else layers
        self._make_layers = layers if callable(layers) else None
        self._release = release
        self._deleted_configs: list[str] = []  # blobs to delete once the transaction commits

    @property
    def layers(self) -> LayerStore:
        if self._layers is None:
            assert self._make_layers is not None
            self._layers = self._make_layers()
        return self._layers

    # lookup --------------------------------------------------------------------

    def resolve(self, name: str) -> ImageRow:
        return self.lookup(name)[0]

    def lookup(self, name: str) -> tuple[ImageRow, Reference | None]:
        """Docker's lookup order: a full ID, a reference, then a unique ID prefix.

        Returns the image and the reference that named it (None for an ID).
        """
        if is_image_id(name):
            row = self.db.image(name if name.startswith("sha256:") else f"sha256:{name}")
            if row and not self.db.is_removed(row.id):
                return row, None
            raise ImageNotFoundError(name)
        invalid = "invalid reference format"
        try:
            ref: Reference | None = parse_docker_ref(name)
        except InvalidArgumentError as exc:
            ref, invalid = None, str(exc)  # the daemon keeps the cause ("repository name must be lowercase")
        if ref is not None:
            found = self.db.ref(str(ref))
            row = self.db.image(found.image_id) if found else None
            if row:
                return row, ref
        if _SHORT_ID.fullmatch(name):
            matches = self.db.images_with_prefix("sha256:" + name.removeprefix("sha256:"))
            if len(matches) == 1:
                return matches[0], None
            if len(matches) > 1:
                raise InvalidArgumentError(f"ambiguous image ID prefix {name!r}")
        if ref is None:
            raise InvalidReferenceError(invalid)
        raise ImageNotFoundError(name)

    def config(self, image_id: str) -> ImageConfig:
        from dockyard.oci.config import ImageConfig  # listing reads no config: keep its types off that path

        return ImageConfig.parse(self.content.read(Digest.parse(image_id)))

    def labels(self, image_id: str) -> dict[str, str]:
        """The image config's labels (a copy of what this process read before, if it did)."""
        key = (str(self.content.root), image_id)
        found = _LABELS.get(key)
        if found is None:
            found = self.config(image_id).labels
            if len(_LABELS) >= _LABELS_KEPT:
                _LABELS.clear()
            _LABELS[key] = found
        return dict(found)

    def refs_of(self, image_id: str) -> list[Reference]:
        return [from_stored(r.name) for r in self.db.refs(image_id)]

    def get(self, name: str) -> Image:
        row = self.resolve(name)
        return Image(row, self.config(row.id), self.refs_of(row.id))

    def all(self) -> list[Image]:
        refs: dict[str, list[Reference]] = {}
        for r in self.db.refs():
            refs.setdefault(r.image_id, []).append(from_stored(r.name))
        return [Image(row, self.config(row.id), refs.get(row.id, [])) for row in self.db.images()]

    def summaries(self) -> list[ImageSummary]:
        """Every image with its names, from metadata alone (no config blob is read)."""
        refs: dict[str, list[Reference]] = {}
        for r in self.db.refs():
            refs.setdefault(r.image_id, []).append(from_stored(r.name))
        return [ImageSummary(row, refs.get(row.id, [])) for row in self.db.images()]

    def layers_of(self, image: ImageRow) -> list[Layer]:
        return self.layers.stack(Digest.parse(image.top_layer)) if image.top_layer else []

    def layer_sizes(self, image: ImageRow) -> list[int]:
        """The sizes of an image's layers, bottom first, from metadata alone."""
        return [row.size for row in self.db.layer_chain(image.top_layer)] if image.top_layer else []

    # creation ------------------------------------------------------------------

    def add(
        self,
        config_raw: bytes,
        staged: StagedLayers,
        tags: list[Reference] = (),  # type: ignore[assignment]
        digests: list[Reference] = (),  # type: ignore[assignment]
        parent: str | None = None,
    ) -> tuple[Digest, list[tuple[Reference, str]]]:
        """Make an image visible with its layers and names, in one transaction.

        Returns the image ID and, for each tag moved away from another image,
        (tag, old image ID). ``staged`` is committed or, on error, discarded.
        """
        from dockyard.oci.config import ImageConfig

        config = ImageConfig.parse(config_raw)
        diff_ids = config.diff_ids
        if [layer.diff_id for layer in staged.layers] != diff_ids:
            self.layers.discard(staged)
            raise InvalidContentError("the image's layers do not match its config's rootfs.diff_ids")
        image_id = self.content.write(config_raw)
        moved: list[tuple[Reference, str]] = []
        try:
            with self.db.transaction():
                self.layers.commit(staged)
                self.db.restore_image(str(image_id))
                if self.db.image(str(image_id)) is None:
                    top = chain_id(diff_ids) if diff_ids else None
                    size = sum(layer.size for layer in staged.layers)
                    created = str(config.data.get("created", ""))
                    self.db.insert_image(
                        ImageRow(str(image_id), str(top) if top else None, parent, created, size, time.time())
                    )
                for ref in tags:
                    old = self.db.set_ref(str(ref), str(image_id), "tag")
                    if old:
                        moved.append((ref, old))
                for ref in digests:
                    self.db.set_ref(str(ref), str(image_id), "digest")
        except BaseException:
            self.layers.discard(staged)
            raise
        # layers another process stored first were dropped by commit; nothing else to clean
        return image_id, moved

    # names ---------------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        row = self.resolve(source)
        ref = parse_docker_ref(target)
        if ref.digest is not None:
            raise InvalidArgumentError("refusing to create a tag with a digest reference")
        with self.db.transaction():
            self.db.set_ref(str(ref), row.id, "tag")
            self.log_event("tag", row.id, ref.familiar)

    # removal -------------------------------------------------------------------

    def remove(self, name: str, *, force: bool = False, prune: bool = True) -> Removal:
        """Docker's ``rmi``: untag a reference, delete the image once nothing names it."""
        row, ref = self.lookup(name)
        self._deleted_configs.clear()
        untagged: list[str] = []
        deleted: list[str] = []
        by_ref = ref is not None
        removed_layers: list[str] = []
        with self.db.transaction():
            refs = self.db.refs(row.id)
            if ref is not None:
                targets = [r.name for r in refs if r.name == str(ref)]
                if ref.digest is None:
                    # untagging the last tag of a repository drops its digests too
                    remaining_tags = [r for r in refs if r.kind == "tag" and r.name not in targets]
                    if not any(_repo(r.name) == ref.name for r in remaining_tags):
                        targets += [r.name for r in refs if r.kind == "digest" and _repo(r.name) == ref.name]
                for target in targets:
                    self.db.delete_ref(target)
                    untagged.append(parse_docker_ref(target).familiar)
                    self.log_event("untag", row.id, row.id)
                if self.db.refs(row.id):
                    return Removal(untagged, deleted)
            else:
                repos = {_repo(r.name) for r in refs}
                if len(repos) > 1 and not force:
                    raise ConflictError(
                        f"conflict: unable to delete {row.id[7:19]} (must be forced) - "
                        "image is referenced in multiple repositories"
                    )
            self._check_unused(row, force=force, by_ref=by_ref)
            if self.db.children(row.id) and not by_ref:
                raise ConflictError(
                    f"conflict: unable to delete {row.id[7:19]} (cannot be forced) - image has dependent child images"
                )
            for r in self.db.refs(row.id):
                self.db.delete_ref(r.name)
                untagged.append(from_stored(r.name).familiar)
                self.log_event("untag", row.id, row.id)
            if self.db.containers_using(row.id):
                # forced past stopped containers: Docker deletes the image, its layers stay theirs
                self.log_event("delete", row.id, row.id)
                self.db.mark_removed(row.id)
                return Removal(untagged, [row.id])
            removed_layers += self._delete(row, deleted, prune)
        (self._release or self.layers.cleanup)(removed_layers)
        self.delete_content(self._deleted_configs)
        self._deleted_configs.clear()
        return Removal(untagged, deleted)

    def delete_content(self, digests: list[str]) -> None:
        """Blobs a committed removal left unnamed (``unnamed_content``)."""
        for digest in digests:
            self.content.delete(Digest.parse(digest))

    def _check_unused(self, row: ImageRow, *, force: bool, by_ref: bool) -> None:
        users = self.db.containers_using(row.id)
        if users and not force:
            container = users[0][0][:12]
            raise ConflictError(
                f"conflict: unable to {'remove repository reference' if by_ref else 'delete ' + row.id[7:19]} "
                f"(must be forced) - container {container} is using its referenced image {row.id[7:19]}"
            )

    def _delete(self, row: ImageRow, deleted: list[str], prune: bool) -> list[str]:
        """Delete an image (and, with ``prune``, its untagged parents); return freed cache IDs."""
        freed: list[str] = []
        current: ImageRow | None = row
        while current is not None:
            self.log_event("delete", current.id, current.id)
            layers = self.db.delete_image(current.id)
            self._deleted_configs += self.db.unnamed_content(current.id, layers)
            # Docker lists the image, then each layer it released, top first
            deleted += [current.id, *(layer.chain_id for layer in layers)]
            freed += [layer.cache_id for layer in layers]
            parent = self.db.image(current.parent) if prune and current.parent else None
            if parent is None or self.db.refs(parent.id) or self.db.children(parent.id) or self.db.containers_using(parent.id):
                break
            current = parent
        return freed

    def delete_unused(self, select: Callable[[Image], bool]) -> tuple[list[Removal], int]:
        """Prune: remove images ``select`` picks that no container uses; return removals and bytes freed."""
        removals: list[Removal] = []
        freed_before = {row.chain_id: row.size for row in self.db.layers()}
        for image in self.all():
            if not self.db.image(image.row.id) or self.db.containers_using(image.row.id):
                continue
            if self.db.children(image.row.id) or not select(image):
                continue
            removals.append(self.remove(image.row.id, force=True))
        remaining = {row.chain_id for row in self.db.layers()}
        return removals, sum(size for chain, size in freed_before.items() if chain not in remaining)

    # events --------------------------------------------------------------------

    def log_event(self, action: str, image_id: str, name: str, actor: str | None = None) -> None:
        """Docker's image event: the image's labels plus ``name``; the actor is the image ID unless given
        (pull and push name the reference). Inside a transaction it commits with the change."""
        from dockyard.metadata.events import record  # not at import: ``images`` and ``inspect`` emit nothing

        try:
            labels = self.labels(image_id)
        except (DockyardError, OSError, ValueError):
            labels = {}
        record(self.db, "image", action, actor or image_id, {**labels, "name": name})


def _repo(ref_name: str) -> str:
    ref = parse_docker_ref(ref_name)
    return ref.name

