"""ADD <url> and remote build contexts: one bounded HTTP(S) download to a file."""

from __future__ import annotations

import email.utils
import hashlib
import os
import posixpath
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from dockyard.errors import InvalidArgumentError

MAX_DOWNLOAD = 8 << 30


def download(url: str, tmp: Path) -> tuple[str, Path, float, str]:
    """The file (bounded) under ``tmp``, its name, its Last-Modified time and its sha256."""
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "index.html"
    fd, spool = tempfile.mkstemp(dir=tmp, prefix="add-")
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, os.fdopen(fd, "wb") as out:
            total = 0
            while chunk := response.read(1 << 20):
                total += len(chunk)
                if total > MAX_DOWNLOAD:
                    raise InvalidArgumentError(f"{url}: larger than {MAX_DOWNLOAD} bytes")
                h.update(chunk)
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except OSError as exc:
        Path(spool).unlink(missing_ok=True)
        raise InvalidArgumentError(f"failed to load {url}: {exc}") from None
    mtime = email.utils.parsedate_to_datetime(modified).timestamp() if modified else 0.0
    return name, Path(spool), mtime, h.hexdigest()
