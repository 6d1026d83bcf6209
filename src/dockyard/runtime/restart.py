"""Restart policies (``--restart``) and Docker's back-off between restarts.

The monitor asks ``should_restart`` after each exit of the container's process;
``stop``, ``kill`` and ``rm`` mark the container stopped by hand first, which
ends every policy (there is no daemon restart here, so ``always`` and
``unless-stopped`` behave alike).
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import InvalidArgumentError

POLICIES = ("no", "always", "unless-stopped", "on-failure")
INITIAL_DELAY = 0.1  # seconds; doubles per restart, as Docker's restartmanager
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # a process that ran this long starts the back-off over


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def parse(cls, value: str) -> RestartPolicy:
        """``no | always | unless-stopped | on-failure[:N]`` with Docker's messages."""
        name, sep, count = value.partition(":")
        if name not in POLICIES and name != "":
            raise InvalidArgumentError(f"invalid restart policy '{name}'")
        retries = 0
        if sep:
            try:
                retries = int(count)
            except ValueError:
                raise InvalidArgumentError("maximum retry count must be an integer") from None
            if name != "on-failure":
                raise InvalidArgumentError(f"maximum retry count cannot be used with restart policy '{name}'")
            if retries < 0:
                raise InvalidArgumentError("maximum retry count cannot be negative")
        return cls(name or "no", retries)

    def as_json(self) -> dict[str, object]:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}

    @property
    def restarts(self) -> bool:
        return self.name != "no"

    def should_restart(self, exit_code: int, restart_count: int, stopped_by_hand: bool) -> bool:
        if stopped_by_hand or self.name == "no":
            return False
        if self.name == "on-failure":
            return exit_code != 0 and (self.maximum_retry_count == 0 or restart_count < self.maximum_retry_count)
        return True


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next start: doubling from 100 ms to a minute, reset after a long enough run."""
    if ran_for >= RESET_AFTER or previous <= 0:
        return INITIAL_DELAY
    return min(previous * 2, MAX_DELAY)
