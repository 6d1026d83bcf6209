"""What a build reports while it runs: one vertex per step, as BuildKit shows them."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called from the builder's thread, except ``log`` which RUN workers call: implementations lock."""

    def step(self, number: int, total: int, text: str, cached: bool | None = None) -> None:
        """Each instruction as the classic builder numbers them (all of the file's, FROM included). ``cached``,
        for one that only changes the config: whether the cache held it; None for the others, which are
        vertices too."""

    def start(self, vertex: int, name: str) -> None: ...

    def log(self, vertex: int, data: bytes, stderr: bool = False) -> None: ...

    def cached(self, vertex: int) -> None: ...

    def done(self, vertex: int, seconds: float) -> None: ...

    def error(self, vertex: int, message: str) -> None: ...


class Silent:
    def step(self, number: int, total: int, text: str, cached: bool | None = None) -> None:
        pass

    def start(self, vertex: int, name: str) -> None:
        pass

    def log(self, vertex: int, data: bytes, stderr: bool = False) -> None:
        pass

    def cached(self, vertex: int) -> None:
        pass

    def done(self, vertex: int, seconds: float) -> None:
        pass

    def error(self, vertex: int, message: str) -> None:
        pass
