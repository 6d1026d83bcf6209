"""Where image bytes come from: files, stdin, URLs; and making an archive seekable."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from contextlib import contextmanager
from typing import BinaryIO, Callable, Iterator

from dockyard.archive.compression import Compression, open_decompressed, sniff
from dockyard.errors import InvalidArgumentError, NotFoundError

CHUNK = 1 << 20


def open_source(source: str, stdin: BinaryIO) -> tuple[Callable[[], BinaryIO], str]:
    """An opener for ``import``'s source and the name Docker records ("-" or the URL)."""
    if source == "-":
        return (lambda: stdin), "-"
    if source.startswith(("http://", "https://")):
        def fetch() -> BinaryIO:
            try:
                return urllib.request.urlopen(source, timeout=60)  # type: ignore[no-any-return]
            except (urllib.error.URLError, OSError) as exc:
                raise InvalidArgumentError(f"error fetching {source}: {exc}") from exc

        return fetch, source
    if not os.path.exists(source):
        raise NotFoundError(f"open {source}: no such file or directory")
    # docker's CLI streams a local file as the request body: the daemon records "-"
    return (lambda: open(source, "rb")), "-"


@contextmanager
def seekable_archive(path: str | None, stdin: BinaryIO, spool: Callable[[], tuple[int, str]]) -> Iterator[str]:
    """Yield the path of an uncompressed, seekable copy of the archive.

    A plain tar file is used in place; anything else is decompressed into a
    spool file under the store's tmp/ (removed afterwards, swept after a crash).
    """
    if path is not None:
        try:
            f = open(path, "rb")
        except OSError as exc:
            raise NotFoundError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from exc
        with f:
            kind, _ = sniff(f)
        if kind is Compression.NONE:
            yield path
            return
        source: BinaryIO = open(path, "rb")
    else:
        source = stdin
    fd, spooled = spool()
    try:
        with os.fdopen(fd, "wb") as out, source:
            _, stream = open_decompressed(source)
            with stream:  # the codec's reader thread is joined here, never by the garbage collector
                shutil.copyfileobj(stream, out, CHUNK)  # type: ignore[misc]
        yield spooled
    finally:
        os.unlink(spooled)
