"""``import``: one tarball becomes a one-layer image, as ``docker import`` makes it."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, BinaryIO, Callable

from dockyard.image.changes import apply_changes
from dockyard.image.layerstore import LayerJob
from dockyard.image.store import ImageStore
from dockyard.oci.descriptor import canonical_json
from dockyard.oci.digest import Digest
from dockyard.oci.platform import host_architecture
from dockyard.oci.reference import Reference
from dockyard.oci.timefmt import format_time

def empty_container_config() -> dict[str, Any]:
    """The container config Docker writes for an image with no settings (Go zero values)."""
    return {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
        "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
        "OnBuild": None, "Labels": None,
    }  # fmt: skip


def import_config(diff_id: Digest, changes: list[str], comment: str, created: datetime) -> bytes:
    config = empty_container_config()
    apply_changes(config, changes)
    when = format_time(created)
    document = {
        "architecture": host_architecture(),
        "comment": comment,
        "config": config,
        "container_config": empty_container_config(),
        "created": when,
        "history": [{"created": when, "comment": comment}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]},
    }
    return canonical_json(document)


def import_image(
    store: ImageStore,
    opener: Callable[[], BinaryIO],
    source_name: str,
    tag: Reference | None,
    changes: list[str],
    message: str,
) -> Digest:
    """Store the tarball ``opener`` returns (any compression) as a new image; return its ID."""
    # validate the changes before the (long) extraction
    apply_changes(empty_container_config(), changes)
    staged = store.layers.stage(None, [LayerJob(opener)])
    try:
        diff_id = staged.layers[0].diff_id
        comment = message or f"Imported from {source_name}"
        config = import_config(diff_id, changes, comment, datetime.now(timezone.utc))
    except BaseException:
        store.layers.discard(staged)
        raise
    image_id, _ = store.add(config, staged, tags=[tag] if tag else [])
    if tag:
        store.log_event("tag", str(image_id), tag.familiar)
    store.log_event("import", str(image_id), str(image_id))
    return image_id
