"""Docker's JSON documents of images, one copy for both faces: ``image inspect`` (CLI and
``GET /images/{name}/json``), the Engine API's image list and history entries.

Reads metadata and config blobs only, and imports nothing heavy: ``images`` and ``inspect`` load it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from dockyard.oci.container_config import CONTAINER_CONFIG_KEYS, CONTAINER_CONFIG_OMIT_EMPTY
from dockyard.oci.timefmt import format_time

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.image_reports import ImageDetails
    from dockyard.image.store import Image, ImageSummary

_ZERO: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None,
    "Cmd": None, "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
    "OnBuild": None, "Labels": None,
}  # fmt: skip


def container_config(value: Any) -> Any:
    """Docker re-marshals the config struct: zero values appear, omitempty fields only when set."""
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for key in CONTAINER_CONFIG_KEYS:
        if key in value and (value[key] not in (None, "", False, {}, [], 0) or key not in CONTAINER_CONFIG_OMIT_EMPTY):
            out[key] = value[key]
        elif key not in CONTAINER_CONFIG_OMIT_EMPTY:
            out[key] = _ZERO.get(key)
    return out


def _last_comment(data: dict[str, Any]) -> str:
    """dockerd's inspect falls back to the newest history entry's comment (``commit -m``, ``import -m``)."""
    history = data.get("history") or []
    return str(history[-1].get("comment", "")) if history else ""


def inspect_image(details: ImageDetails) -> dict[str, Any]:
    image = details.image
    row = image.row
    layers_diff = image.config.diff_ids
    data = image.config.data
    tags = [t.familiar for t in sorted(image.tags, key=str)]
    digests = [d.familiar for d in sorted(image.digests, key=str)]
    out: dict[str, Any] = {
        "Id": str(image.id),
        "RepoTags": tags,
        "RepoDigests": digests,
        "Parent": row.parent or "",
        "Comment": data.get("comment") or _last_comment(data),
        "Created": data.get("created", ""),
        "Container": data.get("container", ""),
        "ContainerConfig": container_config(data.get("container_config") or {}),
        "DockerVersion": data.get("docker_version", ""),
        "Author": data.get("author", ""),
        "Config": container_config(data.get("config")),
        "Architecture": data.get("architecture", ""),
    }
    if data.get("variant"):
        out["Variant"] = data["variant"]
    out["Os"] = data.get("os", "")
    if data.get("os.version"):
        out["OsVersion"] = data["os.version"]
    out["Size"] = row.size
    out["VirtualSize"] = row.size
    out["GraphDriver"] = details.graph.to_json()
    out["RootFS"] = {"Type": "layers", "Layers": [str(d) for d in layers_diff]} if layers_diff else {"Type": "layers"}
    out["Metadata"] = {"LastTagTime": format_time(datetime.fromtimestamp(row.added, timezone.utc)) if tags else "0001-01-01T00:00:00Z"}
    return out


def image_summary(summary: ImageSummary, labels: dict[str, str] | None, containers: int = -1) -> dict[str, Any]:
    """One entry of ``GET /images/json`` (moby's ImageSummary); an image without any name lists
    ``<none>:<none>`` and ``<none>@<none>``, and an empty list is null, as dockerd 20.10 answers."""
    created = summary.created
    tags = [t.familiar for t in sorted(summary.tags, key=str)]
    digests = [d.familiar for d in sorted(summary.digests, key=str)]
    if not tags and not digests:
        tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    return {
        "Containers": containers, "Created": int(created.timestamp()) if created else 0, "Id": summary.row.id,
        "Labels": labels or None, "ParentId": summary.row.parent or "",
        "RepoDigests": digests or None, "RepoTags": tags or None,
        "SharedSize": -1, "Size": summary.row.size, "VirtualSize": summary.row.size,
    }  # fmt: skip


def history_entries(image: Image, layer_sizes: list[int]) -> list[dict[str, Any]]:
    """``GET /images/{name}/history``: newest first; the top entry carries the image's ID and tags."""
    from dockyard.oci.timefmt import parse_time

    sizes = iter(layer_sizes)
    entries: list[dict[str, Any]] = []
    for entry in image.config.history:
        moment = parse_time(entry.created)
        entries.append({
            "Comment": entry.comment, "Created": int(moment.timestamp()) if moment else 0,
            "CreatedBy": entry.created_by, "Id": "<missing>",
            "Size": 0 if entry.empty_layer else next(sizes, 0), "Tags": None,
        })  # fmt: skip
    entries.reverse()
    if entries:
        entries[0]["Id"] = str(image.id)
        entries[0]["Tags"] = [t.familiar for t in sorted(image.tags, key=str)] or None
    return entries
