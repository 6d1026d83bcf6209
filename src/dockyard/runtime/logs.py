"""Docker's json-file log format: one JSON object per line, ``log``/``stream``/``time``.

With ``--log-opt max-size`` the file rotates as Docker's does: ``<id>-json.log`` moves to ``.1`` (``.1`` to
``.2``...), keeping ``max-file`` files in all; readers go through the rotated files oldest first.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from dockyard.oci.timefmt import rfc3339_nano

TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Iterator

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial entries


def entry(data: bytes, stream: str, ns: int | None = None) -> bytes:
    text = data.decode("utf-8", errors="replace")
    return json.dumps({"log": text, "stream": stream, "time": rfc3339_nano(ns)}, ensure_ascii=False,
                      separators=(",", ":")).encode() + b"\n"


class LineSplitter:
    """Cuts a byte stream into Docker's log entries: at newlines, and every 16 KiB of a long line."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._pending + chunk
        out = []
        while True:
            cut = data.find(b"\n")
            if cut == -1 or cut >= MAX_LINE:
                if len(data) >= MAX_LINE:
                    out.append(data[:MAX_LINE])
                    data = data[MAX_LINE:]
                    continue
                break
            out.append(data[: cut + 1])
            data = data[cut + 1 :]
        self._pending = data
        return out

    def flush(self) -> list[bytes]:
        rest, self._pending = self._pending, b""
        return [rest] if rest else []


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a container's log: its stream, bytes and RFC 3339 time."""

    stream: str
    data: bytes
    time: str


def parse(line: bytes) -> LogEntry | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return LogEntry(obj.get("stream", "stdout"), obj.get("log", "").encode("utf-8", errors="surrogateescape"), obj.get("time", ""))


def read_entries(fd: int) -> Iterator[LogEntry]:
    """Every complete entry from the current position of ``fd`` to its end (a partial last line stays unread)."""
    buffer = b""
    while chunk := os.read(fd, 1 << 16):
        buffer += chunk
    complete, _, partial = buffer.rpartition(b"\n")
    if partial:
        os.lseek(fd, -len(partial), os.SEEK_CUR)
    for line in complete.split(b"\n") if complete else []:
        found = parse(line)
        if found is not None:
            yield found


_SIZE = re.compile(r"(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?")


def parse_size(text: str) -> int:
    """Docker's RAMInBytes (binary units), as json-file reads ``max-size``; ValueError with its message."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"invalid size: '{text}'")
    unit = 1024 ** (" kmgtp".index(match.group(2).lower()) if match.group(2) else 0)
    return int(float(match.group(1)) * unit)


class LogWriter:
    """Appends entries to the json-file log; rotates when a file reaches ``max_size`` (``None``: never)."""

    def __init__(self, path: Path, max_size: int | None = None, max_file: int = 1) -> None:
        self.path, self.max_size, self.max_file = path, max_size, max_file
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    @classmethod
    def for_config(cls, path: Path, log_config: dict[str, object]) -> LogWriter | None:
        """The writer HostConfig's LogConfig asks for (None: the ``none`` driver keeps nothing)."""
        if log_config.get("Type", "json-file") == "none":
            return None
        opts = log_config.get("Config") or {}
        assert isinstance(opts, dict)
        max_size = parse_size(opts["max-size"]) if opts.get("max-size") else None
        return cls(path, max_size, int(opts.get("max-file") or 1))

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, data: bytes) -> None:
        """Entries (whole JSON lines); with a size cap each goes to the file it finds, as Docker rotates per message."""
        for line in [data] if self.max_size is None else data.splitlines(keepends=True):
            if self.max_size is not None and self.size >= self.max_size:
                self._rotate()
            os.write(self.fd, line)
            self.size += len(line)

    def _rotate(self) -> None:
        if self.max_file < 2:  # no file to keep: start the one over
            os.ftruncate(self.fd, 0)
        else:
            for n in range(self.max_file - 1, 1, -1):
                older = rotated(self.path, n - 1)
                if older.exists():
                    os.replace(older, rotated(self.path, n))
            os.replace(self.path, rotated(self.path, 1))
            os.close(self.fd)
            self.fd = self._open()
        self.size = 0

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def rotated(path: Path, n: int) -> Path:
    return path.with_name(f"{path.name}.{n}")


def rotated_entries(path: Path) -> Iterator[LogEntry]:
    """The entries of the rotated files (``.N`` ... ``.1``), oldest first; the live file is read apart."""
    n = 1
    while rotated(path, n).exists():
        n += 1
    for k in range(n - 1, 0, -1):
        try:
            fd = os.open(rotated(path, k), os.O_RDONLY)
        except OSError:
            continue
        try:
            yield from read_entries(fd)
        finally:
            os.close(fd)
