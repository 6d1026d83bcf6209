"""Reading a JSON document (manifest, index, image config) with the bounds every reader applies.

Apart from the manifest types in ``descriptor`` so that reading an image config does not create them.
"""

from __future__ import annotations


from dockyard.errors import InvalidContentError

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# A peer cannot make us parse an unbounded document.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024


def load_json_document(raw: bytes, what: str) -> dict[str, Any]:
    if len(raw) > MAX_MANIFEST_SIZE:
        raise InvalidContentError(f"{what} is larger than {MAX_MANIFEST_SIZE} bytes")
    import json  # listing images reads no document: keep json off that path

    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidContentError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidContentError(f"{what} is not a JSON object")
    return data
