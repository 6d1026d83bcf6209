"""Docker's json-file log format: one JSON object per line, ``log``/``stream``/``time``."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
TYPE_CHECKING = False  # typing costs milliseconds at start; annotations are strings
if TYPE_CHECKING:
    from typing import Iterator

MAX_LINE = 16 * 1024  # Docker splits longer lines into partial entries


def rfc3339_nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    ns = time.time_ns() if ns is None else ns
    seconds, frac = divmod(ns, 10**9)
    base = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{frac:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


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
