"""What more than one command module uses; a leaf: it imports no command module."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, TextIO

from dockyard.cli.units import human_size

if TYPE_CHECKING:
    from dockyard.engine.registry import Event, PullProgress


# registry progress (pull, push, and the pull of run/create) ------------------------------

PROGRESS_STATUSES = frozenset({"Downloading", "Extracting", "Pushing"})


class Printer:
    """Docker's jsonmessage display: one line per ID, redrawn in place on a terminal."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lines: dict[str, int] = {}
        self.count = 0
        self.last: dict[str, str] = {}
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            if not self.tty:
                self._plain(event)
            else:
                self._live(event)
            self.out.flush()

    def _plain(self, event: Event) -> None:
        if event.status in PROGRESS_STATUSES:
            return  # Docker's messages with a progress bar are not printed off a terminal
        if event.id and self.last.get(event.id) == event.status:
            return
        if event.id:
            self.last[event.id] = event.status
        self.out.write(event.line + "\n")

    def _live(self, event: Event) -> None:
        text = event.line + (f" {bar(event.current, event.total)}" if event.total and event.status in PROGRESS_STATUSES else "")
        if not event.id or event.id not in self.lines:
            if event.id:
                self.lines[event.id] = self.count
            self.out.write(text + "\n")
            self.count += 1
            return
        up = self.count - self.lines[event.id]
        self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")


def bar(current: int, total: int, width: int = 50) -> str:
    """``[=====>      ]  12.3MB/45.6MB`` as Docker draws it."""
    filled = min(width, int(current * 100 / total) // 2) if total else 0
    return f"[{'=' * filled}>{' ' * (width - filled)}] {human_size(current):>8}/{human_size(total)}"


def pull_progress(out: TextIO = sys.stdout, quiet: bool = False) -> PullProgress | None:
    """The sink a pull or push shows its progress through (None: show nothing)."""
    return None if quiet else Printer(out, out.isatty())


def missing_image_line(name: str) -> str:
    """``Unable to find image 'busybox:latest' locally``: the name as Docker shows it, with its default tag."""
    from dockyard.engine.registry import parse_reference
    from dockyard.errors import InvalidArgumentError

    try:
        shown = parse_reference(name).with_default_tag().familiar
    except InvalidArgumentError:
        shown = name  # an ID or a bad name: the pull says what is wrong with it
    return f"Unable to find image '{shown}' locally"
