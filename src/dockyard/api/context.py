"""How the service opens the store: one ``Engine`` per request, as each CLI command opens its own.

An engine's stores hold sqlite connections that must stay in the thread that opened them, and a
request runs in its connection's thread; opening costs a database connection and a lock, no more.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from dockyard.engine import Engine


def engine_factory(root: Path, storage_driver: str | None) -> Callable[[], Engine]:
    """Builds this store's engines; the CLI's ``Engine(root, driver)`` is the reference."""

    def open_engine() -> Engine:
        from dockyard.engine import Engine

        return Engine(root, storage_driver)

    return open_engine
