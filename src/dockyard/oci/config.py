"""The image config (OCI image-spec config / Docker's image JSON).

The image ID is the digest of these exact bytes, so ``raw`` is kept and the
parsed view is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dockyard.errors import InvalidContentError
from dockyard.oci.digest import Digest
from dockyard.oci.document import load_json_document
from dockyard.oci.timefmt import format_time, parse_time  # noqa: F401 - also offered here, where they always were

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One entry of the config's ``history``."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"created": self.created}
        if self.author:
            out["author"] = self.author
        if self.created_by:
            out["created_by"] = self.created_by
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """The config blob: its exact bytes and the parsed document."""

    raw: bytes
    data: dict[str, Any]

    @classmethod
    def parse(cls, raw: bytes) -> ImageConfig:
        data = load_json_document(raw, "image config")
        rootfs = data.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids", []), list):
            raise InvalidContentError("image config has no rootfs.diff_ids")
        for value in rootfs.get("diff_ids") or []:
            Digest.parse(str(value))
        return cls(raw, data)

    @property
    def id(self) -> Digest:
        return Digest.of(self.raw)

    @property
    def diff_ids(self) -> list[Digest]:
        return [Digest.parse(v) for v in self.data["rootfs"].get("diff_ids") or []]

    @property
    def history(self) -> list[HistoryEntry]:
        out = []
        for item in self.data.get("history") or []:
            if isinstance(item, dict):
                out.append(
                    HistoryEntry(
                        created=str(item.get("created", "")),
                        created_by=str(item.get("created_by", "")),
                        author=str(item.get("author", "")),
                        comment=str(item.get("comment", "")),
                        empty_layer=bool(item.get("empty_layer", False)),
                    )
                )
        return out

    @property
    def created(self) -> datetime | None:
        return parse_time(str(self.data.get("created", "")))

    @property
    def config(self) -> dict[str, Any]:
        value = self.data.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Labels") or {})

    @property
    def architecture(self) -> str:
        return str(self.data.get("architecture", ""))

    @property
    def os(self) -> str:
        return str(self.data.get("os", ""))
