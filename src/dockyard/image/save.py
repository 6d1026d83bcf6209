"""``save``: images to a docker-archive that is also an OCI image layout.

The archive carries what Docker 25+ writes: ``blobs/sha256/`` (configs,
layer tars, OCI manifests), ``manifest.json`` and ``repositories`` for every
docker-archive reader, ``index.json`` and ``oci-layout`` for OCI readers.
Layer tars are rebuilt from the layer store and re-hashed on the way out: a
damaged layer fails the save instead of producing a wrong archive.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO

from dockyard.errors import DigestMismatchError, ImageNotFoundError, InvalidArgumentError
from dockyard.image.store import Image, ImageStore
from dockyard.oci.descriptor import canonical_json
from dockyard.oci.digest import Digest, Digester, chain_ids
from dockyard.oci.mediatype import MediaType
from dockyard.oci.reference import Reference, is_image_id, parse_docker_ref

_BLOCK = 512


@dataclass(slots=True)
class _Selection:
    image: Image
    tags: list[Reference] = field(default_factory=list)


def select_images(store: ImageStore, names: list[str]) -> list[_Selection]:
    """Docker's rules: a tag saves that tag, a bare repository all its tags, an ID no tag."""
    chosen: dict[str, _Selection] = {}
    for name in names:
        repo_tags: list[Reference] = []
        if not is_image_id(name) and "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
            repo = parse_docker_ref(name).name_only()
            repo_tags = [r for r in _all_tags(store) if r.name == repo.name]
        if repo_tags:
            for ref in repo_tags:
                _choose(chosen, store.get(str(ref)), ref)
            continue
        row, ref = store.lookup(name)
        image = store.get(row.id)
        _choose(chosen, image, ref.with_default_tag() if ref is not None and ref.digest is None else None)
    return list(chosen.values())


def _all_tags(store: ImageStore) -> list[Reference]:
    return [parse_docker_ref(r.name) for r in store.db.refs() if r.kind == "tag"]


def _choose(chosen: dict[str, _Selection], image: Image, ref: Reference | None) -> None:
    selection = chosen.setdefault(image.row.id, _Selection(image))
    if ref is not None and ref not in selection.tags:
        selection.tags.append(ref)


class _TarWriter:
    """Writes a deterministic tar: fixed owner, given mtimes, entries in call order."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def _header(self, name: str, size: int, mtime: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.type, info.mode = size, mtime, kind, mode
        self.out.write(info.tobuf(tarfile.PAX_FORMAT))

    def directory(self, name: str, mtime: int) -> None:
        self._header(name, 0, mtime, tarfile.DIRTYPE, 0o755)

    def file(self, name: str, data: bytes, mtime: int) -> None:
        self._header(name, len(data), mtime)
        self.out.write(data)
        self._pad(len(data))

    def stream(self, name: str, size: int, mtime: int) -> None:
        self._header(name, size, mtime)

    def _pad(self, size: int) -> None:
        self.out.write(b"\0" * (-size % _BLOCK))

    def close(self) -> None:
        self.out.write(b"\0" * (2 * _BLOCK))


def save_images(store: ImageStore, names: list[str], out: BinaryIO) -> None:
    selections = select_images(store, names)
    if not selections:
        raise ImageNotFoundError(" ".join(names))
    tar = _TarWriter(out)
    tar.directory("blobs/", 0)
    tar.directory("blobs/sha256/", 0)
    written: set[Digest] = set()
    manifest_items: list[dict[str, object]] = []
    index_entries: list[dict[str, object]] = []
    repositories: dict[str, dict[str, str]] = {}
    for selection in selections:
        image = selection.image
        if not image.config.diff_ids:
            raise InvalidArgumentError("empty export - not implemented")
        created = int(image.config.created.timestamp()) if image.config.created else 0
        layer_paths = [_write_layer(store, tar, chain, written, created) for chain in chain_ids(image.config.diff_ids)]
        _write_blob(tar, image.config.raw, written, created)
        manifest = _oci_manifest(image, store)
        manifest_digest = _write_blob(tar, manifest, written, 0)
        tags = [t.familiar for t in selection.tags]
        manifest_items.append({"Config": f"blobs/sha256/{image.id.hex}", "RepoTags": tags or None, "Layers": layer_paths})
        for ref in selection.tags:
            repositories.setdefault(ref.familiar_name, {})[ref.tag or "latest"] = image.config.diff_ids[-1].hex
            index_entries.append(
                {
                    "mediaType": MediaType.OCI_MANIFEST.value,
                    "digest": str(manifest_digest),
                    "size": len(manifest),
                    "annotations": {"io.containerd.image.name": str(ref), "org.opencontainers.image.ref.name": ref.tag},
                }
            )
        if not selection.tags:
            index_entries.append({"mediaType": MediaType.OCI_MANIFEST.value, "digest": str(manifest_digest), "size": len(manifest)})
    index = {"schemaVersion": 2, "mediaType": MediaType.OCI_INDEX.value, "manifests": index_entries}
    tar.file("index.json", canonical_json(index), 0)
    tar.file("manifest.json", canonical_json(manifest_items) + b"\n", 0)
    tar.file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}', 0)
    if repositories:
        tar.file("repositories", canonical_json(repositories) + b"\n", 0)
    tar.close()
    for selection in selections:
        store.log_event("save", str(selection.image.id), str(selection.image.id))


def _oci_manifest(image: Image, store: ImageStore) -> bytes:
    layers = store.layers_of(image.row)
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MediaType.OCI_MANIFEST.value,
            "config": {"mediaType": MediaType.OCI_CONFIG.value, "digest": str(image.id), "size": len(image.config.raw)},
            "layers": [
                {"mediaType": MediaType.OCI_LAYER.value, "digest": str(layer.diff_id), "size": layer.tar_size}
                for layer in layers
            ],
        }
    )


def _write_blob(tar: _TarWriter, data: bytes, written: set[Digest], mtime: int) -> Digest:
    digest = Digest.of(data)
    if digest not in written:
        tar.file(f"blobs/sha256/{digest.hex}", data, mtime)
        written.add(digest)
    return digest


def _write_layer(store: ImageStore, tar: _TarWriter, chain: Digest, written: set[Digest], mtime: int) -> str:
    layer = store.layers.get(chain)
    if layer is None:
        raise ImageNotFoundError(f"layer {chain}")
    path = f"blobs/sha256/{layer.diff_id.hex}"
    if layer.diff_id in written:
        return path
    tar.stream(path, layer.tar_size, mtime)
    digester = Digester()

    def write(data: bytes) -> None:
        digester.update(data)
        tar.out.write(data)

    size = store.layers.export(chain, write)
    if size != layer.tar_size or digester.digest() != layer.diff_id:
        raise DigestMismatchError(layer.diff_id, digester.digest())
    tar._pad(size)
    written.add(layer.diff_id)
    return path
