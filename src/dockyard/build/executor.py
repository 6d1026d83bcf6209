"""The seam through which the builder runs RUN steps; the runtime implements it.

``build`` sits beside ``runtime`` in the module map and never imports it:
``engine`` hands the builder a ``StepRunner``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


@dataclass(frozen=True, slots=True)
class BindMount:
    source: str
    destination: str
    readonly: bool = True


@dataclass(frozen=True, slots=True)
class RunRequest:
    """One process in an already mounted root filesystem (``rootfs``), run to completion."""

    rootfs: str
    argv: tuple[str, ...]
    env: tuple[str, ...]
    cwd: str = "/"
    user: str = ""
    mounts: tuple[BindMount, ...] = ()
    network: str = "default"  # "default" or "host": the host's network; "none": loopback only; else a network's name
    hostname: str = "buildkitsandbox"
    extra_hosts: tuple[str, ...] = ()  # "IP\tNAME" lines for /etc/hosts (--add-host)


class StepRunner(Protocol):
    def run(self, request: RunRequest, output: Callable[[bytes, bool], None]) -> int:
        """Run the process; pass its stdout and stderr in chunks to ``output(chunk, stderr)``; return its exit code.

        Raises DockyardError when the runtime cannot start it. Leaves no
        container state behind, also on error; safe to call from worker threads.
        """
        ...
