"""Progress of pulls and pushes as data: Docker's JSON-message statuses, printed by the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True, slots=True)
class Event:
    """``id: status`` (``id`` empty for a plain line); ``total`` > 0 for a progress bar."""

    id: str
    status: str
    current: int = 0
    total: int = 0

    @property
    def line(self) -> str:
        return f"{self.id}: {self.status}" if self.id else self.status


Sink = Callable[[Event], None]  # called from several threads; implementations lock
PullProgress = Sink  # the name the engine's services use for a pull's or push's sink


def discard(_event: Event) -> None:
    pass
