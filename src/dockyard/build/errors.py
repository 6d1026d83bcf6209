"""The builder's errors: each names the step it happened in."""

from __future__ import annotations

from dockyard.errors import DockyardError


class BuildStepError(DockyardError):
    """A step failed (a RUN exited non-zero, a COPY source is missing): ``step`` is its label,
    ``log`` the last lines it printed; a RUN that exited non-zero gives its ``code`` and ``command``."""

    def __init__(self, message: str, step: str = "", log: list[str] | None = None, code: int = 0,
                 command: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.log = log or []
        self.code = code
        self.command = command
