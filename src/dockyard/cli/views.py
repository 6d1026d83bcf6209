"""What the image commands print, as row dictionaries for templates and tables."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from dockyard.cli.units import human_duration, human_size, human_size_with_precision
from dockyard.oci.container_config import CONTAINER_CONFIG_KEYS, CONTAINER_CONFIG_OMIT_EMPTY
from dockyard.oci.timefmt import format_time, parse_time

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

IMAGE_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS",
}  # fmt: skip

HISTORY_HEADERS = {
    "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
    "Size": "SIZE", "Comment": "COMMENT",
}  # fmt: skip


def created_since(moment: datetime | None, now: float | None = None) -> str:
    if moment is None:
        return "N/A"
    return human_duration((now or time.time()) - moment.timestamp()) + " ago"


def created_at(moment: datetime | None) -> str:
    """Go's time.Time.String() of the Unix second, in UTC."""
    if moment is None:
        return "N/A"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def _rfc3339(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def short_id(image_id: str, no_trunc: bool) -> str:
    return image_id if no_trunc else image_id[7:19]


def image_rows(images: list[ImageSummary], *, show_all: bool, no_trunc: bool, has_children: set[str]) -> list[dict[str, Any]]:
    """One row per (repository, tag) as ``docker images`` lists them, newest first."""
    rows: list[tuple[float, dict[str, Any]]] = []
    for image in images:
        created = image.created
        base = {
            "Containers": "N/A",
            "CreatedAt": created_at(created),
            "CreatedSince": created_since(created),
            "ID": short_id(image.row.id, no_trunc),
            "SharedSize": "N/A",
            "Size": human_size_with_precision(image.row.size, 3),
            "UniqueSize": "N/A",
            "VirtualSize": human_size(image.row.size),
        }
        digests = {r.name: str(r.digest) for r in image.digests}
        entries: list[tuple[str, str, str]] = []
        for tag in sorted(image.tags, key=str):
            entries.append((tag.familiar_name, tag.tag or "<none>", digests.get(tag.name, "<none>")))
        tagged_repos = {t.name for t in image.tags}
        for ref in image.digests:
            if ref.name not in tagged_repos:
                entries.append((ref.familiar_name, "<none>", str(ref.digest)))
        if not entries:
            if image.row.id in has_children and not show_all:
                continue  # an intermediate image: only -a shows it
            entries.append(("<none>", "<none>", "<none>"))
        stamp = created.timestamp() if created else 0.0
        for repo, tag, digest in entries:
            rows.append((stamp, {**base, "Repository": repo, "Tag": tag, "Digest": digest}))
    rows.sort(key=lambda item: -item[0])
    return [row for _, row in rows]


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


def history_rows(image: Image, layer_sizes: list[int], *, human: bool, no_trunc: bool) -> list[dict[str, Any]]:
    """Newest first; the top entry is the image itself, the others ``<missing>``."""
    entries = image.config.history
    sizes = iter(layer_sizes)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        size = 0 if entry.empty_layer else next(sizes, 0)
        moment = parse_time(entry.created)
        created_by = entry.created_by.replace("\t", " ")
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append(
            {
                "ID": "<missing>",
                "CreatedSince": created_since(moment) if human else _rfc3339(moment),
                "CreatedAt": _rfc3339(moment),  # Docker: time.Unix(created).Format(time.RFC3339)
                "CreatedBy": created_by,
                "Size": human_size_with_precision(size, 3) if human else str(size),
                "Comment": entry.comment,
            }
        )
    if not rows:
        rows.append({"ID": "<missing>", "CreatedSince": "", "CreatedAt": "", "CreatedBy": "", "Size": "0B", "Comment": ""})
    rows.reverse()
    rows[0]["ID"] = short_id(str(image.id), no_trunc)
    return rows
