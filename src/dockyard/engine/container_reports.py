"""What ContainerService answers with besides containers: sizes, ``top``, prune, attach and log streams.

A module of its own so that ``ps`` and ``inspect`` (which need none of them) do not build these classes.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from dockyard.runtime.logs import LogEntry


@dataclass(frozen=True, slots=True)
class Sizes:
    """Docker's SizeRw (the writable layer) and SizeRootFs (that plus the image)."""

    rw: int
    root_fs: int


@dataclass(frozen=True, slots=True)
class TopReport:
    titles: list[str]
    rows: list[list[str]]


@dataclass(frozen=True, slots=True)
class PruneReport:
    deleted: tuple[str, ...]
    reclaimed: int


@dataclass(frozen=True, slots=True)
class AttachStream:
    """A stream to a container's monitor, which this start spawned (its exit status is the container's)."""

    sock: socket.socket
    monitor: subprocess.Popen[bytes]


class LogStream:
    """A container's json-file log, read from the start; ``entries`` returns what was written since the last call."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = os.open(path, os.O_RDONLY)
        self._rotated_read = False

    def entries(self) -> Iterator[LogEntry]:
        """The first call starts with the files ``max-size`` rotated away (oldest first)."""
        from itertools import chain

        from dockyard.runtime.logs import read_entries, rotated_entries

        if not self._rotated_read:
            self._rotated_read = True
            return chain(rotated_entries(self._path), read_entries(self._fd))
        try:
            moved = os.stat(self._path).st_ino != os.fstat(self._fd).st_ino
        except OSError:
            moved = False
        if not moved:
            return read_entries(self._fd)
        # rotated while followed: the rest of the old file, then the new one from its start
        rest = list(read_entries(self._fd))
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDONLY)
        return chain(rest, read_entries(self._fd))

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> LogStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
